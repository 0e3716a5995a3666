using Pix2Pix.Domain.Data;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;

namespace Pix2Pix.Domain.Evaluation;

/// <summary>A PNG with one row per sample: input | output | target.</summary>
public static class SnapshotGrid
{
    public sealed record Row(float[] Input, int InputChannels, float[] Output, float[] Target, int OutputChannels, int Width, int Height);

    public static byte[] ToPng(IReadOnlyList<Row> rows)
    {
        if (rows.Count == 0) throw new ArgumentException("A snapshot needs at least one row.", nameof(rows));
        int width = rows.Max(r => r.Width), height = rows.Sum(r => r.Height);
        using var grid = new Image<Rgb24>(width * 3, height);
        int y = 0;
        foreach (var row in rows)
        {
            using var input = ImageTensors.FromChannelMajor(row.Input, row.InputChannels, row.Width, row.Height);
            using var output = ImageTensors.FromChannelMajor(row.Output, row.OutputChannels, row.Width, row.Height);
            using var target = ImageTensors.FromChannelMajor(row.Target, row.OutputChannels, row.Width, row.Height);
            int top = y;
            grid.Mutate(c => c
                .DrawImage(input, new Point(0, top), 1f)
                .DrawImage(output, new Point(width, top), 1f)
                .DrawImage(target, new Point(2 * width, top), 1f));
            y += row.Height;
        }
        using var stream = new MemoryStream();
        grid.SaveAsPng(stream);
        return stream.ToArray();
    }
}
