using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace Pix2Pix.Domain.Runtime;

/// <summary>Raw access to a CPU tensor's elements, which TorchSharp 0.107 offers only through element accessors.</summary>
public static partial class TensorMemory
{
    /// <summary>The address of the first element of a contiguous fp32 CPU tensor; valid while the tensor lives.</summary>
    public static unsafe float* Floats(Tensor tensor)
    {
        if (tensor.dtype != ScalarType.Float32 || tensor.device_type != TorchSharp.DeviceType.CPU || !tensor.is_contiguous())
            throw new ArgumentException("Expected a contiguous fp32 tensor on the CPU.", nameof(tensor));
        return (float*)THSTensor_data(tensor.Handle);
    }

    /// <summary>The address of the first element of a contiguous bf16 CPU tensor (raw 16-bit patterns); valid while the tensor lives.</summary>
    public static unsafe ushort* BFloat16s(Tensor tensor)
    {
        if (tensor.dtype != ScalarType.BFloat16 || tensor.device_type != TorchSharp.DeviceType.CPU || !tensor.is_contiguous())
            throw new ArgumentException("Expected a contiguous bf16 tensor on the CPU.", nameof(tensor));
        return (ushort*)THSTensor_data(tensor.Handle);
    }

    [LibraryImport("LibTorchSharp", EntryPoint = "THSTensor_data")]
    private static partial IntPtr THSTensor_data(IntPtr tensor);
}
