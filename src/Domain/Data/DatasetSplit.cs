using SixLabors.ImageSharp;

namespace Pix2Pix.Domain.Data;

/// <summary>One image pair of a split: either one aligned file or an A file and a B file.</summary>
public sealed record ImagePairFile(string Name, string PathA, string? PathB, int Width, int Height)
{
    /// <summary>True when A and B are the left and right halves of one file.</summary>
    public bool IsAligned => PathB is null;
}

/// <summary>
/// A folder of image pairs (a split such as <c>train/</c>), scanned and checked from the image headers when opened:
/// every problem found is reported with the file it concerns, and no pixel is decoded.
/// </summary>
public sealed class DatasetSplit
{
    public static readonly string[] ImageExtensions = [".png", ".jpg", ".jpeg"];

    private DatasetSplit(string directory, DatasetLayout layout, IReadOnlyList<ImagePairFile> pairs)
    {
        Directory = directory;
        Layout = layout;
        Pairs = pairs;
    }

    public string Directory { get; }
    public DatasetLayout Layout { get; }
    public IReadOnlyList<ImagePairFile> Pairs { get; }
    public int Count => Pairs.Count;

    /// <summary>Paired when the folder holds <c>A/</c> and <c>B/</c> sub-folders, aligned otherwise.</summary>
    public static DatasetLayout DetectLayout(string directory) =>
        System.IO.Directory.Exists(Path.Combine(directory, "A")) || System.IO.Directory.Exists(Path.Combine(directory, "B"))
            ? DatasetLayout.Paired
            : DatasetLayout.Aligned;

    /// <param name="directory">The split folder.</param>
    /// <param name="limits">Size limits checked from each header.</param>
    /// <param name="displayRoot">Paths in error messages are relative to this folder (default: the split's parent).</param>
    public static DatasetSplit Open(string directory, DatasetLimits? limits = null, string? displayRoot = null)
    {
        limits ??= new DatasetLimits();
        directory = Path.GetFullPath(directory);
        displayRoot ??= Path.GetDirectoryName(directory) ?? directory;
        string Display(string path) => Path.GetRelativePath(displayRoot, path).Replace('\\', '/');

        if (!System.IO.Directory.Exists(directory))
            throw new DatasetException("Split folder does not exist.", Display(directory));

        var layout = DetectLayout(directory);
        var pairs = new List<ImagePairFile>();
        if (layout == DatasetLayout.Aligned)
        {
            foreach (var path in ListImages(directory))
            {
                var (width, height) = ReadSize(path, limits, Display);
                if (width % 2 != 0)
                    throw new DatasetException($"Aligned images hold A and B side by side, so their width must be even; this one is {width}×{height}.", Display(path));
                pairs.Add(new ImagePairFile(Path.GetFileName(path), path, null, width / 2, height));
            }
        }
        else
        {
            string folderA = Path.Combine(directory, "A"), folderB = Path.Combine(directory, "B");
            if (!System.IO.Directory.Exists(folderA)) throw new DatasetException("Paired layout: folder A/ is missing next to B/.", Display(folderA));
            if (!System.IO.Directory.Exists(folderB)) throw new DatasetException("Paired layout: folder B/ is missing next to A/.", Display(folderB));
            var filesA = ListImages(folderA).ToDictionary(f => Path.GetFileName(f), StringComparer.Ordinal);
            var filesB = ListImages(folderB).ToDictionary(f => Path.GetFileName(f), StringComparer.Ordinal);
            foreach (var (name, pathB) in filesB)
                if (!filesA.ContainsKey(name))
                    throw new DatasetException($"No partner for this file: A/{name} is missing.", Display(pathB));
            foreach (var (name, pathA) in filesA.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                if (!filesB.TryGetValue(name, out var pathB))
                    throw new DatasetException($"No partner for this file: B/{name} is missing.", Display(pathA));
                var sizeA = ReadSize(pathA, limits, Display);
                var sizeB = ReadSize(pathB, limits, Display);
                if (sizeA != sizeB)
                    throw new DatasetException($"A and B differ in size: A/{name} is {sizeA.Width}×{sizeA.Height}, B/{name} is {sizeB.Width}×{sizeB.Height}.", Display(pathA));
                pairs.Add(new ImagePairFile(name, pathA, pathB, sizeA.Width, sizeA.Height));
            }
        }
        if (pairs.Count == 0)
            throw new DatasetException($"Split has no images ({string.Join(", ", ImageExtensions)}).", Display(directory));
        return new DatasetSplit(directory, layout, pairs);
    }

    private static IEnumerable<string> ListImages(string folder) =>
        System.IO.Directory.EnumerateFiles(folder)
            .Where(f => ImageExtensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
            .Order(StringComparer.Ordinal);

    private static (int Width, int Height) ReadSize(string path, DatasetLimits limits, Func<string, string> display)
    {
        IImageInfo? info;
        try
        {
            info = Image.Identify(path);
        }
        catch (Exception e) when (e is ImageFormatException or IOException or NotSupportedException)
        {
            throw new DatasetException($"Not a readable image: {e.Message}", display(path), e);
        }
        if (info is null)
            throw new DatasetException("Not a readable image: the format is not PNG or JPEG.", display(path));
        if (info.Width <= 0 || info.Height <= 0)
            throw new DatasetException("Image header reports an empty image.", display(path));
        if (info.Width > limits.MaxImageSide || info.Height > limits.MaxImageSide || (long)info.Width * info.Height > limits.MaxImagePixels)
            throw new DatasetException($"Image is {info.Width}×{info.Height}, over the limit of {limits.MaxImageSide} pixels a side and {limits.MaxImagePixels} pixels in all.", display(path));
        return (info.Width, info.Height);
    }
}
