using System.Runtime.InteropServices;

namespace Pix2Pix.Domain.Runtime;

/// <summary>
/// libtorch frees and reallocates hundreds of MB of activations every step. Under glibc malloc that fragments and the
/// resident set grows every step; jemalloc (preloaded by every start script, the test settings and the images) keeps
/// it flat. When jemalloc is missing we at least pin glibc's mmap threshold, so large blocks go back to the OS when freed.
/// </summary>
public static partial class NativeMemory
{
    private const int M_TRIM_THRESHOLD = -1, M_MMAP_THRESHOLD = -3;
    private static readonly Lazy<string> ConfiguredAllocator = new(Configure);

    /// <summary>"jemalloc", "glibc (mmap threshold 1 MiB)" or "unknown"; configures glibc the first time when needed.</summary>
    public static string EnsureConfigured() => ConfiguredAllocator.Value;

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

    private static string Configure()
    {
        if (!OperatingSystem.IsLinux()) return "unknown";
        if (IsJemallocLoaded()) return "jemalloc";
        try
        {
            // A fixed threshold also turns off glibc's dynamic threshold, which otherwise rises to 32 MiB after the
            // first large free and sends activation buffers to the fragmenting heap.
            mallopt(M_MMAP_THRESHOLD, 1 << 20);
            mallopt(M_TRIM_THRESHOLD, 64 << 20);
            return "glibc (mmap threshold 1 MiB)";
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return "unknown";
        }
    }

    [LibraryImport("libc", EntryPoint = "mallopt")]
    private static partial int mallopt(int param, int value);
}
