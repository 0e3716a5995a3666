using static TorchSharp.torch;

namespace Pix2Pix.Domain.Runtime;

public static class TorchDevices
{
    /// <summary>Resolves <c>cpu</c>, <c>cuda</c> or <c>cuda:N</c>, failing fast when a GPU is asked for and missing.</summary>
    public static Device Resolve(string name)
    {
        name = name.Trim().ToLowerInvariant();
        if (name == "cpu") return CPU;
        if (name == "cuda" || name.StartsWith("cuda:", StringComparison.Ordinal))
        {
            if (!cuda.is_available())
                throw new InvalidOperationException(
                    $"Device '{name}' was requested but CUDA is not available: no NVIDIA GPU is visible to this process, " +
                    "or this build links the CPU libtorch (build with -p:TorchDevice=cuda for GPU images).");
            int index = name == "cuda" ? 0 : int.Parse(name.AsSpan(5), System.Globalization.CultureInfo.InvariantCulture);
            if (index >= cuda.device_count())
                throw new InvalidOperationException($"Device '{name}' was requested but only {cuda.device_count()} CUDA device(s) are visible.");
            return new Device(TorchSharp.DeviceType.CUDA, index);
        }
        throw new ArgumentException($"Unknown device '{name}': use cpu, cuda or cuda:N.", nameof(name));
    }
}
