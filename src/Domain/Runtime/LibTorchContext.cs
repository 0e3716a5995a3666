using System.Runtime.InteropServices;

namespace Pix2Pix.Domain.Runtime;

/// <summary>
/// Process-wide libtorch settings TorchSharp does not expose, reached through libtorch's exported C++ symbols
/// (Itanium ABI: a member function takes the object as its first argument).
/// </summary>
public static partial class LibTorchContext
{
    private static readonly Lazy<bool> NnpackDisabled = new(DisableNnpack);

    /// <summary>
    /// NNPACK cannot initialise on CPUs it does not know (our AMD EPYC build hosts among them) and then logs a warning
    /// on every 1×1 convolution (the pixel discriminator); libtorch falls back to its other kernels anyway.
    /// Returns false when the symbols are not there (another libtorch build), which is harmless.
    /// </summary>
    public static bool EnsureNnpackDisabled() => NnpackDisabled.Value;

    private static bool DisableNnpack()
    {
        try
        {
            setUserEnabledNNPACK(globalContext(), false);
            return true;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    [LibraryImport("libtorch_cpu.so", EntryPoint = "_ZN2at13globalContextEv")]
    private static partial IntPtr globalContext();

    [LibraryImport("libtorch_cpu.so", EntryPoint = "_ZN2at7Context20setUserEnabledNNPACKEb")]
    private static partial void setUserEnabledNNPACK(IntPtr context, [MarshalAs(UnmanagedType.I1)] bool enabled);
}
