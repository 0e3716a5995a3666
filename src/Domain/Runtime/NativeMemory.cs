namespace Pix2Pix.Domain.Runtime;

/// <summary>
/// libtorch frees and reallocates hundreds of MB of activations every step. jemalloc (preloaded by the test settings,
/// the <c>dotnet run</c> launch profiles and the container images) keeps the resident set flat and made a 256² training
/// step 1.8× faster than glibc malloc here. We measured glibc alternatives and kept none: pinning its mmap threshold
/// (flat memory) made a step 8× slower, so without jemalloc the engine only says so.
/// </summary>
public static class NativeMemory
{
    private static readonly Lazy<string> Allocator = new(() => IsJemallocLoaded() ? "jemalloc" : "glibc");

    /// <summary>"jemalloc" or "glibc" (the engine's hosts log a warning for the latter).</summary>
    public static string EnsureConfigured() => Allocator.Value;

    public static bool IsJemallocLoaded()
    {
        try
        {
            return OperatingSystem.IsLinux() && File.ReadAllText("/proc/self/maps").Contains("libjemalloc", StringComparison.Ordinal);
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>Resident set size of this process in bytes (Linux), from /proc/self/statm.</summary>
    public static long ResidentBytes()
    {
        if (!OperatingSystem.IsLinux()) return Environment.WorkingSet;
        var fields = File.ReadAllText("/proc/self/statm").Split(' ');
        return long.Parse(fields[1], System.Globalization.CultureInfo.InvariantCulture) * Environment.SystemPageSize;
    }
}
