using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn.functional;

namespace Pix2Pix.Domain.Networks;

/// <summary>
/// A stride-1 Conv2d whose output channels are computed in multiples of 16 (extra channels have zero weights and
/// are cut off). libtorch 2.10's oneDNN backward-data kernel for stride-1 convolutions with kernels over 3×3 reads
/// the channel padding of its 16-channel blocks uninitialized when the output channels are not a multiple of 16
/// (the discriminator's 1-channel output, the ResNet's 3-channel image): NaN garbage there makes a NaN gradient and
/// training collapses at a random step. Same parameters, shapes and state_dict keys as Conv2d.
/// </summary>
public sealed class SafeConv2d : nn.Module<Tensor, Tensor>
{
    private const long ChannelBlock = 16;
    private readonly Parameter weight;
    private readonly Parameter? bias;
    private readonly long outputChannels;
    private readonly long extraChannels;
    private readonly long[] stride = [1, 1];
    private readonly long[] padding;

    public SafeConv2d(long inputChannels, long outputChannels, long kernelSize, long padding, bool bias = true)
        : base(nameof(SafeConv2d))
    {
        this.outputChannels = outputChannels;
        extraChannels = (ChannelBlock - outputChannels % ChannelBlock) % ChannelBlock;
        this.padding = [padding, padding];
        weight = new Parameter(zeros(outputChannels, inputChannels, kernelSize, kernelSize));
        this.bias = bias ? new Parameter(zeros(outputChannels)) : null;
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        if (extraChannels == 0) return conv2d(input, weight, bias, stride, padding);
        using var paddedWeight = pad(weight, [0, 0, 0, 0, 0, 0, 0, extraChannels]);
        using var paddedBias = bias is null ? null : pad(bias, [0, extraChannels]);
        using var output = conv2d(input, paddedWeight, paddedBias, stride, padding);
        return output.narrow(1, 0, outputChannels);
    }
}
