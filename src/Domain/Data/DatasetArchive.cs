using System.IO.Compression;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace Pix2Pix.Domain.Data;

/// <summary>Limits on an uploaded archive, checked while reading its directory and while extracting.</summary>
public sealed record ArchiveLimits
{
    public int MaxEntries { get; init; } = 100_000;
    public long MaxUncompressedBytes { get; init; } = 8L * 1024 * 1024 * 1024;
    public long MaxEntryBytes { get; init; } = 256L * 1024 * 1024;
    public DatasetLimits Images { get; init; } = new();
}

/// <summary>What a validated dataset holds.</summary>
public sealed record DatasetSummary(DatasetLayout Layout, int Train, int Val, int Test, int? Width, int? Height);

/// <summary>
/// Turns an uploaded .zip into a dataset folder: rejects entries that escape the target folder (zip slip), archives
/// over the entry-count or size limits (zip bombs: declared sizes are checked first, and the bytes actually written
/// are counted), then applies every data rule of <see cref="DatasetRoot"/> and decodes every image once.
/// The archive may hold <c>train/</c> (and <c>val/</c>, <c>test/</c>) at its top or inside one top-level folder.
/// </summary>
public static class DatasetArchive
{
    /// <param name="decodeImages">
    /// Decode every image once (uploads). A worker unpacking an archive that was validated at upload checks the
    /// archive and the headers again but leaves the pixels to training, which names any file it cannot decode.
    /// </param>
    /// <returns>The dataset root inside <paramref name="targetDirectory"/> and its summary.</returns>
    public static (string Root, DatasetSummary Summary) ExtractAndValidate(Stream zip, string targetDirectory, ArchiveLimits limits, bool decodeImages = true)
    {
        Extract(zip, targetDirectory, limits);
        var root = FindRoot(Path.GetFullPath(targetDirectory));
        var dataset = DatasetRoot.Open(root, limits.Images);
        if (decodeImages) DecodeAll(dataset);
        var first = dataset.TrainSplit.Pairs[0];
        bool oneSize = dataset.TrainSplit.Pairs.All(p => p.Width == first.Width && p.Height == first.Height);
        return (root, new DatasetSummary(dataset.Layout, dataset.TrainSplit.Count, dataset.ValSplit?.Count ?? 0, dataset.TestSplit?.Count ?? 0,
            oneSize ? first.Width : null, oneSize ? first.Height : null));
    }

    /// <summary>
    /// Extracts a .zip into <paramref name="targetDirectory"/> safely: no entry outside it (zip slip), the entry count
    /// from the end record and the declared sizes checked before anything is written, the bytes written counted (zip
    /// bombs), macOS metadata skipped. Errors name the entry.
    /// </summary>
    public static void Extract(Stream zip, string targetDirectory, ArchiveLimits limits)
    {
        Directory.CreateDirectory(targetDirectory);
        var target = Path.GetFullPath(targetDirectory) + Path.DirectorySeparatorChar;
        if (ZipEndRecord.DeclaredEntries(zip) is { } declaredEntries && declaredEntries > limits.MaxEntries)
            throw new DatasetException($"The archive declares {declaredEntries} entries; the limit is {limits.MaxEntries}.");
        ZipArchive archive;
        try
        {
            archive = new ZipArchive(zip, ZipArchiveMode.Read, leaveOpen: true);
        }
        catch (InvalidDataException e)
        {
            throw new DatasetException($"The upload is not a readable .zip archive: {e.Message}", inner: e);
        }
        using (archive)
        {
            IReadOnlyCollection<ZipArchiveEntry> entries;
            try
            {
                entries = archive.Entries;
            }
            catch (InvalidDataException e)
            {
                throw new DatasetException($"The .zip archive is corrupt: {e.Message}", inner: e);
            }
            if (entries.Count > limits.MaxEntries)
                throw new DatasetException($"The archive has {entries.Count} entries; the limit is {limits.MaxEntries}.");
            long declared = 0;
            foreach (var entry in entries)
            {
                declared += entry.Length;
                if (entry.Length > limits.MaxEntryBytes)
                    throw new DatasetException($"The entry is {entry.Length} bytes uncompressed; the limit is {limits.MaxEntryBytes}.", entry.FullName);
                if (declared > limits.MaxUncompressedBytes)
                    throw new DatasetException($"The archive expands to more than {limits.MaxUncompressedBytes} bytes.");
            }

            long written = 0;
            foreach (var entry in entries)
            {
                var destination = Path.GetFullPath(Path.Combine(target, entry.FullName));
                if (!destination.StartsWith(target, StringComparison.Ordinal) || Path.IsPathRooted(entry.FullName))
                    throw new DatasetException("The entry points outside the archive's folder.", entry.FullName);
                if (entry.FullName.EndsWith('/') || entry.FullName.EndsWith('\\'))
                {
                    Directory.CreateDirectory(destination);
                    continue;
                }
                if (IsIgnored(entry.FullName)) continue;
                Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
                try
                {
                    using var source = entry.Open();
                    using var file = new FileStream(destination, FileMode.CreateNew, FileAccess.Write);
                    written += CopyWithLimit(source, file, Math.Min(limits.MaxEntryBytes, limits.MaxUncompressedBytes - written), entry.FullName);
                }
                catch (InvalidDataException e)
                {
                    throw new DatasetException($"The entry cannot be decompressed: {e.Message}", entry.FullName, e);
                }
                catch (IOException e) when (File.Exists(destination))
                {
                    throw new DatasetException($"The archive holds this file twice: {e.Message}", entry.FullName, e);
                }
            }
        }
    }

    /// <summary>
    /// The images of an extracted archive of images to translate (any folders; PNG and JPEG by extension), as paths
    /// relative to <paramref name="folder"/>. <paramref name="checkImages"/>: each checked from its header against the
    /// limits and decoded once (at submission; the batch that runs later decodes each image anyway).
    /// </summary>
    public static IReadOnlyList<string> ImagesToTranslate(string folder, DatasetLimits limits, bool checkImages = true)
    {
        var root = Path.GetFullPath(folder);
        var images = Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
            .Where(f => DatasetSplit.ImageExtensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
            .Select(f => Path.GetRelativePath(root, f).Replace('\\', '/'))
            .Where(name => !IsIgnored(name))
            .Order(StringComparer.Ordinal)
            .ToList();
        if (images.Count == 0) throw new DatasetException("The archive holds no PNG or JPEG images.");
        var sameOutput = images.GroupBy(name => Path.ChangeExtension(name, ".png"), StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (sameOutput is not null)
            throw new DatasetException($"{string.Join(" and ", sameOutput)} would both be translated to {sameOutput.Key}; rename one.", sameOutput.First());
        if (!checkImages) return images;
        try
        {
            Parallel.ForEach(images, name => CheckImageToTranslate(root, name, limits));
        }
        catch (AggregateException e) when (e.InnerExceptions.OfType<DatasetException>().FirstOrDefault() is { } first)
        {
            throw first;
        }
        return images;
    }

    /// <summary>Only the formats translate accepts: a file in any other format is never handed to another decoder.</summary>
    private static readonly Configuration PngAndJpeg = new(new SixLabors.ImageSharp.Formats.Png.PngConfigurationModule(),
        new SixLabors.ImageSharp.Formats.Jpeg.JpegConfigurationModule());

    private static void CheckImageToTranslate(string root, string name, DatasetLimits limits)
    {
        var path = Path.Combine(root, name);
        IImageInfo? info;
        try
        {
            using var file = File.OpenRead(path);
            info = Image.Identify(PngAndJpeg, file);
            if (info is { Width: > 0, Height: > 0 } && info.Width <= limits.MaxImageSide && info.Height <= limits.MaxImageSide
                && (long)info.Width * info.Height <= limits.MaxImagePixels)
            {
                file.Position = 0;
                using var decoded = Image.Load<Rgb24>(PngAndJpeg, file);
                return;
            }
        }
        // Decoders meet hostile and truncated files: any failure to read one is about that file.
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new DatasetException($"Not a readable image: {e.Message}", name, e);
        }
        throw new DatasetException(info is null
            ? "Not a readable image: the format is not PNG or JPEG."
            : $"Image is {info.Width}×{info.Height}, over the limit of {limits.MaxImageSide} pixels a side and {limits.MaxImagePixels} pixels in all.", name);
    }

    /// <summary>Decodes every image once, so files whose header is fine but whose pixels are not are found now.</summary>
    public static void DecodeAll(DatasetRoot dataset)
    {
        foreach (var split in new[] { dataset.TrainSplit, dataset.ValSplit, dataset.TestSplit })
        {
            if (split is null) continue;
            Parallel.ForEach(split.Pairs.SelectMany(p => p.PathB is null ? [p.PathA] : new[] { p.PathA, p.PathB }), path =>
            {
                try
                {
                    using var image = Image.Load<Rgb24>(path);
                }
                catch (Exception e) when (e is ImageFormatException or IOException or NotSupportedException)
                {
                    throw new DatasetException($"Not a readable image: {e.Message}", Path.GetRelativePath(dataset.Directory, path).Replace('\\', '/'), e);
                }
            });
        }
    }

    // macOS archivers add these; they are not part of the dataset.
    private static bool IsIgnored(string name) =>
        name.StartsWith("__MACOSX/", StringComparison.Ordinal) || Path.GetFileName(name).StartsWith("._", StringComparison.Ordinal)
        || Path.GetFileName(name) == ".DS_Store";

    private static string FindRoot(string extracted)
    {
        if (Directory.Exists(Path.Combine(extracted, DatasetRoot.Train))) return extracted;
        var folders = Directory.GetDirectories(extracted).Where(d => Path.GetFileName(d) != "__MACOSX").ToList();
        if (folders.Count == 1 && Directory.Exists(Path.Combine(folders[0], DatasetRoot.Train))) return folders[0];
        throw new DatasetException("The archive has no train/ folder (expected train/, and optionally val/ and test/, at its top or inside one folder).", "train/");
    }

    private static long CopyWithLimit(Stream source, Stream destination, long limit, string name)
    {
        var buffer = new byte[81920];
        long total = 0;
        int read;
        while ((read = source.Read(buffer)) > 0)
        {
            total += read;
            if (total > limit)
                throw new DatasetException("The entry expands beyond its declared size or the archive's size limit.", name);
            destination.Write(buffer, 0, read);
        }
        return total;
    }
}
