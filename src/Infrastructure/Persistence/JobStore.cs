using Dapper;
using Pix2Pix.Domain.Service;
using Pix2Pix.Domain.Training;

namespace Pix2Pix.Infrastructure.Persistence;

public sealed class JobStore(Database database)
{
    /// <summary>
    /// Writes a Queued job that no queue holds yet: the caller enqueues it and calls <see cref="MarkEnqueuedAsync"/>; if
    /// it never gets there (a crash in between), <see cref="ClaimStrandedAsync"/> finds the job.
    /// </summary>
    public async Task<TrainingJob> CreateAsync(Guid modelId, Guid datasetId, TrainingRecipe recipe, string? createdBy = null, bool promote = false,
        CancellationToken cancellationToken = default)
    {
        var id = Guid.NewGuid();
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        // The dataset must still exist when the job row is written; the share lock (PostgreSQL) keeps a concurrent
        // DELETE of the dataset waiting until this job is committed, and it then sees the job (409).
        var lockRow = database.IsPostgreSql ? " FOR SHARE" : "";
        var exists = await connection.QuerySingleOrDefaultAsync<string>($"SELECT id FROM datasets WHERE id = @id{lockRow}", new { id = datasetId.ToString() }, transaction);
        if (exists is null) throw new NotFoundException($"Dataset {datasetId} does not exist.");
        long now = database.Now();
        await connection.ExecuteAsync("""
            INSERT INTO jobs (id, model_id, dataset_id, options, status, total_epochs, created_at, updated_at, created_by, promote)
            VALUES (@id, @modelId, @datasetId, @options, 'Queued', @totalEpochs, @now, @now, @createdBy, @promote)
            """, new
            {
                id = id.ToString(), modelId = modelId.ToString(), datasetId = datasetId.ToString(), options = recipe.ToJson(), totalEpochs = recipe.TotalEpochs, now,
                createdBy, promote = promote ? 1 : 0,
            },
            transaction);
        await transaction.CommitAsync(cancellationToken);
        return await GetAsync(id, cancellationToken);
    }

    public async Task MarkEnqueuedAsync(Guid id, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await connection.ExecuteAsync("UPDATE jobs SET enqueued_at = @now WHERE id = @id", new { id = id.ToString(), now = database.Now() });
    }

    /// <summary>
    /// Queued jobs created more than <paramref name="grace"/> ago that were never marked enqueued, each claimed once
    /// (marked now) however many processes look: the caller enqueues them.
    /// </summary>
    public async Task<IReadOnlyList<Guid>> ClaimStrandedAsync(TimeSpan grace, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        long now = database.Now();
        var ids = await connection.QueryAsync<string>("""
            UPDATE jobs SET enqueued_at = @now
            WHERE status = 'Queued' AND enqueued_at IS NULL AND created_at < @cutoff
            RETURNING id
            """, new { now, cutoff = now - (long)grace.TotalMilliseconds });
        return ids.Select(Guid.Parse).ToList();
    }

    /// <summary>Queued and running jobs created by <paramref name="createdBy"/> (the per-caller queue cap).</summary>
    public async Task<long> CountActiveAsync(string createdBy, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.ExecuteScalarAsync<long>(
            "SELECT COUNT(*) FROM jobs WHERE created_by = @createdBy AND status IN ('Queued', 'Running')", new { createdBy });
    }

    public async Task<TrainingJob?> FindAsync(Guid id, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return (await connection.QuerySingleOrDefaultAsync<JobRow>("SELECT * FROM jobs WHERE id = @id", new { id = id.ToString() }))?.ToDomain();
    }

    public async Task<TrainingJob> GetAsync(Guid id, CancellationToken cancellationToken = default) =>
        await FindAsync(id, cancellationToken) ?? throw new NotFoundException($"Job {id} does not exist.");

    public async Task<Page<TrainingJob>> ListAsync(int offset, int limit, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var rows = await connection.QueryAsync<JobRow>("SELECT * FROM jobs ORDER BY created_at DESC, id LIMIT @limit OFFSET @offset", new { limit, offset });
        var total = await connection.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM jobs");
        return new Page<TrainingJob>(rows.Select(r => r.ToDomain()).ToList(), offset, limit, total);
    }

    /// <summary>Jobs that were queued or running when the process stopped (recovery at start).</summary>
    public async Task<IReadOnlyList<TrainingJob>> UnfinishedAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var rows = await connection.QueryAsync<JobRow>("SELECT * FROM jobs WHERE status IN ('Queued', 'Running') ORDER BY created_at");
        return rows.Select(r => r.ToDomain()).ToList();
    }

    /// <summary>
    /// Stores the latest progress and appends the iterations logged since the last call (fenced by the lease).
    /// Returns whether cancellation of the job was asked for.
    /// </summary>
    public async Task<bool> ReportProgressAsync(JobLease lease, IterationProgress latest, IReadOnlyList<IterationRecord> iterations, CancellationToken cancellationToken = default)
    {
        var id = lease.JobId;
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await JobLeaseStore.FenceAsync(connection, transaction, lease, database.Now());
        await connection.ExecuteAsync("""
            INSERT INTO job_iterations (job_id, iteration, epoch, learning_rate, g_gan, g_l1, d_real, d_fake, images_per_second)
            VALUES (@JobId, @Iteration, @Epoch, @LearningRate, @GeneratorGan, @GeneratorL1, @DiscriminatorReal, @DiscriminatorFake, @ImagesPerSecond)
            ON CONFLICT (job_id, iteration) DO UPDATE SET epoch = excluded.epoch, learning_rate = excluded.learning_rate, g_gan = excluded.g_gan,
                g_l1 = excluded.g_l1, d_real = excluded.d_real, d_fake = excluded.d_fake, images_per_second = excluded.images_per_second
            """, iterations.Select(i => new
        {
            JobId = id.ToString(), i.Iteration, i.Epoch, i.LearningRate, i.GeneratorGan, i.GeneratorL1, i.DiscriminatorReal, i.DiscriminatorFake, i.ImagesPerSecond,
        }), transaction);
        // The same statement reads the cancel flag, so the trainer learns of a cancel within one progress write.
        var cancelRequested = await connection.ExecuteScalarAsync<long>("""
            UPDATE jobs SET epoch = @Epoch, iteration = @GlobalIteration, total_iterations = @TotalIterations, total_epochs = @TotalEpochs,
                learning_rate = @LearningRate, g_gan = @GeneratorGan, g_l1 = @GeneratorL1, d_real = @DiscriminatorReal, d_fake = @DiscriminatorFake,
                images_per_second = @ImagesPerSecond, updated_at = @Now
            WHERE id = @Id
            RETURNING cancel_requested
            """, new
        {
            Id = id.ToString(), latest.Epoch, latest.GlobalIteration, latest.TotalIterations, latest.TotalEpochs, latest.LearningRate,
            latest.Losses.GeneratorGan, latest.Losses.GeneratorL1, latest.Losses.DiscriminatorReal, latest.Losses.DiscriminatorFake,
            latest.ImagesPerSecond, Now = database.Now(),
        }, transaction);
        await transaction.CommitAsync(cancellationToken);
        return cancelRequested != 0;
    }

    public async Task AddSnapshotAsync(JobLease lease, JobSnapshot snapshot, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await JobLeaseStore.FenceAsync(connection, transaction, lease, database.Now());
        await connection.ExecuteAsync("""
            INSERT INTO job_snapshots (job_id, epoch, is_final, val_l1, val_psnr, val_ssim, val_images, test_l1, test_psnr, test_ssim, test_images, image_blob_key, created_at)
            VALUES (@JobId, @Epoch, @IsFinal, @ValL1, @ValPsnr, @ValSsim, @ValImages, @TestL1, @TestPsnr, @TestSsim, @TestImages, @ImageBlobKey, @CreatedAt)
            ON CONFLICT (job_id, epoch) DO NOTHING
            """, new
        {
            JobId = snapshot.JobId.ToString(), snapshot.Epoch, IsFinal = snapshot.IsFinal ? 1 : 0,
            ValL1 = snapshot.Val?.L1, ValPsnr = snapshot.Val?.Psnr, ValSsim = snapshot.Val?.Ssim, ValImages = snapshot.Val?.Images,
            TestL1 = snapshot.Test?.L1, TestPsnr = snapshot.Test?.Psnr, TestSsim = snapshot.Test?.Ssim, TestImages = snapshot.Test?.Images,
            snapshot.ImageBlobKey, CreatedAt = snapshot.CreatedAt.ToUnixTimeMilliseconds(),
        }, transaction);
        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>Points the job at a new checkpoint blob (fenced); returns the key it replaces.</summary>
    public async Task<string?> SetCheckpointAsync(JobLease lease, string key, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await JobLeaseStore.FenceAsync(connection, transaction, lease, database.Now());
        var previous = await connection.ExecuteScalarAsync<string?>("SELECT checkpoint_key FROM jobs WHERE id = @id", new { id = lease.JobId.ToString() }, transaction);
        await connection.ExecuteAsync("UPDATE jobs SET checkpoint_key = @key WHERE id = @id", new { id = lease.JobId.ToString(), key }, transaction);
        await transaction.CommitAsync(cancellationToken);
        return previous;
    }

    public async Task<string?> CheckpointKeyAsync(Guid id, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.ExecuteScalarAsync<string?>("SELECT checkpoint_key FROM jobs WHERE id = @id", new { id = id.ToString() });
    }

    public async Task<IReadOnlyList<JobSnapshot>> SnapshotsAsync(Guid id, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var rows = await connection.QueryAsync<SnapshotRow>("SELECT * FROM job_snapshots WHERE job_id = @id ORDER BY epoch", new { id = id.ToString() });
        return rows.Select(r => r.ToDomain()).ToList();
    }

    public async Task<IReadOnlyList<IterationRecord>> IterationsAsync(Guid id, long afterIteration, int limit, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var rows = await connection.QueryAsync<IterationRow>(
            "SELECT * FROM job_iterations WHERE job_id = @id AND iteration > @afterIteration ORDER BY iteration LIMIT @limit",
            new { id = id.ToString(), afterIteration, limit });
        return rows.Select(r => r.ToDomain()).ToList();
    }

    /// <summary>Asks a job to stop. A queued job is cancelled at once; a running one when its trainer sees the flag.</summary>
    public async Task<TrainingJob> RequestCancelAsync(Guid id, CancellationToken cancellationToken = default)
    {
        var job = await GetAsync(id, cancellationToken);
        if (job.IsFinished) throw new ConflictException($"Job {id} is already {job.Status}.");
        await using var connection = await database.OpenAsync(cancellationToken);
        long now = database.Now();
        await connection.ExecuteAsync("UPDATE jobs SET cancel_requested = 1, updated_at = @now WHERE id = @id", new { id = id.ToString(), now });
        await connection.ExecuteAsync("UPDATE jobs SET status = 'Cancelled', finished_at = @now WHERE id = @id AND status = 'Queued'", new { id = id.ToString(), now });
        return await GetAsync(id, cancellationToken);
    }

    /// <summary>
    /// Deletes a finished job with its loss series, snapshots and lease history; the versions it made stay. Its blobs
    /// (checkpoint, snapshot images) are the caller's to delete, under <see cref="BlobKeys.JobPrefix"/>.
    /// </summary>
    public async Task DeleteAsync(Guid id, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var lockRow = database.IsPostgreSql ? " FOR UPDATE" : "";
        var status = await connection.QuerySingleOrDefaultAsync<string>($"SELECT status FROM jobs WHERE id = @id{lockRow}", new { id = id.ToString() }, transaction)
            ?? throw new NotFoundException($"Job {id} does not exist.");
        if (status is nameof(JobStatus.Queued) or nameof(JobStatus.Running))
            throw new ConflictException($"Job {id} is {status}; cancel it first.");
        // Its loss series, snapshots and lease history go by ON DELETE CASCADE (Database turns foreign keys on for SQLite too).
        await connection.ExecuteAsync("DELETE FROM jobs WHERE id = @id", new { id = id.ToString() }, transaction);
        await transaction.CommitAsync(cancellationToken);
    }

    public async Task FinishAsync(Guid id, JobStatus status, string? error, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        long now = database.Now();
        await connection.ExecuteAsync("UPDATE jobs SET status = @status, error = @error, finished_at = @now, updated_at = @now WHERE id = @id",
            new { id = id.ToString(), status = status.ToString(), error, now });
    }
}
