namespace Pix2Pix.Domain.Runtime;

/// <summary>What the CPU can do that .NET's intrinsics do not report.</summary>
public static class CpuFeatures
{
    private static readonly Lazy<bool> NativeBFloat16 = new(() => HasAnyFlag("avx512_bf16", "amx_bf16"));

    /// <summary>AVX512-BF16 or AMX-BF16, from the kernel's CPU flags (Linux); false where they cannot be read.</summary>
    public static bool HasNativeBFloat16 => NativeBFloat16.Value;

    private static bool HasAnyFlag(params string[] wanted)
    {
        try
        {
            var flags = File.ReadLines("/proc/cpuinfo").FirstOrDefault(line => line.StartsWith("flags", StringComparison.Ordinal));
            return flags is not null && flags.Split(' ', StringSplitOptions.RemoveEmptyEntries).Intersect(wanted).Any();
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }
}
