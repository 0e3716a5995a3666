using System.Data.Common;
using Dapper;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Pix2Pix.Infrastructure.Persistence;

/// <summary>
/// Opens connections to the metadata database (SQLite or PostgreSQL), applies the schema migrations, and is the clock
/// rows are stamped with.
/// </summary>
public sealed class Database : IAsyncDisposable
{
    private readonly NpgsqlDataSource? postgres;
    private readonly TimeProvider time;

    // Columns are snake_case, properties PascalCase.
    static Database() => DefaultTypeMap.MatchNamesWithUnderscores = true;

    public Database(DatabaseTarget target, TimeProvider time)
    {
        Target = target;
        this.time = time;
        if (target.Provider == DatabaseProvider.PostgreSql) postgres = NpgsqlDataSource.Create(target.ConnectionString);
        else Directory.CreateDirectory(Path.GetDirectoryName(new SqliteConnectionStringBuilder(target.ConnectionString).DataSource)!);
    }

    public DatabaseTarget Target { get; }

    public bool IsPostgreSql => Target.Provider == DatabaseProvider.PostgreSql;

    /// <summary>Now, as rows store it: Unix milliseconds.</summary>
    public long Now() => time.GetUtcNow().ToUnixTimeMilliseconds();

    public ValueTask DisposeAsync() => postgres?.DisposeAsync() ?? ValueTask.CompletedTask;

    public async Task<DbConnection> OpenAsync(CancellationToken cancellationToken = default)
    {
        if (postgres is not null) return await postgres.OpenConnectionAsync(cancellationToken);
        var connection = new SqliteConnection(Target.ConnectionString);
        await connection.OpenAsync(cancellationToken);
        // WAL lets readers (API) and the writer (training progress) work at the same time.
        await connection.ExecuteAsync("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;");
        return connection;
    }

    public DbConnection Open()
    {
        if (postgres is not null) return postgres.OpenConnection();
        var connection = new SqliteConnection(Target.ConnectionString);
        connection.Open();
        connection.Execute("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;");
        return connection;
    }

    /// <summary>Brings the schema up to date; safe when several processes start at once.</summary>
    public async Task MigrateAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenAsync(cancellationToken);
        if (Target.Provider == DatabaseProvider.PostgreSql)
            await connection.ExecuteAsync("SELECT pg_advisory_lock(727272)");
        try
        {
            await connection.ExecuteAsync("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)");
            var applied = (await connection.QueryAsync<long>("SELECT version FROM schema_migrations")).ToHashSet();
            foreach (var (version, sql) in Migrations.All)
            {
                if (applied.Contains(version)) continue;
                await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
                await connection.ExecuteAsync(sql, transaction: transaction);
                await connection.ExecuteAsync("INSERT INTO schema_migrations (version, applied_at) VALUES (@version, @now)",
                    new { version, now = Now() }, transaction);
                await transaction.CommitAsync(cancellationToken);
            }
        }
        finally
        {
            if (Target.Provider == DatabaseProvider.PostgreSql)
                await connection.ExecuteAsync("SELECT pg_advisory_unlock(727272)");
        }
    }
}

/// <summary>Timestamps are stored as Unix milliseconds (BIGINT): the same in both databases.</summary>
public static class Clock
{
    public static DateTimeOffset From(long milliseconds) => DateTimeOffset.FromUnixTimeMilliseconds(milliseconds);
    public static DateTimeOffset? From(long? milliseconds) => milliseconds is { } value ? From(value) : null;
}
