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

    /// <summary>The version a job published for an epoch, if it did (a resumed job finds it and publishes nothing again).</summary>
    public async Task<ModelVersion?> FindVersionAsync(Guid jobId, int epoch, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return (await connection.QuerySingleOrDefaultAsync<VersionRow>("SELECT * FROM model_versions WHERE job_id = @jobId AND epoch = @epoch",
            new { jobId = jobId.ToString(), epoch }))?.ToDomain();
    }

    /// <summary>
    /// Records a job's version for an epoch, once: a job that makes the same epoch again (after a restart) gets the
    /// existing version back. Fenced by the job's lease. <paramref name="promote"/>: it becomes the default.
    /// </summary>
    public async Task<ModelVersion> AddVersionAsync(JobLease lease, ModelVersion version, bool promote, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await JobLeaseStore.FenceAsync(connection, transaction, lease, database.Now());
        var existing = await connection.QuerySingleOrDefaultAsync<VersionRow>(
            "SELECT * FROM model_versions WHERE job_id = @jobId AND epoch = @epoch", new { jobId = lease.JobId.ToString(), epoch = version.Epoch }, transaction);
        if (existing is not null) return existing.ToDomain();
        var added = await InsertAsync(connection, transaction, version, promote);
        await transaction.CommitAsync(cancellationToken);
        return added;
    }

    /// <summary>Records an imported version (its package already stored).</summary>
    public async Task<ModelVersion> AddImportedVersionAsync(ModelVersion version, bool promote, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var added = await InsertAsync(connection, transaction, version with { Source = ModelVersion.FromImport }, promote);
        await transaction.CommitAsync(cancellationToken);
        return added;
    }

    /// <summary>
    /// Takes the model's next number from its counter (the row update also orders concurrent writers), never one used
    /// before, even by a deleted version; a model's first version becomes its default, later ones only when promoted.
    /// </summary>
    private async Task<ModelVersion> InsertAsync(System.Data.Common.DbConnection connection, System.Data.Common.DbTransaction transaction, ModelVersion version,
        bool promote)
    {
        var id = version.ModelId.ToString();
        var number = await connection.QuerySingleOrDefaultAsync<long?>(
            "UPDATE models SET next_version = next_version + 1 WHERE id = @id RETURNING next_version - 1", new { id }, transaction)
            ?? throw new NotFoundException($"Model {version.ModelId} does not exist.");
        var row = VersionRow.From(version with { Version = (int)number, CreatedAt = Clock.From(database.Now()) });
        await connection.ExecuteAsync("""
            INSERT INTO model_versions (model_id, version, source, epoch, is_final, job_id, dataset_id, dataset_sha256, imported_file_sha256, options,
                l1, psnr, ssim, metric_images, test_l1, test_psnr, test_ssim, test_images, package_blob_key, package_bytes, package_sha256, created_by, created_at)
            VALUES (@ModelId, @Version, @Source, @Epoch, @IsFinal, @JobId, @DatasetId, @DatasetSha256, @ImportedFileSha256, @Options,
                @L1, @Psnr, @Ssim, @MetricImages, @TestL1, @TestPsnr, @TestSsim, @TestImages, @PackageBlobKey, @PackageBytes, @PackageSha256, @CreatedBy, @CreatedAt)
            """, row, transaction);
        await connection.ExecuteAsync(promote
            ? "UPDATE models SET default_version = @number WHERE id = @id"
            : "UPDATE models SET default_version = @number WHERE id = @id AND default_version IS NULL", new { id, number }, transaction);
        return row.ToDomain();
    }

    public async Task<IReadOnlyList<ModelVersion>> VersionsAsync(Guid modelId, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var rows = await connection.QueryAsync<VersionRow>("SELECT * FROM model_versions WHERE model_id = @id ORDER BY version", new { id = modelId.ToString() });
        return rows.Select(r => r.ToDomain()).ToList();
    }

    /// <summary>The requested version, or the model's default (its first version, or the one promoted since).</summary>
    public async Task<ModelVersion> ResolveVersionAsync(Guid modelId, int? requested, CancellationToken cancellationToken = default)
    {
        var model = await GetAsync(modelId, cancellationToken);
        await using var connection = await database.OpenAsync(cancellationToken);
        int? version = requested ?? model.DefaultVersion;
        var row = version is { } v
            ? await connection.QuerySingleOrDefaultAsync<VersionRow>("SELECT * FROM model_versions WHERE model_id = @id AND version = @v", new { id = modelId.ToString(), v })
            : null;
        return row?.ToDomain() ?? throw new NotFoundException(version is { } missing
            ? $"Model {model.Name} has no version {missing}."
            : $"Model {model.Name} has no versions yet: its first snapshot is made after snapshotEvery epochs.");
    }

    public async Task SetDefaultVersionAsync(Guid modelId, int version, CancellationToken cancellationToken = default)
    {
        await ResolveVersionAsync(modelId, version, cancellationToken);
        await using var connection = await database.OpenAsync(cancellationToken);
        // The version must still exist as the row changes (a delete may run between the check above and this update).
        var updated = await connection.ExecuteAsync("""
            UPDATE models SET default_version = @version
            WHERE id = @id AND EXISTS (SELECT 1 FROM model_versions WHERE model_id = @id AND version = @version)
            """, new { id = modelId.ToString(), version });
        if (updated == 0) throw new NotFoundException($"Model {modelId} has no version {version}.");
    }

    /// <summary>
    /// Deletes one version; returns its package key. The default version goes only as the model's last one: while
    /// others exist, promote one of them first (translate without a version must keep answering).
    /// </summary>
    public async Task<string> DeleteVersionAsync(Guid modelId, int version, CancellationToken cancellationToken = default)
    {
        var existing = await ResolveVersionAsync(modelId, version, cancellationToken);
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var lockRow = database.IsPostgreSql ? " FOR UPDATE" : "";
        var model = await connection.QuerySingleAsync<ModelRow>($"SELECT * FROM models WHERE id = @id{lockRow}", new { id = modelId.ToString() }, transaction);
        var count = await connection.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM model_versions WHERE model_id = @id", new { id = modelId.ToString() }, transaction);
        if (model.DefaultVersion == version && count > 1)
            throw new ConflictException($"Version {version} is model {model.Name}'s default; promote another version first (PUT /models/{modelId}/default-version).");
        await connection.ExecuteAsync("DELETE FROM model_versions WHERE model_id = @id AND version = @version", new { id = modelId.ToString(), version }, transaction);
        await connection.ExecuteAsync("UPDATE models SET default_version = NULL WHERE id = @id AND default_version = @version", new { id = modelId.ToString(), version }, transaction);
        await transaction.CommitAsync(cancellationToken);
        return existing.PackageBlobKey;
    }
}
