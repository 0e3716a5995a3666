using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Pix2Pix.Domain.Data;
using Pix2Pix.Domain.Service;
using Pix2Pix.Domain.Training;
using Pix2Pix.Infrastructure.Persistence;

namespace Pix2Pix.Infrastructure.Jobs;

/// <summary>A dataset extracted on this machine, held for a training run; disposing lets the cache evict it again.</summary>
public sealed class CachedDataset(string root, IDisposable hold) : IDisposable
{
    /// <summary>The folder holding <c>train/</c> (and <c>val/</c>, <c>test/</c>).</summary>
    public string Root { get; } = root;

    public void Dispose() => hold.Dispose();
}

/// <summary>
/// Datasets extracted on a worker's disk, one folder each under <see cref="StorageOptions.DatasetCacheDirectory"/>: fetched
/// from the blob store and checked with the same limits as the upload, kept for the next job, and removed when their
/// dataset is deleted or when the cache is over <see cref="WorkerOptions.DatasetCacheBytes"/> (least recently used first).
/// A copy in use holds a shared lock on its <c>.lock</c> file, so no process on the machine removes it meanwhile.
/// </summary>
public sealed class DatasetCache(
    DatasetStore datasets, IBlobStore blobs, IOptions<StorageOptions> storage, IOptions<WorkerOptions> worker, IOptions<UploadOptions> uploads,
    TimeProvider time, ILogger<DatasetCache> logger)
{
    private const string LockFile = ".lock", RootFile = ".root", SizeFile = ".size", StagingSuffix = ".staging";
    private static readonly TimeSpan StaleStaging = TimeSpan.FromHours(1);

    private string Directory => storage.Value.DatasetCacheDirectory;

    /// <summary>The dataset's extracted copy, fetched if this machine has none. Throws <see cref="InvalidJobException"/> when it is gone.</summary>
    public async Task<CachedDataset> AcquireAsync(Guid datasetId, CancellationToken cancellationToken)
    {
        var dataset = await datasets.FindAsync(datasetId, cancellationToken)
            ?? throw new InvalidJobException($"Dataset {datasetId} was deleted; the job cannot train without it.");
        var folder = FolderOf(datasetId);
        for (int attempt = 0; ; attempt++)
        {
            if (TryHold(folder) is { } hold)
            {
                File.SetLastWriteTimeUtc(Path.Combine(folder, LockFile), time.GetUtcNow().UtcDateTime);
                var root = Path.GetFullPath(Path.Combine(folder, await File.ReadAllTextAsync(Path.Combine(folder, RootFile), cancellationToken)));
                await TrimAsync(cancellationToken);
                return new CachedDataset(root, hold);
            }
            if (attempt >= 3) throw new IOException($"The local copy of dataset {datasetId} stayed locked for removal.");
            if (File.Exists(Path.Combine(folder, LockFile)))
            {
                await Task.Delay(TimeSpan.FromMilliseconds(200), time, cancellationToken); // being removed by another process
                continue;
            }
            if (System.IO.Directory.Exists(folder)) TryRemove(folder); // left by an older version of the cache
            await ExtractAsync(dataset, folder, cancellationToken);
        }
    }

    /// <summary>Removes the copies of deleted datasets, then the least recently used ones while over the budget.</summary>
    public async Task TrimAsync(CancellationToken cancellationToken)
    {
        if (!System.IO.Directory.Exists(Directory)) return;
        var copies = new List<(string Folder, long Bytes, DateTime LastUsed)>();
        foreach (var folder in System.IO.Directory.EnumerateDirectories(Directory))
        {
            var name = Path.GetFileName(folder);
            if (name.EndsWith(StagingSuffix, StringComparison.Ordinal))
            {
                if (time.GetUtcNow().UtcDateTime - System.IO.Directory.GetLastWriteTimeUtc(folder) > StaleStaging) TryDelete(folder);
                continue;
            }
            if (!Guid.TryParseExact(name, "N", out var id)) continue;
            if (await datasets.FindAsync(id, cancellationToken) is null)
            {
                if (TryRemove(folder)) logger.LogInformation("Removed the local copy of deleted dataset {DatasetId}", id);
                continue;
            }
            var sizeFile = Path.Combine(folder, SizeFile);
            long bytes = File.Exists(sizeFile) ? long.Parse(await File.ReadAllTextAsync(sizeFile, cancellationToken), System.Globalization.CultureInfo.InvariantCulture) : 0;
            copies.Add((folder, bytes, File.GetLastWriteTimeUtc(Path.Combine(folder, LockFile))));
        }
        long total = copies.Sum(c => c.Bytes), budget = worker.Value.DatasetCacheBytes;
        foreach (var copy in copies.OrderBy(c => c.LastUsed))
        {
            if (total <= budget) break;
            if (!TryRemove(copy.Folder)) continue; // in use
            total -= copy.Bytes;
            logger.LogInformation("Removed the local copy of dataset {Folder} ({Bytes} bytes): the cache was over {Budget} bytes",
                Path.GetFileName(copy.Folder), copy.Bytes, budget);
        }
    }

    private string FolderOf(Guid datasetId) => Path.Combine(Directory, datasetId.ToString("N"));

    /// <summary>A shared lock on a complete copy, or null when there is none or it is being removed.</summary>
    private static FileStream? TryHold(string folder)
    {
        try
        {
            var hold = new FileStream(Path.Combine(folder, LockFile), FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            if (File.Exists(Path.Combine(folder, RootFile))) return hold;
            hold.Dispose();
            return null;
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or IOException)
        {
            return null;
        }
    }

    /// <summary>Deletes a copy unless a process holds it: the exclusive lock fails while any shared lock is held.</summary>
    private bool TryRemove(string folder)
    {
        try
        {
            using var exclusive = new FileStream(Path.Combine(folder, LockFile), FileMode.Open, FileAccess.ReadWrite, FileShare.None);
            var doomed = $"{folder}.{Guid.NewGuid():N}.removing{StagingSuffix}";
            System.IO.Directory.Move(folder, doomed);
            TryDelete(doomed);
            return true;
        }
        catch (FileNotFoundException)
        {
            TryDelete(folder); // an incomplete copy (no lock file): nobody can be using it
            return true;
        }
        catch (IOException)
        {
            return false;
        }
    }

    private void TryDelete(string folder)
    {
        try
        {
            System.IO.Directory.Delete(folder, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            logger.LogWarning("Could not remove {Folder}: {Error}", folder, e.Message);
        }
    }

    private async Task ExtractAsync(Dataset dataset, string folder, CancellationToken cancellationToken)
    {
        var staging = $"{folder}.{Guid.NewGuid():N}{StagingSuffix}";
        try
        {
            var archive = Path.Combine(staging, "dataset.zip");
            System.IO.Directory.CreateDirectory(staging);
            if (!await blobs.DownloadToFileAsync(dataset.BlobKey, archive, cancellationToken))
                throw new InvalidJobException($"The archive of dataset {dataset.Id} is missing from blob storage.");
            var files = Path.Combine(staging, "files");
            string root;
            await using (var zip = File.OpenRead(archive))
                (root, _) = DatasetArchive.ExtractAndValidate(zip, files, uploads.Value.ToArchiveLimits(), decodeImages: false);
            File.Delete(archive);
            long bytes = new DirectoryInfo(files).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length);
            await File.WriteAllTextAsync(Path.Combine(staging, SizeFile), bytes.ToString(System.Globalization.CultureInfo.InvariantCulture), cancellationToken);
            await File.WriteAllTextAsync(Path.Combine(staging, RootFile), Path.GetRelativePath(staging, root), cancellationToken);
            await File.WriteAllBytesAsync(Path.Combine(staging, LockFile), [], cancellationToken);
            try
            {
                System.IO.Directory.Move(staging, folder);
                logger.LogInformation("Dataset {DatasetId} extracted to {Folder} ({Bytes} bytes)", dataset.Id, folder, bytes);
            }
            catch (IOException) when (System.IO.Directory.Exists(folder))
            {
                // Another worker on this machine finished the same download first.
            }
        }
        catch (InvalidDataException e)
        {
            throw new InvalidJobException($"The archive of dataset {dataset.Id} is not a readable .zip: {e.Message}", e);
        }
        finally
        {
            if (System.IO.Directory.Exists(staging)) TryDelete(staging);
        }
    }
}
