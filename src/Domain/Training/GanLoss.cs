using static TorchSharp.torch;
using static TorchSharp.torch.nn.functional;

namespace Pix2Pix.Domain.Training;

/// <summary>The reference's GANLoss: targets 1 for real and 0 for fake, BCE with logits (vanilla) or MSE (lsgan).</summary>
public static class GanLoss
{
    public static Tensor Compute(GanMode mode, Tensor prediction, bool targetIsReal)
    {
        using var target = targetIsReal ? ones_like(prediction) : zeros_like(prediction);
        return mode switch
        {
            GanMode.Vanilla => binary_cross_entropy_with_logits(prediction, target),
            GanMode.Lsgan => mse_loss(prediction, target),
            _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, "Unknown GAN mode."),
        };
    }
}
