using Dapper;
using Pix2Pix.Domain.Service;
using Pix2Pix.Domain.Training;

namespace Pix2Pix.Infrastructure.Persistence;

public sealed class ModelStore(Database database)
{
    /// <summary>The model with this name, created (by <paramref name="createdBy"/>) if it does not exist yet.</summary>
    public async Task<Model> GetOrCreateAsync(string name, string? createdBy = null, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await connection.ExecuteAsync("""
            INSERT INTO models (id, name, default_version, created_at, created_by) VALUES (@id, @name, NULL, @now, @createdBy)
            ON CONFLICT (name) DO NOTHING
            """, new { id = Guid.NewGuid().ToString(), name, now = database.Now(), createdBy });
        return (await connection.QuerySingleAsync<ModelRow>("SELECT * FROM models WHERE name = @name", new { name })).ToDomain();
    }

    public async Task<Model?> FindAsync(Guid id, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return (await connection.QuerySingleOrDefaultAsync<ModelRow>("SELECT * FROM models WHERE id = @id", new { id = id.ToString() }))?.ToDomain();
    }

    public async Task<Model> GetAsync(Guid id, CancellationToken cancellationToken = default) =>
        await FindAsync(id, cancellationToken) ?? throw new NotFoundException($"Model {id} does not exist.");

    public async Task<Page<Model>> ListAsync(int offset, int limit, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var rows = await connection.QueryAsync<ModelRow>("SELECT * FROM models ORDER BY created_at DESC, id LIMIT @limit OFFSET @offset", new { limit, offset });
        var total = await connection.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM models");
        return new Page<Model>(rows.Select(r => r.ToDomain()).ToList(), offset, limit, total);
    }

    /// <summary>Deletes a model with its versions unless a job is training it; returns the blob keys to remove.</summary>
    public async Task<IReadOnlyList<string>> DeleteAsync(Guid id, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        _ = await connection.QuerySingleOrDefaultAsync<ModelRow>("SELECT * FROM models WHERE id = @id", new { id = id.ToString() }, transaction)
            ?? throw new NotFoundException($"Model {id} does not exist.");
        var busy = await connection.ExecuteScalarAsync<long>(
            "SELECT COUNT(*) FROM jobs WHERE model_id = @id AND status IN ('Queued', 'Running')", new { id = id.ToString() }, transaction);
        if (busy > 0) throw new ConflictException($"Model {id} is being trained by {busy} queued or running job(s); cancel them first.");
        var keys = (await connection.QueryAsync<string>("SELECT package_blob_key FROM model_versions WHERE model_id = @id", new { id = id.ToString() }, transaction)).ToList();
        await connection.ExecuteAsync("DELETE FROM model_versions WHERE model_id = @id", new { id = id.ToString() }, transaction);
        await connection.ExecuteAsync("DELETE FROM models WHERE id = @id", new { id = id.ToString() }, transaction);
        await transaction.CommitAsync(cancellationToken);
        return keys;
    }

    /// <summary>
    /// Records a version for a job's epoch with the next number, once: a job that makes the same epoch again (after a
    /// restart) gets the existing version back.
    /// </summary>
    public async Task<ModelVersion> AddVersionAsync(JobLease lease, Guid modelId, Guid datasetId, int epoch, bool isFinal, TrainingRecipe recipe,
        QualityMetrics? metrics, string packageKey, long packageBytes, CancellationToken cancellationToken = default)
    {
        var jobId = lease.JobId;
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await JobLeaseStore.FenceAsync(connection, transaction, lease, database.Now());
        var existing = await connection.QuerySingleOrDefaultAsync<VersionRow>(
            "SELECT * FROM model_versions WHERE job_id = @jobId AND epoch = @epoch", new { jobId = jobId.ToString(), epoch }, transaction);
        if (existing is not null) return existing.ToDomain();
        // Serialise version numbering per model: PostgreSQL row lock; SQLite transactions already serialise writers.
        if (database.IsPostgreSql)
            await connection.ExecuteAsync("SELECT id FROM models WHERE id = @id FOR UPDATE", new { id = modelId.ToString() }, transaction);
        var version = 1 + await connection.ExecuteScalarAsync<long>(
            "SELECT COALESCE(MAX(version), 0) FROM model_versions WHERE model_id = @id", new { id = modelId.ToString() }, transaction);
        var row = new VersionRow
        {
            ModelId = modelId.ToString(), Version = version, Epoch = epoch, IsFinal = isFinal ? 1 : 0, JobId = jobId.ToString(),
            DatasetId = datasetId.ToString(), Options = recipe.ToJson(), L1 = metrics?.L1, Psnr = metrics?.Psnr, Ssim = metrics?.Ssim,
            MetricImages = metrics?.Images, PackageBlobKey = packageKey, PackageBytes = packageBytes, CreatedAt = database.Now(),
        };
        await connection.ExecuteAsync("""
            INSERT INTO model_versions (model_id, version, epoch, is_final, job_id, dataset_id, options, l1, psnr, ssim, metric_images, package_blob_key, package_bytes, created_at)
            VALUES (@ModelId, @Version, @Epoch, @IsFinal, @JobId, @DatasetId, @Options, @L1, @Psnr, @Ssim, @MetricImages, @PackageBlobKey, @PackageBytes, @CreatedAt)
            """, row, transaction);
        await transaction.CommitAsync(cancellationToken);
        return row.ToDomain();
    }

    public async Task<IReadOnlyList<ModelVersion>> VersionsAsync(Guid modelId, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var rows = await connection.QueryAsync<VersionRow>("SELECT * FROM model_versions WHERE model_id = @id ORDER BY version", new { id = modelId.ToString() });
        return rows.Select(r => r.ToDomain()).ToList();
    }

    /// <summary>The requested version, or the model's default: the one set explicitly, else the latest.</summary>
    public async Task<ModelVersion> ResolveVersionAsync(Guid modelId, int? requested, CancellationToken cancellationToken = default)
    {
        var model = await GetAsync(modelId, cancellationToken);
        await using var connection = await database.OpenAsync(cancellationToken);
        int? version = requested ?? model.DefaultVersion;
        var row = version is { } v
            ? await connection.QuerySingleOrDefaultAsync<VersionRow>("SELECT * FROM model_versions WHERE model_id = @id AND version = @v", new { id = modelId.ToString(), v })
            : await connection.QuerySingleOrDefaultAsync<VersionRow>("SELECT * FROM model_versions WHERE model_id = @id ORDER BY version DESC LIMIT 1", new { id = modelId.ToString() });
        return row?.ToDomain() ?? throw new NotFoundException(version is { } missing
            ? $"Model {model.Name} has no version {missing}."
            : $"Model {model.Name} has no versions yet: its first snapshot is made after snapshotEvery epochs.");
    }

    public async Task SetDefaultVersionAsync(Guid modelId, int version, CancellationToken cancellationToken = default)
    {
        await ResolveVersionAsync(modelId, version, cancellationToken);
        await using var connection = await database.OpenAsync(cancellationToken);
        await connection.ExecuteAsync("UPDATE models SET default_version = @version WHERE id = @id", new { id = modelId.ToString(), version });
    }

    /// <summary>Deletes one version (clearing an explicit default that pointed at it); returns its package key.</summary>
    public async Task<string> DeleteVersionAsync(Guid modelId, int version, CancellationToken cancellationToken = default)
    {
        var existing = await ResolveVersionAsync(modelId, version, cancellationToken);
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await connection.ExecuteAsync("DELETE FROM model_versions WHERE model_id = @id AND version = @version", new { id = modelId.ToString(), version }, transaction);
        await connection.ExecuteAsync("UPDATE models SET default_version = NULL WHERE id = @id AND default_version = @version", new { id = modelId.ToString(), version }, transaction);
        await transaction.CommitAsync(cancellationToken);
        return existing.PackageBlobKey;
    }
}
