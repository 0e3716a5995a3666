using System.Security.Cryptography;
using System.Text;
using Dapper;
using Pix2Pix.Domain.Service;

namespace Pix2Pix.Infrastructure.Persistence;

/// <summary>An API key as stored: never its secret, only the SHA-256 of the whole key.</summary>
public sealed record ApiKey(Guid Id, string Name, IReadOnlyList<string> Scopes, string Prefix, string? CreatedBy, DateTimeOffset CreatedAt,
    DateTimeOffset? ExpiresAt, DateTimeOffset? LastUsedAt, DateTimeOffset? RevokedAt)
{
    public bool IsUsableAt(DateTimeOffset now) => RevokedAt is null && (ExpiresAt is null || ExpiresAt > now);
}

/// <summary>
/// Keys look like <c>p2p_{prefix}_{secret}</c>: a public 10-character prefix to find the row, and 256 random bits.
/// </summary>
public sealed class ApiKeyStore(Database database)
{
    public const string KeyStart = "p2p_";

    /// <summary>Creates a key and returns it with its plaintext, which exists nowhere else afterwards.</summary>
    public async Task<(ApiKey Key, string Plaintext)> CreateAsync(string name, IReadOnlyList<string> scopes, DateTimeOffset? expiresAt, string? createdBy,
        CancellationToken cancellationToken = default)
    {
        var prefix = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(5));
        var plaintext = $"{KeyStart}{prefix}_{Base64Url(RandomNumberGenerator.GetBytes(32))}";
        var id = Guid.NewGuid();
        await using var connection = await database.OpenAsync(cancellationToken);
        await connection.ExecuteAsync("""
            INSERT INTO api_keys (id, name, prefix, secret_hash, scopes, created_by, created_at, expires_at)
            VALUES (@id, @name, @prefix, @hash, @scopes, @createdBy, @now, @expiresAt)
            """, new
        {
            id = id.ToString(), name, prefix, hash = Hash(plaintext), scopes = string.Join(' ', scopes), createdBy, now = database.Now(),
            expiresAt = expiresAt?.ToUnixTimeMilliseconds(),
        });
        return (await GetAsync(id, cancellationToken), plaintext);
    }

    /// <summary>The key whose plaintext this is, revoked or expired ones included; null for anything else.</summary>
    public async Task<ApiKey?> FindByPlaintextAsync(string plaintext, CancellationToken cancellationToken = default)
    {
        if (!TryParsePrefix(plaintext, out var prefix)) return null;
        await using var connection = await database.OpenAsync(cancellationToken);
        var row = await connection.QuerySingleOrDefaultAsync<ApiKeyRow>("SELECT * FROM api_keys WHERE prefix = @prefix", new { prefix });
        return row is not null && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(row.SecretHash), Encoding.ASCII.GetBytes(Hash(plaintext)))
            ? row.ToDomain()
            : null;
    }

    public async Task<ApiKey> GetAsync(Guid id, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var row = await connection.QuerySingleOrDefaultAsync<ApiKeyRow>("SELECT * FROM api_keys WHERE id = @id", new { id = id.ToString() });
        return row?.ToDomain() ?? throw new NotFoundException($"API key {id} does not exist.");
    }

    public async Task<IReadOnlyList<ApiKey>> ListAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var rows = await connection.QueryAsync<ApiKeyRow>("SELECT * FROM api_keys ORDER BY created_at DESC, id");
        return rows.Select(r => r.ToDomain()).ToList();
    }

    /// <summary>Revokes a key (again is fine); returns it.</summary>
    public async Task<ApiKey> RevokeAsync(Guid id, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await connection.ExecuteAsync("UPDATE api_keys SET revoked_at = @now WHERE id = @id AND revoked_at IS NULL", new { id = id.ToString(), now = database.Now() });
        return await GetAsync(id, cancellationToken);
    }

    public async Task TouchAsync(Guid id, DateTimeOffset usedAt, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await connection.ExecuteAsync("UPDATE api_keys SET last_used_at = @usedAt WHERE id = @id", new { id = id.ToString(), usedAt = usedAt.ToUnixTimeMilliseconds() });
    }

    public static string Hash(string plaintext) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(plaintext)));

    public static bool TryParsePrefix(string plaintext, out string prefix)
    {
        prefix = "";
        if (!plaintext.StartsWith(KeyStart, StringComparison.Ordinal) || plaintext.Length < KeyStart.Length + 12) return false;
        var rest = plaintext.AsSpan(KeyStart.Length);
        var separator = rest.IndexOf('_');
        if (separator != 10) return false;
        prefix = rest[..separator].ToString();
        return true;
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private sealed class ApiKeyRow
    {
        public string Id { get; set; } = "";
        public string Name { get; set; } = "";
        public string Prefix { get; set; } = "";
        public string SecretHash { get; set; } = "";
        public string Scopes { get; set; } = "";
        public string? CreatedBy { get; set; }
        public long CreatedAt { get; set; }
        public long? ExpiresAt { get; set; }
        public long? LastUsedAt { get; set; }
        public long? RevokedAt { get; set; }

        public ApiKey ToDomain() => new(Guid.Parse(Id), Name, Scopes.Split(' ', StringSplitOptions.RemoveEmptyEntries), Prefix, CreatedBy,
            Clock.From(CreatedAt), Clock.From(ExpiresAt), Clock.From(LastUsedAt), Clock.From(RevokedAt));
    }
}
