using Pix2Pix.Domain.Inference;

namespace Pix2Pix.Api;

/// <summary>Section <c>Uploads</c>: what the API accepts before it reads a byte further.</summary>
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
}

/// <summary>Section <c>Inference</c>: how <c>POST /models/{id}/translate</c> runs models.</summary>
public sealed class InferenceOptions
{
    public const string Section = "Inference";

    public string Device { get; set; } = "cpu";
    public InferencePrecision Precision { get; set; } = InferencePrecision.Float32;

    /// <summary>Loaded model versions kept in memory (least recently used ones are unloaded).</summary>
    public int CachedModels { get; set; } = 4;
}

/// <summary>Section <c>Hangfire:Dashboard</c>.</summary>
public sealed class DashboardOptions
{
    public const string Section = "Hangfire:Dashboard";

    /// <summary>Serve the read-only dashboard to other machines too (default: loopback only).</summary>
    public bool AllowRemote { get; set; }
}
