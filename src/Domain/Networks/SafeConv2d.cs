using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn.functional;

namespace Pix2Pix.Domain.Networks;

/// <summary>
/// A stride-1 Conv2d computed as the equivalent transposed convolution of its flipped, transposed kernel.
/// libtorch 2.10's oneDNN backward-data kernel for stride-1 convolutions with kernels larger than 3×3 reads
/// uninitialized memory (multiplied by zero, so NaN garbage poisons the gradient: training collapses to NaN at a
/// random step). In this form the input gradient is an ordinary forward convolution. Same parameters, shapes and
/// state_dict keys as Conv2d, same results to float rounding.
/// </summary>
public sealed class SafeConv2d : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly Parameter? bias;
    private readonly long[] stride = [1, 1];
    private readonly long[] transposedPadding;

    public SafeConv2d(long inputChannels, long outputChannels, long kernelSize, long padding, bool bias = true)
        : base(nameof(SafeConv2d))
    {
        if (padding > kernelSize - 1) throw new ArgumentOutOfRangeException(nameof(padding), "Padding must be smaller than the kernel.");
        weight = new Parameter(zeros(outputChannels, inputChannels, kernelSize, kernelSize));
        this.bias = bias ? new Parameter(zeros(outputChannels)) : null;
        transposedPadding = [kernelSize - 1 - padding, kernelSize - 1 - padding];
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        using var kernel = weight.flip(2, 3).transpose(0, 1);
        return conv_transpose2d(input, kernel, bias, stride, transposedPadding);
    }
}
