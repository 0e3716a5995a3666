using Pix2Pix.Domain.Runtime;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pix2Pix.Domain.Networks;

/// <summary>
/// A layer whose fp32 weight a training forward under CPU autocast can read from a bf16 copy the optimizer keeps
/// (<see cref="Training.FlatAdam"/> rewrites it in the same pass that updates the weight). Autocast would otherwise
/// cast every weight to bf16 in each forward and its gradient back to fp32 in backward: two more passes over all
/// the weights per step. The numbers are the same either way: the copy is the weight rounded to bf16 as autocast
/// rounds it, and its bf16 gradient is the one autocast's cast would have widened.
/// </summary>
public interface IHasTrainingWeightCopy
{
    Parameter Weight { get; }
    TrainingWeightCopy WeightCopy { get; }
}

/// <summary>The copy itself (a bf16 leaf that requires grad), or null when there is none: inference, fp32, CUDA.</summary>
public sealed class TrainingWeightCopy
{
    public Tensor? Value { get; set; }

    /// <summary>The copy inside a CPU autocast region when there is one, else the weight.</summary>
    internal Tensor For(Parameter weight) => Value is { } copy && Autocast.IsEnabledOnCpu ? copy : weight;
}
