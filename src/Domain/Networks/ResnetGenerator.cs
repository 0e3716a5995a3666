using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using TorchSharp.Modules;

namespace Pix2Pix.Domain.Networks;

/// <summary>The reference's <c>ResnetGenerator</c>: 2 downsamplings, K residual blocks, 2 upsamplings (Johnson et al.).</summary>
public sealed class ResnetGenerator : Module<Tensor, Tensor>
{
    private readonly Sequential model;

    public ResnetGenerator(int inputChannels, int outputChannels, int blocks, int filters, NormKind norm, bool dropout)
        : base(nameof(ResnetGenerator))
    {
        bool bias = Layers.ConvBias(norm);
        var layers = new List<Module<Tensor, Tensor>>
        {
            ReflectionPad2d(3),
            // The input image needs no gradient, so the plain Conv2d is safe here (see SafeConv2d).
            Conv2d(inputChannels, filters, kernel_size: 7, bias: bias),
            Layers.Norm(norm, filters),
            ReLU(inplace: true),
        };
        for (int i = 0; i < 2; i++)
        {
            int multiple = 1 << i;
            layers.Add(Conv2d(filters * multiple, filters * multiple * 2, kernel_size: 3, stride: 2, padding: 1, bias: bias));
            layers.Add(Layers.Norm(norm, filters * multiple * 2));
            layers.Add(ReLU(inplace: true));
        }
        for (int i = 0; i < blocks; i++)
            layers.Add(new ResnetBlock(filters * 4, norm, dropout, bias));
        for (int i = 0; i < 2; i++)
        {
            int multiple = 1 << (2 - i);
            layers.Add(ConvTranspose2d(filters * multiple, filters * multiple / 2, kernel_size: 3, stride: 2, padding: 1,
                output_padding: 1, bias: bias));
            layers.Add(Layers.Norm(norm, filters * multiple / 2));
            layers.Add(ReLU(inplace: true));
        }
        layers.Add(ReflectionPad2d(3));
        layers.Add(new SafeConv2d(filters, outputChannels, kernelSize: 7, padding: 0));
        layers.Add(Tanh());
        model = Sequential(layers);
        RegisterComponents();
    }

    public override Tensor forward(Tensor input) => model.forward(input);
}

/// <summary>A residual block with reflection padding: x + conv-norm-relu-(dropout)-conv-norm(x).</summary>
public sealed class ResnetBlock : Module<Tensor, Tensor>
{
    private readonly Sequential conv_block;

    public ResnetBlock(int channels, NormKind norm, bool dropout, bool bias) : base(nameof(ResnetBlock))
    {
        var layers = new List<Module<Tensor, Tensor>>
        {
            ReflectionPad2d(1),
            Conv2d(channels, channels, kernel_size: 3, bias: bias),
            Layers.Norm(norm, channels),
            ReLU(inplace: true),
        };
        if (dropout) layers.Add(new SeededDropout(0.5));
        layers.Add(ReflectionPad2d(1));
        layers.Add(Conv2d(channels, channels, kernel_size: 3, bias: bias));
        layers.Add(Layers.Norm(norm, channels));
        conv_block = Sequential(layers);
        RegisterComponents();
    }

    public override Tensor forward(Tensor input) => input + conv_block.forward(input);
}
