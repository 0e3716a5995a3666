using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using Pix2Pix.Infrastructure;

namespace Pix2Pix.Api.Security;

/// <summary>
/// The admin key that exists before any key does: Auth:BootstrapAdminKey, or in the embedded mode a key generated on
/// the first start into <c>{DataDirectory}/admin.key</c> (mode 0600), as Jupyter does with its token.
/// </summary>
public sealed class BootstrapAdminKey
{
    public const string FileName = "admin.key";
    private readonly byte[] hash;

    public BootstrapAdminKey(IOptions<AuthOptions> auth, IOptions<StorageOptions> storage)
    {
        var configured = auth.Value.BootstrapAdminKey;
        if (string.IsNullOrWhiteSpace(configured))
        {
            FilePath = Path.GetFullPath(Path.Combine(storage.Value.DataDirectory, FileName));
            if (File.Exists(FilePath))
            {
                configured = File.ReadAllText(FilePath).Trim();
                if (configured.Length < 32)
                    throw new InvalidOperationException($"{FilePath} does not hold an admin key of 32 characters or more; delete it to have a new one generated.");
            }
            else
            {
                configured = $"{Pix2Pix.Infrastructure.Persistence.ApiKeyStore.KeyStart}admin_{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24))}";
                Directory.CreateDirectory(Path.GetDirectoryName(FilePath)!);
                // Written whole under another name, then renamed: a crash never leaves a partial key behind.
                var temporary = $"{FilePath}.{Environment.ProcessId}.tmp";
                var create = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
                if (!OperatingSystem.IsWindows()) create.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
                using (var file = new FileStream(temporary, create))
                {
                    file.Write(Encoding.UTF8.GetBytes(configured + "\n"));
                    file.Flush(flushToDisk: true);
                }
                File.Move(temporary, FilePath);
                Generated = configured;
            }
        }
        hash = SHA256.HashData(Encoding.UTF8.GetBytes(configured));
        Fingerprint = Convert.ToHexStringLower(hash)[..16];
    }

    /// <summary>The file the key lives in when it was not configured.</summary>
    public string? FilePath { get; }

    /// <summary>The key, when this start generated it (to be shown once).</summary>
    public string? Generated { get; }

    /// <summary>Names this key without revealing it; a session made with it ends when the key changes.</summary>
    public string Fingerprint { get; }

    public bool Matches(string candidate) =>
        CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(candidate)), hash);
}

/// <summary>Logs where the generated admin key is and the sign-in address, once, when the server is listening.</summary>
internal sealed class BootstrapKeyAnnouncer(BootstrapAdminKey key, Microsoft.AspNetCore.Hosting.Server.IServer server, IHostApplicationLifetime lifetime,
    ILogger<BootstrapKeyAnnouncer> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (key.Generated is { } generated)
            lifetime.ApplicationStarted.Register(() =>
            {
                var address = server.Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()?.Addresses.FirstOrDefault() ?? "http://localhost:5080";
                logger.LogWarning("""
                    Generated an admin API key into {Path} (readable by this user only). Use it as 'Authorization: Bearer <key>', or sign in at:
                        {Address}/auth/signin?key={Key}
                    """, key.FilePath, address.Replace("127.0.0.1", "localhost").TrimEnd('/'), generated);
            });
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
