using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using TorchSharp.Modules;

namespace Pix2Pix.Domain.Networks;

/// <summary>
/// The reference's <c>NLayerDiscriminator</c>: a PatchGAN classifying overlapping patches as real or fake.
/// With 3 layers (<c>basic</c>) each output logit sees a 70×70 patch of the input.
/// </summary>
public sealed class PatchDiscriminator : Module<Tensor, Tensor>
{
    private readonly Sequential model;

    public PatchDiscriminator(int inputChannels, int filters, int layers, NormKind norm) : base(nameof(PatchDiscriminator))
    {
        if (layers < 1) throw new ArgumentOutOfRangeException(nameof(layers), "A PatchGAN needs at least one layer.");
        bool bias = Layers.ConvBias(norm);
        var sequence = new List<Module<Tensor, Tensor>>
        {
            Conv2d(inputChannels, filters, kernel_size: 4, stride: 2, padding: 1),
            LeakyReLU(0.2, inplace: true),
        };
        int multiple = 1, previous;
        for (int n = 1; n < layers; n++)
        {
            previous = multiple;
            multiple = Math.Min(1 << n, 8);
            sequence.Add(Conv2d(filters * previous, filters * multiple, kernel_size: 4, stride: 2, padding: 1, bias: bias));
            sequence.Add(Layers.Norm(norm, filters * multiple));
            sequence.Add(LeakyReLU(0.2, inplace: true));
        }
        previous = multiple;
        multiple = Math.Min(1 << layers, 8);
        sequence.Add(Conv2d(filters * previous, filters * multiple, kernel_size: 4, stride: 1, padding: 1, bias: bias));
        sequence.Add(Layers.Norm(norm, filters * multiple));
        sequence.Add(LeakyReLU(0.2, inplace: true));
        sequence.Add(new SafeConv2d(filters * multiple, 1, kernelSize: 4, padding: 1));
        model = Sequential(sequence);
        RegisterComponents();
    }

    public override Tensor forward(Tensor input) => model.forward(input);
}

/// <summary>The reference's <c>PixelDiscriminator</c>: a 1×1 PatchGAN judging each pixel.</summary>
public sealed class PixelDiscriminator : Module<Tensor, Tensor>
{
    private readonly Sequential net;

    public PixelDiscriminator(int inputChannels, int filters, NormKind norm) : base(nameof(PixelDiscriminator))
    {
        bool bias = Layers.ConvBias(norm);
        net = Sequential(
            Conv2d(inputChannels, filters, kernel_size: 1, stride: 1),
            LeakyReLU(0.2, inplace: true),
            Conv2d(filters, filters * 2, kernel_size: 1, stride: 1, bias: bias),
            Layers.Norm(norm, filters * 2),
            LeakyReLU(0.2, inplace: true),
            Conv2d(filters * 2, 1, kernel_size: 1, stride: 1, bias: bias));
        RegisterComponents();
    }

    public override Tensor forward(Tensor input) => net.forward(input);
}
