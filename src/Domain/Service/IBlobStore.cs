namespace Pix2Pix.Domain.Service;

/// <summary>Where datasets, checkpoints, snapshots and model packages live: a folder or an S3 bucket.</summary>
public interface IBlobStore
{
    /// <summary>Writes a blob completely or not at all (readers never see a partial blob).</summary>
    Task PutAsync(string key, Stream content, string contentType, CancellationToken cancellationToken = default);

    Task PutFileAsync(string key, string path, string contentType, CancellationToken cancellationToken = default);

    /// <returns>The content, or null when there is no such blob.</returns>
    Task<Stream?> OpenReadAsync(string key, CancellationToken cancellationToken = default);

    /// <returns>False when there is no such blob.</returns>
    Task<bool> DownloadToFileAsync(string key, string path, CancellationToken cancellationToken = default);

    Task<bool> ExistsAsync(string key, CancellationToken cancellationToken = default);

    Task DeleteAsync(string key, CancellationToken cancellationToken = default);

    Task DeletePrefixAsync(string prefix, CancellationToken cancellationToken = default);

    /// <summary>Blobs whose keys start with <paramref name="prefix"/>, in no particular order.</summary>
    Task<IReadOnlyList<BlobItem>> ListAsync(string prefix, CancellationToken cancellationToken = default);

    /// <summary>Throws when the store cannot be reached (readiness probe).</summary>
    Task CheckAsync(CancellationToken cancellationToken = default);
}

/// <summary>A stored blob and when it was last written.</summary>
public sealed record BlobItem(string Key, DateTimeOffset LastModified);

/// <summary>The blob keys the service uses, in one place.</summary>
public static class BlobKeys
{
    /// <summary>The top-level prefixes every key below starts with (what the orphan sweep looks through).</summary>
    public static readonly IReadOnlyList<string> Roots = ["datasets/", "jobs/", "models/", "batches/"];

    public static string Dataset(Guid datasetId) => $"datasets/{datasetId:N}/dataset.zip";
    public static string DatasetPreview(Guid datasetId, int index) => $"datasets/{datasetId:N}/previews/{index}.png";
    public static string DatasetPrefix(Guid datasetId) => $"datasets/{datasetId:N}/";

    /// <summary>A key per lease: a worker that lost its lease can upload, but its upload never becomes the job's checkpoint.</summary>
    public static string Checkpoint(Guid jobId, long leaseToken) => $"{JobPrefix(jobId)}checkpoint-{leaseToken:D6}.zip";
    public static string Snapshot(Guid jobId, int epoch) => $"{JobPrefix(jobId)}snapshots/epoch-{epoch:D4}.png";
    public static string JobPrefix(Guid jobId) => $"jobs/{jobId:N}/";

    /// <summary>The package of a job's epoch: written before its version number is known, and once per epoch.</summary>
    public static string Package(Guid modelId, Guid jobId, int epoch) => $"{ModelPrefix(modelId)}jobs/{jobId:N}/epoch-{epoch:D4}.safetensors";
    public static string BatchInput(Guid batchId) => $"batches/{batchId:N}/input.zip";
    public static string BatchResult(Guid batchId) => $"batches/{batchId:N}/result.zip";

    /// <summary>The package of an imported version, one key per import.</summary>
    public static string ImportedPackage(Guid modelId, Guid importId) => $"{ModelPrefix(modelId)}imports/{importId:N}.safetensors";
    public static string ModelPrefix(Guid modelId) => $"models/{modelId:N}/";
}
