using System.Collections.Concurrent;
using System.Security.Claims;
using Microsoft.Extensions.Options;
using Pix2Pix.Infrastructure.Persistence;

namespace Pix2Pix.Api.Security;

/// <summary>
/// Turns a presented key into a caller. Keys read from the database are trusted for Auth:KeyCacheDuration, so a
/// revocation takes effect at once in the process that made it (<see cref="Forget"/>) and within that time elsewhere.
/// </summary>
public sealed class ApiKeyValidator(ApiKeyStore store, BootstrapAdminKey bootstrap, IOptions<AuthOptions> options, TimeProvider time,
    ILogger<ApiKeyValidator> logger)
{
    private const int MaxCached = 10_000;
    private static readonly TimeSpan TouchInterval = TimeSpan.FromMinutes(1);
    private readonly ConcurrentDictionary<string, (ApiKey? Key, DateTimeOffset ReadAt)> byHash = new();
    private readonly ConcurrentDictionary<Guid, (ApiKey? Key, DateTimeOffset ReadAt)> byId = new();

    public async Task<ClaimsPrincipal?> AuthenticateAsync(string presented, string authenticationType, CancellationToken cancellationToken)
    {
        if (bootstrap.Matches(presented))
            return Caller.Create(Caller.BootstrapSubject, [Scopes.Admin], authenticationType, [new Claim(Caller.BootstrapClaim, bootstrap.Fingerprint)]);
        if (!ApiKeyStore.TryParsePrefix(presented, out _)) return null;

        var now = time.GetUtcNow();
        var hash = ApiKeyStore.Hash(presented);
        if (!byHash.TryGetValue(hash, out var cached) || now - cached.ReadAt >= options.Value.KeyCacheDuration)
        {
            if (byHash.Count > MaxCached) byHash.Clear();
            cached = (await store.FindByPlaintextAsync(presented, cancellationToken), now);
            byHash[hash] = cached;
            if (cached.Key is { } read && read.IsUsableAt(now) && (read.LastUsedAt is null || now - read.LastUsedAt >= TouchInterval))
                await TouchAsync(read, now);
        }
        return cached.Key is { } key && key.IsUsableAt(now) ? ToCaller(key, authenticationType) : null;
    }

    /// <summary>Whether the key a browser session was made with still works (revoked or expired keys end their sessions).</summary>
    public async Task<bool> IsUsableAsync(Guid keyId, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        if (!byId.TryGetValue(keyId, out var cached) || now - cached.ReadAt >= options.Value.KeyCacheDuration)
        {
            if (byId.Count > MaxCached) byId.Clear();
            try
            {
                cached = (await store.GetAsync(keyId, cancellationToken), now);
            }
            catch (Pix2Pix.Domain.Service.NotFoundException)
            {
                cached = (null, now);
            }
            byId[keyId] = cached;
        }
        return cached.Key?.IsUsableAt(now) == true;
    }

    public bool IsBootstrapFingerprint(string fingerprint) => fingerprint == bootstrap.Fingerprint;

    /// <summary>Drops what this process remembers of a key (after revoking it).</summary>
    public void Forget(Guid keyId)
    {
        byId.TryRemove(keyId, out _);
        foreach (var (hash, entry) in byHash)
            if (entry.Key?.Id == keyId) byHash.TryRemove(hash, out _);
    }

    public static ClaimsPrincipal ToCaller(ApiKey key, string authenticationType) =>
        Caller.Create($"key:{key.Id}", key.Scopes, authenticationType, [new Claim(Caller.KeyIdClaim, key.Id.ToString())]);

    private async Task TouchAsync(ApiKey key, DateTimeOffset now)
    {
        try
        {
            await store.TouchAsync(key.Id, now, CancellationToken.None);
        }
        catch (Exception e)
        {
            logger.LogWarning("Could not record the use of API key {KeyId}: {Error}", key.Id, e.Message);
        }
    }
}
