using System.IO.Compression;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace Pix2Pix.Testing;

/// <summary>
/// Tiny paired datasets for tests: A is a few flat-coloured rectangles on a background (a "label map"), B is A with
/// its colours inverted and rotated (R,G,B → 255-G, 255-B, 255-R) — a mapping far from the identity that a small U-Net
/// learns in a few hundred steps.
/// </summary>
public static class SyntheticDataset
{
    public static string CreateTempDirectory()
    {
        var path = Path.Combine(Path.GetTempPath(), "pix2pix-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(path);
        return path;
    }

    /// <summary>Writes train/ (and val/, test/ when counts &gt; 0) in the aligned or paired layout; returns the root.</summary>
    public static string Create(string root, int train = 16, int val = 4, int test = 0, int size = 32, bool paired = false, int seed = 1)
    {
        var random = new Random(seed);
        foreach (var (split, count) in new[] { ("train", train), ("val", val), ("test", test) })
        {
            if (count == 0) continue;
            for (int i = 0; i < count; i++)
            {
                using var a = LabelMap(random, size, size);
                using var b = Translate(a);
                WritePair(root, split, $"{i:D3}.png", a, b, paired);
            }
        }
        return root;
    }

    public static void WritePair(string root, string split, string name, Image<Rgb24> a, Image<Rgb24> b, bool paired)
    {
        if (paired)
        {
            Directory.CreateDirectory(Path.Combine(root, split, "A"));
            Directory.CreateDirectory(Path.Combine(root, split, "B"));
            a.SaveAsPng(Path.Combine(root, split, "A", name));
            b.SaveAsPng(Path.Combine(root, split, "B", name));
            return;
        }
        Directory.CreateDirectory(Path.Combine(root, split));
        using var aligned = new Image<Rgb24>(a.Width + b.Width, a.Height);
        for (int y = 0; y < a.Height; y++)
            for (int x = 0; x < a.Width; x++)
            {
                aligned[x, y] = a[x, y];
                aligned[a.Width + x, y] = b[x, y];
            }
        aligned.SaveAsPng(Path.Combine(root, split, name));
    }

    public static Image<Rgb24> LabelMap(Random random, int width, int height)
    {
        var image = new Image<Rgb24>(width, height, RandomColor(random));
        for (int r = 0; r < 3; r++)
        {
            var color = RandomColor(random);
            int x0 = random.Next(width), y0 = random.Next(height);
            int x1 = Math.Min(width, x0 + 4 + random.Next(width / 2)), y1 = Math.Min(height, y0 + 4 + random.Next(height / 2));
            for (int y = y0; y < y1; y++)
                for (int x = x0; x < x1; x++)
                    image[x, y] = color;
        }
        return image;
    }

    public static Image<Rgb24> Translate(Image<Rgb24> a)
    {
        var b = new Image<Rgb24>(a.Width, a.Height);
        for (int y = 0; y < a.Height; y++)
            for (int x = 0; x < a.Width; x++)
            {
                var p = a[x, y];
                b[x, y] = new Rgb24((byte)(255 - p.G), (byte)(255 - p.B), (byte)(255 - p.R));
            }
        return b;
    }

    private static Rgb24 RandomColor(Random random) => new((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256));
}

/// <summary>Zip archives of synthetic datasets, good and deliberately bad, for upload tests.</summary>
public static class TestArchives
{
    /// <summary>A .zip of a synthetic dataset (optionally inside one top-level folder).</summary>
    public static byte[] Dataset(int train = 6, int val = 2, int test = 0, int size = 32, bool paired = false, string? topFolder = null)
    {
        var root = SyntheticDataset.Create(SyntheticDataset.CreateTempDirectory(), train, val, test, size, paired);
        return Zip(root, topFolder);
    }

    public static byte[] Zip(string folder, string? topFolder = null)
    {
        using var buffer = new MemoryStream();
        using (var zip = new System.IO.Compression.ZipArchive(buffer, System.IO.Compression.ZipArchiveMode.Create, leaveOpen: true))
            foreach (var file in Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories))
            {
                var name = Path.GetRelativePath(folder, file).Replace('\\', '/');
                zip.CreateEntryFromFile(file, topFolder is null ? name : $"{topFolder}/{name}");
            }
        return buffer.ToArray();
    }

    /// <summary>A .zip with the given entries (name → bytes), for hostile archives.</summary>
    public static byte[] Entries(params (string Name, byte[] Bytes)[] entries)
    {
        using var buffer = new MemoryStream();
        using (var zip = new System.IO.Compression.ZipArchive(buffer, System.IO.Compression.ZipArchiveMode.Create, leaveOpen: true))
            foreach (var (name, bytes) in entries)
            {
                using var stream = zip.CreateEntry(name).Open();
                stream.Write(bytes);
            }
        return buffer.ToArray();
    }

    /// <summary>A PNG signature and IHDR chunk only: a valid header claiming any size, no pixel data (decompression bombs).</summary>
    public static byte[] PngHeaderOnly(int width, int height)
    {
        var chunk = new byte[17];
        "IHDR"u8.CopyTo(chunk);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(chunk.AsSpan(4), width);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(chunk.AsSpan(8), height);
        chunk[12] = 8; // bit depth
        chunk[13] = 2; // truecolour
        var png = new List<byte> { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13 };
        png.AddRange(chunk);
        var crc = new byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(crc, System.IO.Hashing.Crc32.HashToUInt32(chunk));
        png.AddRange(crc);
        return png.ToArray();
    }

    public static byte[] Png(int width, int height, int seed = 1)
    {
        using var image = SyntheticDataset.LabelMap(new Random(seed), width, height);
        using var buffer = new MemoryStream();
        image.SaveAsPng(buffer);
        return buffer.ToArray();
    }
}
