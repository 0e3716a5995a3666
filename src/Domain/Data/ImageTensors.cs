using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace Pix2Pix.Domain.Data;

/// <summary>Conversions between 8-bit images and channel-major floats in [-1, 1] (the reference's ToTensor + Normalize(0.5, 0.5)).</summary>
public static class ImageTensors
{
    /// <summary>Reads a width×height window at (x, y), optionally mirrored, as 1 (ITU-R 601 luma, like PIL's 'L') or 3 channels.</summary>
    public static float[] ToChannelMajor(Image<Rgb24> image, int x, int y, int width, int height, bool flip, int channels)
    {
        var data = new float[channels * width * height];
        int plane = width * height;
        image.ProcessPixelRows(accessor =>
        {
            for (int row = 0; row < height; row++)
            {
                var pixels = accessor.GetRowSpan(y + row).Slice(x, width);
                int offset = row * width;
                for (int col = 0; col < width; col++)
                {
                    var p = pixels[flip ? width - 1 - col : col];
                    if (channels == 1)
                    {
                        data[offset + col] = Scale((p.R * 299 + p.G * 587 + p.B * 114) / 1000f);
                    }
                    else
                    {
                        data[offset + col] = Scale(p.R);
                        data[plane + offset + col] = Scale(p.G);
                        data[2 * plane + offset + col] = Scale(p.B);
                    }
                }
            }
        });
        return data;
    }

    /// <summary>Writes channel-major floats in [-1, 1] (1 or 3 channels) into a new RGB image.</summary>
    public static Image<Rgb24> FromChannelMajor(ReadOnlySpan<float> data, int channels, int width, int height)
    {
        var image = new Image<Rgb24>(width, height);
        int plane = width * height;
        var copy = data.ToArray();
        image.ProcessPixelRows(accessor =>
        {
            for (int row = 0; row < height; row++)
            {
                var pixels = accessor.GetRowSpan(row);
                int offset = row * width;
                for (int col = 0; col < width; col++)
                {
                    byte r = ToByte(copy[offset + col]);
                    pixels[col] = channels == 1
                        ? new Rgb24(r, r, r)
                        : new Rgb24(r, ToByte(copy[plane + offset + col]), ToByte(copy[2 * plane + offset + col]));
                }
            }
        });
        return image;
    }

    private static float Scale(float value) => value / 127.5f - 1f;

    // The reference's tensor2im: (x + 1) / 2 * 255, truncated after clamping.
    private static byte ToByte(float value) => (byte)Math.Clamp((value + 1f) * 127.5f, 0f, 255f);
}
