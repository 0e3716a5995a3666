using Dapper;
using Pix2Pix.Domain.Inference;
using Pix2Pix.Domain.Service;

namespace Pix2Pix.Infrastructure.Persistence;

/// <summary>A batch translation: a .zip of images translated by one model version, the result a .zip of PNGs.</summary>
public sealed record BatchJob(Guid Id, Guid ModelId, int Version, FitMode Mode, JobStatus Status, int Total, int Done, bool CancelRequested,
    string? Error, string InputBlobKey, string? ResultBlobKey, string? CreatedBy, DateTimeOffset CreatedAt, DateTimeOffset? StartedAt,
    DateTimeOffset? FinishedAt)
{
    public bool IsFinished => Status is JobStatus.Succeeded or JobStatus.Failed or JobStatus.Cancelled;
}

public sealed class BatchStore(Database database)
{
    public async Task<BatchJob> CreateAsync(Guid id, Guid modelId, int version, FitMode mode, int total, string inputBlobKey, string? createdBy,
        CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await connection.ExecuteAsync("""
            INSERT INTO batch_jobs (id, model_id, version, mode, status, total, input_blob_key, created_by, created_at)
            VALUES (@id, @modelId, @version, @mode, 'Queued', @total, @inputBlobKey, @createdBy, @now)
            """, new { id = id.ToString(), modelId = modelId.ToString(), version, mode = mode.ToString(), total, inputBlobKey, createdBy, now = database.Now() });
        return await GetAsync(id, cancellationToken);
    }

    public async Task<BatchJob?> FindAsync(Guid id, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return (await connection.QuerySingleOrDefaultAsync<BatchRow>("SELECT * FROM batch_jobs WHERE id = @id", new { id = id.ToString() }))?.ToDomain();
    }

    public async Task<BatchJob> GetAsync(Guid id, CancellationToken cancellationToken = default) =>
        await FindAsync(id, cancellationToken) ?? throw new NotFoundException($"Batch {id} does not exist.");

    public async Task<IReadOnlyList<BatchJob>> UnfinishedAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return (await connection.QueryAsync<BatchRow>("SELECT * FROM batch_jobs WHERE status IN ('Queued', 'Running') ORDER BY created_at"))
            .Select(r => r.ToDomain()).ToList();
    }

    /// <summary>Batches that ended more than <paramref name="retention"/> ago.</summary>
    public async Task<IReadOnlyList<BatchJob>> ExpiredAsync(TimeSpan retention, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return (await connection.QueryAsync<BatchRow>(
                "SELECT * FROM batch_jobs WHERE status IN ('Succeeded', 'Failed', 'Cancelled') AND finished_at < @cutoff",
                new { cutoff = database.Now() - (long)retention.TotalMilliseconds }))
            .Select(r => r.ToDomain()).ToList();
    }

    /// <summary>Marks a queued (or, after a restart, running) batch running from its first image; false when it has ended.</summary>
    public async Task<bool> StartAsync(Guid id, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.ExecuteAsync(
            "UPDATE batch_jobs SET status = 'Running', done = 0, started_at = @now WHERE id = @id AND status IN ('Queued', 'Running') AND cancel_requested = 0",
            new { id = id.ToString(), now = database.Now() }) == 1;
    }

    /// <summary>Stores how many images are done; returns whether cancellation was asked for.</summary>
    public async Task<bool> ReportProgressAsync(Guid id, int done, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<long?>("UPDATE batch_jobs SET done = @done WHERE id = @id RETURNING cancel_requested",
            new { id = id.ToString(), done }) == 1;
    }

    public async Task FinishAsync(Guid id, JobStatus status, string? error, string? resultBlobKey, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await connection.ExecuteAsync(
            "UPDATE batch_jobs SET status = @status, error = @error, result_blob_key = @resultBlobKey, finished_at = @now WHERE id = @id",
            new { id = id.ToString(), status = status.ToString(), error, resultBlobKey, now = database.Now() });
    }

    /// <summary>A queued batch is cancelled at once; a running one stops at its next image.</summary>
    public async Task<BatchJob> RequestCancelAsync(Guid id, CancellationToken cancellationToken = default)
    {
        var batch = await GetAsync(id, cancellationToken);
        if (batch.IsFinished) throw new ConflictException($"Batch {id} is already {batch.Status}.");
        await using var connection = await database.OpenAsync(cancellationToken);
        long now = database.Now();
        await connection.ExecuteAsync("UPDATE batch_jobs SET cancel_requested = 1 WHERE id = @id", new { id = id.ToString() });
        await connection.ExecuteAsync("UPDATE batch_jobs SET status = 'Cancelled', finished_at = @now WHERE id = @id AND status = 'Queued'", new { id = id.ToString(), now });
        return await GetAsync(id, cancellationToken);
    }

    /// <summary>Deletes a finished batch's row; its blobs (input and result) are the caller's to delete.</summary>
    public async Task<BatchJob> DeleteAsync(Guid id, CancellationToken cancellationToken = default)
    {
        var batch = await GetAsync(id, cancellationToken);
        await using var connection = await database.OpenAsync(cancellationToken);
        var deleted = await connection.ExecuteAsync("DELETE FROM batch_jobs WHERE id = @id AND status NOT IN ('Queued', 'Running')", new { id = id.ToString() });
        return deleted == 1 ? batch : throw new ConflictException($"Batch {id} is {batch.Status}; cancel it first.");
    }

    private sealed class BatchRow
    {
        public string Id { get; set; } = "";
        public string ModelId { get; set; } = "";
        public long Version { get; set; }
        public string Mode { get; set; } = "";
        public string Status { get; set; } = "";
        public long Total { get; set; }
        public long Done { get; set; }
        public long CancelRequested { get; set; }
        public string? Error { get; set; }
        public string InputBlobKey { get; set; } = "";
        public string? ResultBlobKey { get; set; }
        public string? CreatedBy { get; set; }
        public long CreatedAt { get; set; }
        public long? StartedAt { get; set; }
        public long? FinishedAt { get; set; }

        public BatchJob ToDomain() => new(Guid.Parse(Id), Guid.Parse(ModelId), (int)Version, Enum.Parse<FitMode>(Mode), Enum.Parse<JobStatus>(Status), (int)Total,
            (int)Done, CancelRequested != 0, Error, InputBlobKey, ResultBlobKey, CreatedBy, Clock.From(CreatedAt), Clock.From(StartedAt), Clock.From(FinishedAt));
    }
}
