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

    /// <summary>Keys that start with <paramref name="prefix"/>, in no particular order.</summary>
    Task<IReadOnlyList<string>> ListAsync(string prefix, CancellationToken cancellationToken = default);

    /// <summary>Throws when the store cannot be reached (readiness probe).</summary>
    Task CheckAsync(CancellationToken cancellationToken = default);
}

/// <summary>The blob keys the service uses, in one place.</summary>
public static class BlobKeys
{
    public static string Dataset(Guid datasetId) => $"datasets/{datasetId:N}/dataset.zip";
    public static string Checkpoint(Guid jobId) => $"jobs/{jobId:N}/checkpoint.zip";
    public static string Snapshot(Guid jobId, int epoch) => $"jobs/{jobId:N}/snapshots/epoch-{epoch:D4}.png";
    public static string JobPrefix(Guid jobId) => $"jobs/{jobId:N}/";
    public static string Package(Guid modelId, int version) => $"models/{modelId:N}/versions/{version:D4}.safetensors";
    public static string ModelPrefix(Guid modelId) => $"models/{modelId:N}/";
}
