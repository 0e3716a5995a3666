using Pix2Pix.Domain.Runtime;
using Pix2Pix.Domain.Service;

namespace Pix2Pix.Infrastructure.Blobs;

/// <summary>Blobs as files under a folder; writes go to a temporary file renamed into place.</summary>
public sealed class FileSystemBlobStore : IBlobStore
{
    private readonly string root;

    public FileSystemBlobStore(string root)
    {
        this.root = Path.GetFullPath(root);
        Directory.CreateDirectory(this.root);
    }

    public Task PutAsync(string key, Stream content, string contentType, CancellationToken cancellationToken = default) =>
        AtomicFile.WriteAsync(PathOf(key), content.CopyToAsync, cancellationToken);

    public async Task PutFileAsync(string key, string path, string contentType, CancellationToken cancellationToken = default)
    {
        await using var file = File.OpenRead(path);
        await PutAsync(key, file, contentType, cancellationToken);
    }

    public Task<Stream?> OpenReadAsync(string key, CancellationToken cancellationToken = default)
    {
        var path = PathOf(key);
        return Task.FromResult<Stream?>(File.Exists(path)
            ? new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 1 << 16, useAsync: true)
            : null);
    }

    public async Task<bool> DownloadToFileAsync(string key, string path, CancellationToken cancellationToken = default)
    {
        await using var source = await OpenReadAsync(key, cancellationToken);
        if (source is null) return false;
        await AtomicFile.WriteAsync(path, source.CopyToAsync, cancellationToken);
        return true;
    }

    public Task<bool> ExistsAsync(string key, CancellationToken cancellationToken = default) => Task.FromResult(File.Exists(PathOf(key)));

    public Task DeleteAsync(string key, CancellationToken cancellationToken = default)
    {
        File.Delete(PathOf(key));
        return Task.CompletedTask;
    }

    public Task DeletePrefixAsync(string prefix, CancellationToken cancellationToken = default)
    {
        var path = PathOf(prefix.TrimEnd('/'));
        if (Directory.Exists(path)) Directory.Delete(path, recursive: true);
        else if (File.Exists(path)) File.Delete(path); // nothing under the prefix (a job that never wrote a blob)
        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<BlobItem>> ListAsync(string prefix, CancellationToken cancellationToken = default)
    {
        IReadOnlyList<BlobItem> items = Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
            .Where(f => !f.EndsWith(AtomicFile.TemporarySuffix, StringComparison.Ordinal) && !Path.GetFileName(f).StartsWith(".ready-", StringComparison.Ordinal))
            .Select(f => new BlobItem(Path.GetRelativePath(root, f).Replace('\\', '/'), File.GetLastWriteTimeUtc(f)))
            .Where(item => item.Key.StartsWith(prefix, StringComparison.Ordinal))
            .ToList();
        return Task.FromResult(items);
    }

    public Task CheckAsync(CancellationToken cancellationToken = default)
    {
        var probe = Path.Combine(root, $".ready-{Guid.NewGuid():N}");
        File.WriteAllText(probe, "ok");
        File.Delete(probe);
        return Task.CompletedTask;
    }

    private string PathOf(string key)
    {
        var path = Path.GetFullPath(Path.Combine(root, key));
        if (!path.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new ArgumentException($"Blob key '{key}' leaves the blob folder.", nameof(key));
        return path;
    }
}
