using System.Text.Json.Serialization;
using Pix2Pix.Domain.Runtime;
using static TorchSharp.torch;

namespace Pix2Pix.Domain.Training;

/// <summary>The arithmetic a training step runs in.</summary>
public enum TrainingPrecision
{
    /// <summary>Everything in fp32.</summary>
    Fp32,

    /// <summary>Convolutions in bf16 under autocast; fp32 master weights, optimizer state, batch-norm statistics and losses.</summary>
    [JsonStringEnumMemberName("bf16-mixed")]
    Bf16Mixed,

    /// <summary><see cref="Bf16Mixed"/> where the hardware computes bf16 natively (CPUs with AVX512-BF16 or AMX, CUDA GPUs), <see cref="Fp32"/> elsewhere.</summary>
    Auto,
}

public static class TrainingPrecisions
{
    /// <summary>What <paramref name="requested"/> means on <paramref name="device"/>: never <see cref="TrainingPrecision.Auto"/>.</summary>
    public static TrainingPrecision Resolve(TrainingPrecision requested, Device device) => requested switch
    {
        TrainingPrecision.Auto => device.type == TorchSharp.DeviceType.CUDA || CpuFeatures.HasNativeBFloat16
            ? TrainingPrecision.Bf16Mixed
            : TrainingPrecision.Fp32,
        _ => requested,
    };
}
