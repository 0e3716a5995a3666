using static TorchSharp.torch;

namespace Pix2Pix.Domain.Networks;

/// <summary>
/// Dropout that draws its mask from a <see cref="Generator"/> of its own instead of libtorch's process-wide one.
/// A training run then owns its randomness (saved in checkpoints, untouched by other threads loading models or
/// translating), and paper-mode inference can seed its dropout without disturbing anybody else.
/// No parameters, so state_dict keys are those of the reference's nn.Dropout.
/// </summary>
public sealed class SeededDropout : nn.Module<Tensor, Tensor>
{
    private readonly double probability;

    public SeededDropout(double probability = 0.5) : base(nameof(SeededDropout))
    {
        this.probability = probability;
    }

    /// <summary>The source of masks; null uses libtorch's default generator.</summary>
    public Generator? Generator { get; set; }

    public override Tensor forward(Tensor input)
    {
        if (!training || probability == 0) return input.alias();
        using var noise = rand(input.shape, input.dtype, input.device, generator: Generator);
        using var keep = noise.ge(probability);
        return input.mul(keep).div_(1 - probability);
    }
}
