using System.Data.Common;
using Dapper;
using Pix2Pix.Domain.Service;

namespace Pix2Pix.Infrastructure.Persistence;

/// <summary>
/// The right to train a job, held by one worker at a time. The token grows with every acquisition; every write a
/// worker makes for the job (progress, checkpoint, snapshot, version, status) checks it in the same transaction, so a
/// worker that lost its lease (paused, partitioned, or delivered the job twice) changes nothing.
/// </summary>
public sealed record JobLease(Guid JobId, long Token, string Owner, int Attempt, int Failures, long ResumedAtIteration, string? CheckpointKey);

/// <summary>The holder of <see cref="Lease"/> no longer holds it: it must stop and write nothing.</summary>
public sealed class LeaseLostException(JobLease lease)
    : Exception($"The lease {lease.Token} on job {lease.JobId} held by {lease.Owner} was lost.")
{
    public JobLease Lease { get; } = lease;
}

public sealed class JobLeaseStore(Database database)
{
    /// <summary>Takes the job if it is queued or running with an expired lease (its worker died); null otherwise.</summary>
    public async Task<JobLease?> TryAcquireAsync(Guid jobId, string owner, TimeSpan duration, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        long now = database.Now();
        var id = jobId.ToString();
        // A lease that expired while held means its worker died mid-job: that counts as a failed attempt.
        int taken = await connection.ExecuteAsync("""
            UPDATE jobs SET
                failures = failures + CASE WHEN lease_owner IS NOT NULL THEN 1 ELSE 0 END,
                lease_owner = @owner, lease_token = lease_token + 1, lease_expires_at = @expires,
                status = 'Running', attempts = attempts + 1, started_at = COALESCE(started_at, @now), updated_at = @now
            WHERE id = @id AND status IN ('Queued', 'Running') AND cancel_requested = 0
              AND (lease_owner IS NULL OR lease_expires_at < @now)
            """, new { id, owner, now, expires = now + (long)duration.TotalMilliseconds }, transaction);
        if (taken == 0) return null;
        var row = await connection.QuerySingleAsync<(long Token, long Attempts, long Failures, long Iteration, string? CheckpointKey)>(
            "SELECT lease_token, attempts, failures, iteration, checkpoint_key FROM jobs WHERE id = @id", new { id }, transaction);
        await connection.ExecuteAsync("""
            INSERT INTO job_leases (job_id, token, owner, acquired_at, resumed_at_iteration) VALUES (@id, @token, @owner, @now, @iteration)
            """, new { id, token = row.Token, owner, now, iteration = row.Iteration }, transaction);
        await transaction.CommitAsync(cancellationToken);
        return new JobLease(jobId, row.Token, owner, (int)row.Attempts, (int)row.Failures, row.Iteration, row.CheckpointKey);
    }

    /// <returns>False when the lease was lost.</returns>
    public async Task<bool> RenewAsync(JobLease lease, TimeSpan duration, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.ExecuteAsync(
            "UPDATE jobs SET lease_expires_at = @expires WHERE id = @id AND lease_token = @Token AND lease_owner = @Owner",
            new { id = lease.JobId.ToString(), lease.Token, lease.Owner, expires = database.Now() + (long)duration.TotalMilliseconds }) == 1;
    }

    /// <summary>
    /// Gives the job back: with a final status (Succeeded, Failed, Cancelled), or back to Queued for another worker
    /// (shutdown, or a failure worth retrying, counted when <paramref name="failed"/>).
    /// </summary>
    public async Task ReleaseAsync(JobLease lease, JobStatus? finalStatus, string outcome, long lastIteration, string? error = null, bool failed = false,
        CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        long now = database.Now();
        var args = new
        {
            id = lease.JobId.ToString(), lease.Token, lease.Owner, now, error, failures = failed ? 1 : 0,
            status = (finalStatus ?? JobStatus.Queued).ToString(), finished = finalStatus is null ? (long?)null : now, outcome, lastIteration,
        };
        int released = await connection.ExecuteAsync("""
            UPDATE jobs SET lease_owner = NULL, lease_expires_at = 0, status = @status, finished_at = @finished,
                error = COALESCE(@error, error), failures = failures + @failures, updated_at = @now
            WHERE id = @id AND lease_token = @Token AND lease_owner = @Owner
            """, args, transaction);
        if (released == 0) throw new LeaseLostException(lease);
        await connection.ExecuteAsync(
            "UPDATE job_leases SET released_at = @now, outcome = @outcome, last_iteration = @lastIteration WHERE job_id = @id AND token = @Token",
            args, transaction);
        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>Ends a job whose cancellation was asked for, unless a live worker holds it (that worker ends it).</summary>
    public async Task CancelIfUnleasedAsync(Guid jobId, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        long now = database.Now();
        await connection.ExecuteAsync("""
            UPDATE jobs SET status = 'Cancelled', finished_at = @now, updated_at = @now, lease_owner = NULL, lease_expires_at = 0
            WHERE id = @id AND status IN ('Queued', 'Running') AND cancel_requested = 1 AND (lease_owner IS NULL OR lease_expires_at < @now)
            """, new { id = jobId.ToString(), now });
    }

    /// <summary>
    /// Embedded mode, at start: this process was the only worker, so leases held before it stopped died with it.
    /// Those jobs go back to Queued (a failed attempt each).
    /// </summary>
    public async Task<int> ResetAfterRestartAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.ExecuteAsync("""
            UPDATE jobs SET status = 'Queued', failures = failures + CASE WHEN lease_owner IS NOT NULL THEN 1 ELSE 0 END,
                lease_owner = NULL, lease_expires_at = 0, updated_at = @now
            WHERE status IN ('Queued', 'Running')
            """, new { now = database.Now() });
    }

    /// <summary>Jobs whose worker stopped renewing its lease, not re-queued in the last <paramref name="quietPeriod"/>.</summary>
    public async Task<IReadOnlyList<Guid>> ClaimExpiredAsync(TimeSpan quietPeriod, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        long now = database.Now(), threshold = now - (long)quietPeriod.TotalMilliseconds;
        var candidates = await connection.QueryAsync<string>("""
            SELECT id FROM jobs WHERE status IN ('Queued', 'Running') AND lease_owner IS NOT NULL AND lease_expires_at < @now
              AND (requeued_at IS NULL OR requeued_at < @threshold)
            """, new { now, threshold });
        var claimed = new List<Guid>();
        foreach (var id in candidates)
        {
            // Several watchdogs may look at once; the conditional update lets one of them re-queue.
            if (await connection.ExecuteAsync("UPDATE jobs SET requeued_at = @now WHERE id = @id AND (requeued_at IS NULL OR requeued_at < @threshold)",
                    new { id, now, threshold }) == 1)
                claimed.Add(Guid.Parse(id));
        }
        return claimed;
    }

    public async Task<IReadOnlyList<LeaseRecord>> HistoryAsync(Guid jobId, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var rows = await connection.QueryAsync<LeaseRecord>(
            "SELECT token, owner, acquired_at, resumed_at_iteration, released_at, last_iteration, outcome FROM job_leases WHERE job_id = @id ORDER BY token",
            new { id = jobId.ToString() });
        return rows.ToList();
    }

    /// <summary>Fails with <see cref="LeaseLostException"/> unless <paramref name="lease"/> is still the job's current one.</summary>
    internal static async Task FenceAsync(DbConnection connection, DbTransaction transaction, JobLease lease, long now)
    {
        int current = await connection.ExecuteAsync("UPDATE jobs SET updated_at = @now WHERE id = @id AND lease_token = @Token AND lease_owner = @Owner",
            new { id = lease.JobId.ToString(), lease.Token, lease.Owner, now }, transaction);
        if (current == 0) throw new LeaseLostException(lease);
    }
}

public sealed class LeaseRecord
{
    public long Token { get; set; }
    public string Owner { get; set; } = "";
    public long AcquiredAt { get; set; }
    public long ResumedAtIteration { get; set; }
    public long? ReleasedAt { get; set; }
    public long? LastIteration { get; set; }
    public string? Outcome { get; set; }
}
