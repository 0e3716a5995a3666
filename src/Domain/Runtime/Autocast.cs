using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace Pix2Pix.Domain.Runtime;

/// <summary>
/// libtorch's autocast (PyTorch's <c>torch.autocast</c>), which TorchSharp 0.107 does not expose: inside a region,
/// convolutions and matrix products run in a lower precision while weights, batch norm and losses stay fp32. Reached
/// through the C++ functions <c>libtorch_cpu.so</c> exports; the flags are per thread, so a region covers only the
/// thread that opened it. Dispose ends the region as PyTorch does: the cache of low-precision weight copies is
/// cleared when the outermost region closes, so the next step casts the updated weights again. A region must end on
/// the thread that opened it (no await inside).
/// </summary>
public sealed partial class Autocast : IDisposable
{
    private const sbyte CpuDevice = 0, CudaDevice = 1;

    private readonly sbyte deviceType;
    private readonly int threadId = Environment.CurrentManagedThreadId;
    private readonly bool wasEnabled;
    private readonly sbyte previousType;

    private Autocast(sbyte deviceType, ScalarType type)
    {
        this.deviceType = deviceType;
        wasEnabled = is_autocast_enabled(deviceType);
        previousType = get_autocast_dtype(deviceType);
        set_autocast_enabled(deviceType, true);
        set_autocast_dtype(deviceType, (sbyte)type);
        increment_nesting();
    }

    /// <summary>Opens a region on this thread for <paramref name="device"/>; null (nothing to do) when <paramref name="type"/> is fp32.</summary>
    public static Autocast? Enter(Device device, ScalarType type) =>
        type == ScalarType.Float32 ? null : new Autocast(device.type == TorchSharp.DeviceType.CUDA ? CudaDevice : CpuDevice, type);

    /// <summary>Whether this thread is inside a region for the CPU (for tests).</summary>
    public static bool IsEnabledOnCpu => is_autocast_enabled(CpuDevice);

    public void Dispose()
    {
        if (Environment.CurrentManagedThreadId != threadId)
            throw new InvalidOperationException("An autocast region must end on the thread that opened it: its flags are per thread.");
        if (decrement_nesting() == 0) clear_cache();
        set_autocast_enabled(deviceType, wasEnabled);
        set_autocast_dtype(deviceType, previousType);
    }

    [LibraryImport("libtorch_cpu.so", EntryPoint = "_ZN2at8autocast20set_autocast_enabledEN3c1010DeviceTypeEb")]
    private static partial void set_autocast_enabled(sbyte deviceType, [MarshalAs(UnmanagedType.I1)] bool enabled);

    [LibraryImport("libtorch_cpu.so", EntryPoint = "_ZN2at8autocast19is_autocast_enabledEN3c1010DeviceTypeE")]
    [return: MarshalAs(UnmanagedType.I1)]
    private static partial bool is_autocast_enabled(sbyte deviceType);

    [LibraryImport("libtorch_cpu.so", EntryPoint = "_ZN2at8autocast18set_autocast_dtypeEN3c1010DeviceTypeENS1_10ScalarTypeE")]
    private static partial void set_autocast_dtype(sbyte deviceType, sbyte scalarType);

    [LibraryImport("libtorch_cpu.so", EntryPoint = "_ZN2at8autocast18get_autocast_dtypeEN3c1010DeviceTypeE")]
    private static partial sbyte get_autocast_dtype(sbyte deviceType);

    [LibraryImport("libtorch_cpu.so", EntryPoint = "_ZN2at8autocast17increment_nestingEv")]
    private static partial int increment_nesting();

    [LibraryImport("libtorch_cpu.so", EntryPoint = "_ZN2at8autocast17decrement_nestingEv")]
    private static partial int decrement_nesting();

    [LibraryImport("libtorch_cpu.so", EntryPoint = "_ZN2at8autocast11clear_cacheEv")]
    private static partial void clear_cache();
}
