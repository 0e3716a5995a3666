using Pix2Pix.Domain.Inference;

namespace Pix2Pix.Api;

/// <summary>Section <c>Inference</c>: how <c>POST /models/{id}/translate</c> runs models.</summary>
public sealed class InferenceOptions
{
    public const string Section = "Inference";

    public string Device { get; set; } = "cpu";
    public InferencePrecision Precision { get; set; } = InferencePrecision.Float32;

    /// <summary>Loaded model versions kept in memory (least recently used ones are unloaded).</summary>
    public int CachedModels { get; set; } = 4;

    /// <summary>Most bytes of model packages kept loaded (a loaded fp32 generator takes about its package's size).</summary>
    public long CachedModelBytes { get; set; } = 2L * 1024 * 1024 * 1024;
}

/// <summary>Section <c>Hangfire:Dashboard</c>.</summary>
public sealed class DashboardOptions
{
    public const string Section = "Hangfire:Dashboard";

    /// <summary>Serve the read-only dashboard to other machines too (default: loopback only).</summary>
    public bool AllowRemote { get; set; }
}
