using Dapper;

namespace Pix2Pix.Infrastructure.Persistence;

/// <summary>A checkpoint a Cancelled or Failed job left behind.</summary>
public sealed record ExpiredCheckpoint(Guid JobId, string Key);

/// <summary>What the storage sweep asks of the database: which blobs rows refer to, and which checkpoints expired.</summary>
public sealed class MaintenanceStore(Database database)
{
    /// <summary>
    /// Claims the periodic task <paramref name="name"/> for this run unless another process ran it within
    /// <paramref name="interval"/>; several processes sweeping at once would only repeat each other's work.
    /// </summary>
    public async Task<bool> TryClaimRunAsync(string name, TimeSpan interval, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        long now = database.Now(), threshold = now - (long)interval.TotalMilliseconds;
        await connection.ExecuteAsync("INSERT INTO maintenance_runs (name, last_run_at) VALUES (@name, 0) ON CONFLICT (name) DO NOTHING", new { name });
        return await connection.ExecuteAsync("UPDATE maintenance_runs SET last_run_at = @now WHERE name = @name AND last_run_at <= @threshold",
            new { name, now, threshold }) == 1;
    }

    /// <summary>Every blob key a row refers to: dataset archives and previews, job checkpoints, snapshot images, version packages, batches.</summary>
    public async Task<IReadOnlySet<string>> ReferencedBlobKeysAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var keys = await connection.QueryAsync<string>("""
            SELECT blob_key FROM datasets
            UNION SELECT checkpoint_key FROM jobs WHERE checkpoint_key IS NOT NULL
            UNION SELECT image_blob_key FROM job_snapshots WHERE image_blob_key IS NOT NULL
            UNION SELECT package_blob_key FROM model_versions
            UNION SELECT input_blob_key FROM batch_jobs
            UNION SELECT result_blob_key FROM batch_jobs WHERE result_blob_key IS NOT NULL
            """);
        var referenced = keys.ToHashSet(StringComparer.Ordinal);
        foreach (var dataset in await connection.QueryAsync<(string Id, long Previews)>("SELECT id, previews FROM datasets WHERE previews > 0"))
            for (int i = 0; i < dataset.Previews; i++) referenced.Add(Domain.Service.BlobKeys.DatasetPreview(Guid.Parse(dataset.Id), i));
        return referenced;
    }

    /// <summary>Checkpoints of jobs that ended Cancelled or Failed more than <paramref name="retention"/> ago.</summary>
    public async Task<IReadOnlyList<ExpiredCheckpoint>> ExpiredCheckpointsAsync(TimeSpan retention, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var rows = await connection.QueryAsync<(string Id, string Key)>("""
            SELECT id, checkpoint_key FROM jobs
            WHERE status IN ('Cancelled', 'Failed') AND checkpoint_key IS NOT NULL AND finished_at < @cutoff
            """, new { cutoff = database.Now() - (long)retention.TotalMilliseconds });
        return rows.Select(r => new ExpiredCheckpoint(Guid.Parse(r.Id), r.Key)).ToList();
    }

    /// <summary>Lets go of an expired checkpoint; false when the job changed meanwhile (then the blob stays referenced).</summary>
    public async Task<bool> ForgetCheckpointAsync(ExpiredCheckpoint checkpoint, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.ExecuteAsync("""
            UPDATE jobs SET checkpoint_key = NULL
            WHERE id = @id AND checkpoint_key = @key AND status IN ('Cancelled', 'Failed')
            """, new { id = checkpoint.JobId.ToString(), key = checkpoint.Key }) == 1;
    }
}
