using System.Globalization;

namespace Pix2Pix.Domain.Networks;

/// <summary>A parsed generator name: <c>unet_N</c> or <c>resnet_Kblocks</c>.</summary>
public sealed record GeneratorArchitecture(bool IsUnet, int Downsamplings, int ResidualBlocks)
{
    /// <summary>Spatial sizes the generator accepts must be multiples of this.</summary>
    public int SizeMultiple => IsUnet ? 1 << Downsamplings : 4;

    public static GeneratorArchitecture Parse(string name)
    {
        if (TryParse(name, out var architecture, out var error)) return architecture;
        throw new ArgumentException(error, nameof(name));
    }

    public static bool TryParse(string? name, out GeneratorArchitecture architecture, out string error)
    {
        architecture = new GeneratorArchitecture(true, 8, 0);
        error = "";
        name = name?.Trim().ToLowerInvariant() ?? "";
        if (name.StartsWith("unet_", StringComparison.Ordinal)
            && int.TryParse(name.AsSpan(5), NumberStyles.None, CultureInfo.InvariantCulture, out var size))
        {
            if (size < 32 || size > 4096 || (size & (size - 1)) != 0)
            {
                error = $"Generator '{name}': N in unet_N must be a power of two from 32 to 4096.";
                return false;
            }
            architecture = new GeneratorArchitecture(true, int.Log2(size), 0);
            return true;
        }
        if (name is "resnet_9blocks" or "resnet_6blocks")
        {
            architecture = new GeneratorArchitecture(false, 2, name == "resnet_9blocks" ? 9 : 6);
            return true;
        }
        error = $"Unknown generator '{name}': use unet_N (unet_256, unet_128, ...), resnet_9blocks or resnet_6blocks.";
        return false;
    }
}
