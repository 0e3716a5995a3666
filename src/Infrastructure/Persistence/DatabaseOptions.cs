namespace Pix2Pix.Infrastructure.Persistence;

public enum DatabaseProvider { Sqlite, PostgreSql }

/// <summary>Which database holds the metadata, derived from <c>ConnectionStrings:Database</c>.</summary>
public sealed record DatabaseTarget(DatabaseProvider Provider, string ConnectionString)
{
    /// <summary>Empty connection string: an SQLite file in the data directory; anything else is PostgreSQL.</summary>
    public static DatabaseTarget From(string? connectionString, string dataDirectory) =>
        string.IsNullOrWhiteSpace(connectionString)
            ? new DatabaseTarget(DatabaseProvider.Sqlite, $"Data Source={Path.Combine(Path.GetFullPath(dataDirectory), "pix2pix.db")};Default Timeout=30;Pooling=True")
            : new DatabaseTarget(DatabaseProvider.PostgreSql, connectionString);
}
