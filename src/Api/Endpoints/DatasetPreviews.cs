using Pix2Pix.Domain.Data;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;

namespace Pix2Pix.Api.Endpoints;

/// <summary>Small pictures of a dataset's first training pairs (A | B side by side, 96 pixels high), made once at upload.</summary>
public static class DatasetPreviews
{
    public const int Count = 4, Height = 96;

    public static IReadOnlyList<byte[]> Make(string root, DatasetLimits limits)
    {
        var previews = new List<byte[]>();
        foreach (var pair in DatasetRoot.Open(root, limits).TrainSplit.Pairs.Take(Count))
        {
            using var a = Image.Load<Rgb24>(pair.PathA);
            using var picture = pair.PathB is null ? a.Clone() : SideBySide(a, pair.PathB);
            picture.Mutate(image => image.Resize(0, Height));
            using var png = new MemoryStream();
            picture.SaveAsPng(png, new PngEncoder { CompressionLevel = PngCompressionLevel.BestSpeed });
            previews.Add(png.ToArray());
        }
        return previews;
    }

    private static Image<Rgb24> SideBySide(Image<Rgb24> a, string pathB)
    {
        using var b = Image.Load<Rgb24>(pathB);
        var both = new Image<Rgb24>(a.Width + b.Width, Math.Max(a.Height, b.Height));
        both.Mutate(image => image.DrawImage(a, new Point(0, 0), 1f).DrawImage(b, new Point(a.Width, 0), 1f));
        return both;
    }
}
