using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using TorchSharp.Modules;

namespace Pix2Pix.Domain.Networks;

internal static class Layers
{
    /// <summary>The reference's norm layers: BatchNorm2d(affine, running stats); InstanceNorm2d(no affine, no running stats).</summary>
    public static Module<Tensor, Tensor> Norm(NormKind kind, long channels) => kind switch
    {
        NormKind.Batch => BatchNorm2d(channels, eps: 1e-5, momentum: 0.1, affine: true, track_running_stats: true),
        NormKind.Instance => InstanceNorm2d(channels, eps: 1e-5, momentum: 0.1, affine: false, track_running_stats: false),
        _ => Identity(),
    };

    /// <summary>
    /// The reference gives convolutions followed by a norm a bias only with instance norm (BatchNorm has its own
    /// shift; with no norm the reference also leaves the bias out, and we keep that so weights stay interchangeable).
    /// </summary>
    public static bool ConvBias(NormKind kind) => kind == NormKind.Instance;

    // TorchSharp 0.107's init.normal_ ignores its generator argument and draws from the process-wide one.
    private static void Normal(Tensor parameter, double mean, double std, Generator? generator)
    {
        using var values = randn(parameter.shape, parameter.dtype, parameter.device, generator: generator);
        parameter.copy_(values.mul_(std).add_(mean));
    }

    /// <summary>The reference's <c>init_weights(init_type='normal', init_gain=0.02)</c>.</summary>
    public static void InitNormal(Module module, Generator? generator, double gain = 0.02)
    {
        using var noGrad = torch.no_grad();
        foreach (var (_, child) in module.named_modules())
        {
            switch (child)
            {
                case TorchSharp.Modules.Conv2d or TorchSharp.Modules.ConvTranspose2d or SafeConv2d or StridedConvolution or StridedTransposedConvolution:
                    foreach (var (name, parameter) in child.named_parameters(recurse: false))
                    {
                        if (name == "weight") Normal(parameter, 0.0, gain, generator);
                        else if (name == "bias") init.zeros_(parameter);
                    }
                    break;
                case TorchSharp.Modules.BatchNorm2d:
                    foreach (var (name, parameter) in child.named_parameters(recurse: false))
                    {
                        if (name == "weight") Normal(parameter, 1.0, gain, generator);
                        else if (name == "bias") init.zeros_(parameter);
                    }
                    break;
            }
        }
    }
}
