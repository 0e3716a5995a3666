using Pix2Pix.Domain.Data;
using Pix2Pix.Domain.Networks;
using Pix2Pix.Domain.Runtime;
using SixLabors.ImageSharp;
using TorchSharp;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;
using static TorchSharp.torch;

namespace Pix2Pix.Domain.Inference;

/// <summary>How an image of any size is fitted to the generator.</summary>
public enum FitMode
{
    /// <summary>Resize to the training size, translate, resize back.</summary>
    Resize,

    /// <summary>Reflect-pad to a multiple of the generator's stride, translate fully convolutionally, crop back.</summary>
    Pad,
}

/// <summary>Numeric precision of inference on the CPU.</summary>
public enum InferencePrecision
{
    Float32,

    /// <summary>bfloat16 weights and activations in channels-last layout: faster on CPUs with AVX512-BF16, outputs differ slightly.</summary>
    BFloat16,

    /// <summary><see cref="BFloat16"/> on a CPU with native bf16 (AVX512-BF16 or AMX), <see cref="Float32"/> anywhere else.</summary>
    Auto,
}

public sealed record TranslatorOptions
{
    public string Device { get; init; } = "cpu";
    public InferencePrecision Precision { get; init; } = InferencePrecision.Float32;

    /// <summary>Seed for dropout in <see cref="InferenceMode.Paper"/>, so a model gives the same output for the same input.</summary>
    public long Seed { get; init; } = 0;

    /// <summary>
    /// <see cref="FitMode.Pad"/> above this many pixels runs tile by tile (square tiles of about this area, overlapping,
    /// blended), so memory stops growing with the image; 0 never tiles. Tiles see less context than the whole image,
    /// so a tiled output differs from an untiled one, most near tile borders.
    /// </summary>
    public long MaxPadPixels { get; init; }
}

/// <summary>Translates images with a loaded model package. Safe for concurrent callers.</summary>
public sealed class Pix2PixTranslator : IDisposable
{
    private readonly nn.Module<Tensor, Tensor> generator;
    private readonly Device device;
    private readonly TranslatorOptions options;
    private readonly int sizeMultiple;
    // Paper mode draws dropout from the global RNG and toggles module state, so those calls go one at a time.
    private readonly Lock paperModeLock = new();

    private Pix2PixTranslator(nn.Module<Tensor, Tensor> generator, ModelManifest manifest, TranslatorOptions options)
    {
        NativeMemory.EnsureConfigured();
        LibTorchContext.EnsureNnpackDisabled();
        this.generator = generator;
        this.options = options with { Precision = Resolve(options.Precision, options.Device) };
        Manifest = manifest;
        device = TorchDevices.Resolve(options.Device);
        sizeMultiple = GeneratorArchitecture.Parse(manifest.Generator).SizeMultiple;
        generator.to(device);
        if (this.options.Precision == InferencePrecision.BFloat16)
        {
            generator.to(ScalarType.BFloat16);
            using var noGrad = no_grad();
            foreach (var parameter in generator.parameters())
                if (parameter.dim() == 4) parameter.set_(ChannelsLast(parameter));
        }
        foreach (var parameter in generator.parameters()) parameter.requires_grad = false;
        if (manifest.InferenceMode == InferenceMode.Eval) generator.eval();
    }

    public ModelManifest Manifest { get; }

    /// <summary>The precision in use: <see cref="InferencePrecision.Auto"/> resolved for this machine.</summary>
    public InferencePrecision Precision => options.Precision;

    /// <summary>What <see cref="InferencePrecision.Auto"/> means on <paramref name="device"/>: bf16 only where the CPU computes it natively.</summary>
    public static InferencePrecision Resolve(InferencePrecision precision, string device) => precision switch
    {
        InferencePrecision.Auto => device.Trim().Equals("cpu", StringComparison.OrdinalIgnoreCase) && CpuFeatures.HasNativeBFloat16
            ? InferencePrecision.BFloat16
            : InferencePrecision.Float32,
        _ => precision,
    };

    public static Pix2PixTranslator Load(Stream package, TranslatorOptions? options = null)
    {
        var (generator, manifest) = ModelPackage.Load(package);
        try
        {
            return new Pix2PixTranslator(generator, manifest, options ?? new TranslatorOptions());
        }
        catch
        {
            generator.Dispose();
            throw;
        }
    }

    public static Pix2PixTranslator Load(string path, TranslatorOptions? options = null)
    {
        using var stream = File.OpenRead(path);
        return Load(stream, options);
    }

    public Image<Rgb24> Translate(Image<Rgb24> image, FitMode mode = FitMode.Resize) => TranslateBatch([image], mode)[0];

    /// <summary>
    /// Translates several images; those that reach the generator at the same size share one forward pass. In paper
    /// mode each image runs alone, so batch statistics never mix images.
    /// </summary>
    public IReadOnlyList<Image<Rgb24>> TranslateBatch(IReadOnlyList<Image<Rgb24>> images, FitMode mode = FitMode.Resize)
    {
        var results = new Image<Rgb24>[images.Count];
        var prepared = new List<(int Index, PreparedImage Image)>();
        for (int i = 0; i < images.Count; i++)
            if (RunsTiled(images[i], mode)) results[i] = TranslateTiled(images[i]);
            else prepared.Add((i, Prepare(images[i], mode)));
        var outputs = Forward(prepared.Select(p => p.Image).ToList());
        for (int i = 0; i < prepared.Count; i++) results[prepared[i].Index] = Finish(prepared[i].Image, outputs[i]);
        return results;
    }

    /// <summary>
    /// Whether <paramref name="image"/> is translated tile by tile (<see cref="TranslatorOptions.MaxPadPixels"/>); such an
    /// image goes through <see cref="TranslateBatch"/> whole, the others may also run in the three stages
    /// <see cref="Prepare"/>, <see cref="Forward"/> and <see cref="Finish"/>.
    /// </summary>
    public bool RunsTiled(Image<Rgb24> image, FitMode mode) =>
        mode == FitMode.Pad && options.MaxPadPixels > 0 && (long)image.Width * image.Height > options.MaxPadPixels;

    /// <summary>
    /// The first stage: the image resized or measured for padding, as the generator's input channels. It needs no
    /// model state, so callers run it on their own threads while another batch is in the generator.
    /// </summary>
    public PreparedImage Prepare(Image<Rgb24> image, FitMode mode)
    {
        if (RunsTiled(image, mode)) throw new ArgumentException("This image is translated tile by tile: use TranslateBatch.", nameof(image));
        int channels = Manifest.InputChannels;
        if (mode == FitMode.Resize)
        {
            int width = Manifest.TrainingWidth, height = Manifest.TrainingHeight;
            using var resized = image.Width == width && image.Height == height ? null : image.Clone(c => c.Resize(width, height, KnownResamplers.Bicubic));
            return new PreparedImage(mode, ImageTensors.ToChannelMajor(resized ?? image, 0, 0, width, height, false, channels),
                width, height, width, height, image.Width, image.Height);
        }
        return new PreparedImage(mode, ImageTensors.ToChannelMajor(image, 0, 0, image.Width, image.Height, false, channels),
            image.Width, image.Height, RoundUp(image.Width), RoundUp(image.Height), image.Width, image.Height);
    }

    /// <summary>
    /// The second stage: the generator's outputs, channel-major, one per input in order. Inputs with the same
    /// <see cref="PreparedImage.NetworkSize"/> share one forward pass (in paper mode each runs alone).
    /// </summary>
    public IReadOnlyList<float[]> Forward(IReadOnlyList<PreparedImage> images)
    {
        var outputs = new float[images.Count][];
        var indexed = images.Select((image, index) => (image, index));
        var groups = Manifest.InferenceMode == InferenceMode.Paper
            ? indexed.Select(p => new[] { p }).ToList()
            : indexed.GroupBy(p => p.image.NetworkSize).Select(g => g.ToArray()).ToList();
        foreach (var group in groups)
        {
            var groupOutputs = ForwardGroup(group.Select(p => p.image).ToArray());
            for (int i = 0; i < group.Length; i++) outputs[group[i].index] = groupOutputs[i];
        }
        return outputs;
    }

    /// <summary>The last stage: the output image at the input's size. Like <see cref="Prepare"/>, safe on any thread.</summary>
    public Image<Rgb24> Finish(PreparedImage prepared, float[] output)
    {
        if (prepared.Mode == FitMode.Pad)
            return ImageTensors.FromChannelMajor(output, Manifest.OutputChannels, prepared.Width, prepared.Height);
        var image = ImageTensors.FromChannelMajor(output, Manifest.OutputChannels, prepared.DataWidth, prepared.DataHeight);
        if (image.Width != prepared.Width || image.Height != prepared.Height)
            image.Mutate(c => c.Resize(prepared.Width, prepared.Height, KnownResamplers.Bicubic));
        return image;
    }

    /// <summary>
    /// Pad mode one tile at a time: square tiles of about <see cref="TranslatorOptions.MaxPadPixels"/> (a multiple of the
    /// generator's stride), overlapping by an eighth of a side; in each overlap the two tiles' outputs are blended with
    /// weights that fall linearly towards each tile's inner edge, so no seam shows.
    /// </summary>
    private Image<Rgb24> TranslateTiled(Image<Rgb24> image)
    {
        int side = Math.Max(sizeMultiple, (int)Math.Sqrt(options.MaxPadPixels) / sizeMultiple * sizeMultiple);
        int overlap = Math.Max(1, side / 8), width = image.Width, height = image.Height, channels = Manifest.OutputChannels;
        var sum = new float[channels * width * height];
        var weightSum = new float[width * height];
        foreach (int top in TileStarts(height, side, overlap))
            foreach (int left in TileStarts(width, side, overlap))
            {
                int tileWidth = Math.Min(side, width - left), tileHeight = Math.Min(side, height - top);
                using var tile = image.Clone(c => c.Crop(new Rectangle(left, top, tileWidth, tileHeight)));
                var output = ForwardGroup([Prepare(tile, FitMode.Pad)])[0];
                for (int y = 0; y < tileHeight; y++)
                {
                    float wy = Ramp(y, tileHeight, overlap, top > 0, top + tileHeight < height);
                    for (int x = 0; x < tileWidth; x++)
                    {
                        float weight = wy * Ramp(x, tileWidth, overlap, left > 0, left + tileWidth < width);
                        int pixel = (top + y) * width + left + x;
                        weightSum[pixel] += weight;
                        for (int c = 0; c < channels; c++) sum[c * width * height + pixel] += weight * output[(c * tileHeight + y) * tileWidth + x];
                    }
                }
            }
        for (int c = 0; c < channels; c++)
            for (int pixel = 0; pixel < width * height; pixel++) sum[c * width * height + pixel] /= weightSum[pixel];
        return ImageTensors.FromChannelMajor(sum, channels, width, height);
    }

    private static IEnumerable<int> TileStarts(int length, int side, int overlap)
    {
        for (int start = 0; ; start += side - overlap)
        {
            if (start + side >= length)
            {
                yield return Math.Max(0, length - side);
                yield break;
            }
            yield return start;
        }
    }

    /// <summary>A tile's weight along one axis: rising over the overlap from an inner edge (where another tile overlaps), 1 elsewhere.</summary>
    private static float Ramp(int position, int length, int overlap, bool neighbourBefore, bool neighbourAfter)
    {
        float weight = 1;
        if (neighbourBefore) weight = Math.Min(weight, (position + 1f) / (overlap + 1f));
        if (neighbourAfter) weight = Math.Min(weight, (length - position) / (overlap + 1f));
        return weight;
    }

    private float[][] ForwardGroup(PreparedImage[] group)
    {
        var lockTaken = false;
        if (Manifest.InferenceMode == InferenceMode.Paper) paperModeLock.Enter();
        try
        {
            lockTaken = Manifest.InferenceMode == InferenceMode.Paper;
            using var paperMode = lockTaken ? GeneratorMode.Enter(generator, InferenceMode.Paper, options.Seed) : null;
            using var scope = NewDisposeScope();
            using var inference = inference_mode();
            int channels = Manifest.InputChannels;
            var inputs = group.Select(p => Pad(tensor(p.Data, [1, channels, p.DataHeight, p.DataWidth]), p.NetworkWidth, p.NetworkHeight));
            var batch = cat(inputs.ToArray(), 0).to(device);
            if (options.Precision == InferencePrecision.BFloat16) batch = ChannelsLast(batch.to(ScalarType.BFloat16));
            var output = generator.forward(batch).to(ScalarType.Float32).cpu();
            return Enumerable.Range(0, group.Length)
                .Select(i => output[i].narrow(1, 0, group[i].DataHeight).narrow(2, 0, group[i].DataWidth).contiguous().data<float>().ToArray())
                .ToArray();
        }
        finally
        {
            if (lockTaken) paperModeLock.Exit();
        }
    }

    /// <summary>Reflect-pads on the right and bottom; repeats the reflection when the image is smaller than the padding.</summary>
    private static Tensor Pad(Tensor image, int width, int height)
    {
        while (image.shape[3] < width || image.shape[2] < height)
        {
            long right = Math.Min(width - image.shape[3], image.shape[3] - 1);
            long bottom = Math.Min(height - image.shape[2], image.shape[2] - 1);
            if (right <= 0 && bottom <= 0)
                return nn.functional.pad(image, [0, width - image.shape[3], 0, height - image.shape[2]], PaddingModes.Replicate);
            image = nn.functional.pad(image, [0, Math.Max(0, right), 0, Math.Max(0, bottom)], PaddingModes.Reflect);
        }
        return image;
    }

    private int RoundUp(int value) => (value + sizeMultiple - 1) / sizeMultiple * sizeMultiple;

    // TorchSharp has no memory_format API; permute-contiguous-permute gives the same NHWC strides.
    private static Tensor ChannelsLast(Tensor t) => t.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2);

    public void Dispose() => generator.Dispose();
}

/// <summary>An image made ready for the generator by <see cref="Pix2PixTranslator.Prepare"/>.</summary>
/// <param name="Data">Channel-major pixels, DataWidth × DataHeight: the resized image, or the original before padding.</param>
/// <param name="Width">The size of the image asked for, and of the answer.</param>
public sealed record PreparedImage(FitMode Mode, float[] Data, int DataWidth, int DataHeight, int NetworkWidth, int NetworkHeight, int Width, int Height)
{
    /// <summary>The size the generator sees; images of one size can share a forward pass.</summary>
    public (int Width, int Height) NetworkSize => (NetworkWidth, NetworkHeight);
}
