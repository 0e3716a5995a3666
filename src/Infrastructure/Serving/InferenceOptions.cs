using Pix2Pix.Domain.Inference;
using SixLabors.ImageSharp.Formats.Png;

namespace Pix2Pix.Infrastructure.Serving;

/// <summary>Section <c>Inference</c>: how translations run (<c>POST /models/{id}/translate</c> and batch translations).</summary>
public sealed class InferenceOptions
{
    public const string Section = "Inference";

    public string Device { get; set; } = "cpu";
    /// <summary><c>Auto</c>: bf16 where the CPU computes it natively (AVX512-BF16, AMX), fp32 elsewhere.</summary>
    public InferencePrecision Precision { get; set; } = InferencePrecision.Auto;

    /// <summary>Loaded model versions kept in memory (least recently used ones are unloaded).</summary>
    public int CachedModels { get; set; } = 4;

    /// <summary>Most bytes of model packages kept loaded (a loaded fp32 generator takes about its package's size).</summary>
    public long CachedModelBytes { get; set; } = 2L * 1024 * 1024 * 1024;

    /// <summary>Most images of one model version that reach the generator at one size and share a forward pass.</summary>
    public int MaxBatch { get; set; } = 8;

    /// <summary>How long an idle executor waits for more requests to batch with the first one.</summary>
    public TimeSpan MaxBatchDelay { get; set; } = TimeSpan.FromMilliseconds(2);

    /// <summary>Most translate requests waiting for a forward pass; beyond it requests get 503 with Retry-After at once.</summary>
    public int MaxQueue { get; set; } = 8;

    /// <summary>
    /// <c>mode=pad</c> above this many pixels runs in overlapping tiles of about this area, so a request's memory no longer
    /// grows with its image; at or below it the output is exactly the untiled one. 0 never tiles.
    /// </summary>
    public long MaxPadPixels { get; set; } = 1024 * 1024;

    /// <summary>Models whose default versions are loaded at start, before <c>/healthz/ready</c> turns green.</summary>
    public List<Guid> Preload { get; set; } = [];

    /// <summary>
    /// Deflate level of translate's PNG answers. <c>NoCompression</c> costs a fraction of a millisecond for a 256² image
    /// where ImageSharp's fastest level costs several, on the same cores as the forward passes; the answer is about twice
    /// as large. <c>Accept: image/jpeg</c> gets a small answer.
    /// </summary>
    public PngCompressionLevel PngCompression { get; set; } = PngCompressionLevel.NoCompression;

    /// <summary>A request that waited longer than this for its forward pass gets 503 with Retry-After.</summary>
    public TimeSpan QueueTimeout { get; set; } = TimeSpan.FromSeconds(5);
}
