using Pix2Pix.Domain.Data;

namespace Pix2Pix.Infrastructure;

/// <summary>
/// Section <c>Uploads</c>: what the API accepts before it reads a byte further. Workers check a dataset's archive
/// against the same limits, so a dataset accepted at upload is never refused by the training that uses it.
/// </summary>
public sealed class UploadOptions
{
    public const string Section = "Uploads";

    /// <summary>Largest dataset archive (413 above).</summary>
    public long MaxDatasetBytes { get; set; } = 2L * 1024 * 1024 * 1024;
    public int MaxArchiveEntries { get; set; } = 100_000;
    public long MaxUncompressedBytes { get; set; } = 8L * 1024 * 1024 * 1024;

    /// <summary>Largest image sent to translate (413 above).</summary>
    public long MaxImageBytes { get; set; } = 50L * 1024 * 1024;

    /// <summary>Largest image in pixels, checked from the header before decoding (datasets and translate).</summary>
    public long MaxImagePixels { get; set; } = 4096L * 4096;
    public int MaxImageSide { get; set; } = 8192;

    /// <summary>Largest weights file <c>POST /models/import</c> accepts (a unet_256 .pth is about 218 MB).</summary>
    public long MaxModelBytes { get; set; } = 1024L * 1024 * 1024;

    /// <summary>Dataset uploads one process receives at once; beyond it 503 with Retry-After.</summary>
    public int MaxConcurrent { get; set; } = 2;

    public DatasetLimits ToImageLimits() => new() { MaxImagePixels = MaxImagePixels, MaxImageSide = MaxImageSide };

    public ArchiveLimits ToArchiveLimits() => new()
    {
        MaxEntries = MaxArchiveEntries,
        MaxUncompressedBytes = MaxUncompressedBytes,
        MaxEntryBytes = Math.Min(MaxUncompressedBytes, 512L * 1024 * 1024),
        Images = ToImageLimits(),
    };
}
