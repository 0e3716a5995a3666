using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;

namespace Pix2Pix.Domain.Data;

/// <summary>Decodes pairs of a split and applies the reference's preprocessing with the same jitter for A and B.</summary>
public sealed class SampleLoader
{
    private readonly DatasetSplit split;
    private readonly SampleOptions options;
    private readonly string displayRoot;

    public SampleLoader(DatasetSplit split, SampleOptions options)
    {
        this.split = split;
        this.options = options;
        displayRoot = Path.GetDirectoryName(split.Directory) ?? split.Directory;
    }

    public DatasetSplit Split => split;

    /// <summary>The size a pair of this size is resized to before cropping: training (loadSize) or evaluation (cropSize).</summary>
    public (int Width, int Height) ResizedSize(int width, int height, bool training)
    {
        int load = training ? options.LoadSize : options.CropSize;
        int multiple = options.SizeMultiple;
        return options.Preprocess switch
        {
            Preprocess.ResizeAndCrop => (load, load),
            Preprocess.ScaleWidth => (RoundTo(load, multiple), RoundTo((int)Math.Round((double)load * height / width), multiple)),
            Preprocess.None => (RoundTo(width, multiple), RoundTo(height, multiple)),
            _ => (width, height),
        };
    }

    /// <summary>The size of the tensors a pair of this size becomes.</summary>
    public (int Width, int Height) OutputSize(int width, int height, bool training) => options.Preprocess switch
    {
        Preprocess.ResizeAndCrop or Preprocess.Crop => (options.CropSize, options.CropSize),
        _ => ResizedSize(width, height, training),
    };

    /// <summary>Random crop origin and flip for sample <paramref name="index"/> in <paramref name="epoch"/>: a pure function of its arguments.</summary>
    public Jitter DrawJitter(int index, long seed, long epoch)
    {
        var pair = split.Pairs[index];
        var (resizedWidth, resizedHeight) = ResizedSize(pair.Width, pair.Height, training: true);
        var (width, height) = OutputSize(pair.Width, pair.Height, training: true);
        int x = SplitMix64.Below(SplitMix64.Hash(seed, epoch, index, 1), resizedWidth - width + 1);
        int y = SplitMix64.Below(SplitMix64.Hash(seed, epoch, index, 2), resizedHeight - height + 1);
        bool flip = options.Flip && (SplitMix64.Hash(seed, epoch, index, 3) & 1) == 1;
        return new Jitter(x, y, flip);
    }

    /// <summary>Loads a pair with training jitter, or for evaluation (<see cref="Jitter.None"/>: resize to cropSize, centre crop, no flip).</summary>
    public PairSample Load(int index, Jitter jitter)
    {
        var pair = split.Pairs[index];
        bool training = jitter != Jitter.None;
        var (resizedWidth, resizedHeight) = ResizedSize(pair.Width, pair.Height, training);
        var (width, height) = OutputSize(pair.Width, pair.Height, training);
        if (!training) jitter = new Jitter((resizedWidth - width) / 2, (resizedHeight - height) / 2, false);

        using var imageA = Decode(pair.PathA);
        using var imageB = pair.PathB is null ? null : Decode(pair.PathB);
        var rectA = new Rectangle(0, 0, pair.Width, pair.Height);
        var rectB = pair.IsAligned ? new Rectangle(pair.Width, 0, pair.Width, pair.Height) : rectA;
        var a = ToTensorData(imageA, rectA, resizedWidth, resizedHeight, width, height, jitter, ChannelsOf(isA: true));
        var b = ToTensorData(imageB ?? imageA, rectB, resizedWidth, resizedHeight, width, height, jitter, ChannelsOf(isA: false));
        return options.Direction == Direction.AtoB
            ? new PairSample(pair.Name, a, b, height, width, options.InputChannels, options.OutputChannels)
            : new PairSample(pair.Name, b, a, height, width, options.InputChannels, options.OutputChannels);
    }

    private int ChannelsOf(bool isA) => (isA == (options.Direction == Direction.AtoB)) ? options.InputChannels : options.OutputChannels;

    private Image<Rgb24> Decode(string path)
    {
        try
        {
            return Image.Load<Rgb24>(path);
        }
        catch (Exception e) when (e is ImageFormatException or IOException or NotSupportedException)
        {
            throw new DatasetException($"Not a readable image: {e.Message}", Path.GetRelativePath(displayRoot, path).Replace('\\', '/'), e);
        }
    }

    private static float[] ToTensorData(Image<Rgb24> image, Rectangle region, int resizedWidth, int resizedHeight,
        int width, int height, Jitter jitter, int channels)
    {
        Image<Rgb24>? resized = null;
        if (resizedWidth != region.Width || resizedHeight != region.Height)
        {
            resized = image.Clone(c => c.Crop(region).Resize(resizedWidth, resizedHeight, KnownResamplers.Bicubic));
            region = new Rectangle(0, 0, resizedWidth, resizedHeight);
        }
        try
        {
            return ImageTensors.ToChannelMajor(resized ?? image, region.X + jitter.CropX, region.Y + jitter.CropY, width, height, jitter.Flip, channels);
        }
        finally
        {
            resized?.Dispose();
        }
    }

    private static int RoundTo(int value, int multiple) => Math.Max(multiple, (int)Math.Round((double)value / multiple) * multiple);
}
