using Dapper;
using Pix2Pix.Domain.Service;

namespace Pix2Pix.Infrastructure.Persistence;

public sealed class DatasetStore(Database database)
{
    public async Task AddAsync(Dataset dataset, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await connection.ExecuteAsync("""
            INSERT INTO datasets (id, name, layout, train_count, val_count, test_count, width, height, size_bytes, blob_key, created_at, created_by, sha256, previews)
            VALUES (@Id, @Name, @Layout, @Train, @Val, @Test, @Width, @Height, @SizeBytes, @BlobKey, @CreatedAt, @CreatedBy, @Sha256, @Previews)
            """, new
        {
            Id = dataset.Id.ToString(), dataset.Name, Layout = dataset.Layout.ToString(), dataset.Train, dataset.Val, dataset.Test,
            dataset.Width, dataset.Height, dataset.SizeBytes, dataset.BlobKey, CreatedAt = dataset.CreatedAt.ToUnixTimeMilliseconds(), dataset.CreatedBy, dataset.Sha256, dataset.Previews,
        });
    }

    public async Task<Dataset?> FindAsync(Guid id, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var row = await connection.QuerySingleOrDefaultAsync<DatasetRow>("SELECT * FROM datasets WHERE id = @id", new { id = id.ToString() });
        return row?.ToDomain();
    }

    public async Task<Dataset> GetAsync(Guid id, CancellationToken cancellationToken = default) =>
        await FindAsync(id, cancellationToken) ?? throw new NotFoundException($"Dataset {id} does not exist.");

    public async Task<Page<Dataset>> ListAsync(int offset, int limit, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var rows = await connection.QueryAsync<DatasetRow>("SELECT * FROM datasets ORDER BY created_at DESC, id LIMIT @limit OFFSET @offset", new { limit, offset });
        var total = await connection.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM datasets");
        return new Page<Dataset>(rows.Select(r => r.ToDomain()).ToList(), offset, limit, total);
    }

    /// <summary>Deletes the row unless a queued or running job uses the dataset; returns the deleted dataset.</summary>
    public async Task<Dataset> DeleteAsync(Guid id, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        // The row lock (PostgreSQL) orders this delete against a job being created on the dataset, which holds a share
        // lock on the same row: one of them sees the other. SQLite's write transactions are serial already.
        var lockRow = database.IsPostgreSql ? " FOR UPDATE" : "";
        var row = await connection.QuerySingleOrDefaultAsync<DatasetRow>($"SELECT * FROM datasets WHERE id = @id{lockRow}", new { id = id.ToString() }, transaction)
            ?? throw new NotFoundException($"Dataset {id} does not exist.");
        var busy = await connection.ExecuteScalarAsync<long>(
            "SELECT COUNT(*) FROM jobs WHERE dataset_id = @id AND status IN ('Queued', 'Running')", new { id = id.ToString() }, transaction);
        if (busy > 0) throw new ConflictException($"Dataset {id} is used by {busy} queued or running job(s); cancel them first.");
        await connection.ExecuteAsync("DELETE FROM datasets WHERE id = @id", new { id = id.ToString() }, transaction);
        await transaction.CommitAsync(cancellationToken);
        return row.ToDomain();
    }
}
