using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using TorchSharp.Modules;

namespace Pix2Pix.Domain.Networks;

/// <summary>
/// The pix2pix U-Net (reference: <c>UnetGenerator</c>): an encoder-decoder with skip connections by concatenation,
/// built recursively from the innermost block outwards. Field names match the reference so the state_dict keys do
/// (<c>model.model.0.weight</c>, <c>model.model.1.model.1.weight</c>, ...).
/// </summary>
public sealed class UnetGenerator : Module<Tensor, Tensor>
{
    private readonly UnetSkipConnectionBlock model;

    public UnetGenerator(int inputChannels, int outputChannels, int downsamplings, int filters, NormKind norm, bool dropout)
        : base(nameof(UnetGenerator))
    {
        if (downsamplings < 5) throw new ArgumentOutOfRangeException(nameof(downsamplings), "A U-Net needs at least 5 downsamplings (unet_32).");
        int f = filters;
        var block = new UnetSkipConnectionBlock(f * 8, f * 8, null, null, norm, innermost: true);
        // The reference puts dropout in every 8f block between the bottleneck and the 4f block: 3 for unet_256.
        for (int i = 0; i < downsamplings - 5; i++)
            block = new UnetSkipConnectionBlock(f * 8, f * 8, null, block, norm, useDropout: dropout);
        block = new UnetSkipConnectionBlock(f * 4, f * 8, null, block, norm);
        block = new UnetSkipConnectionBlock(f * 2, f * 4, null, block, norm);
        block = new UnetSkipConnectionBlock(f, f * 2, null, block, norm);
        model = new UnetSkipConnectionBlock(outputChannels, f, inputChannels, block, norm, outermost: true);
        RegisterComponents();
    }

    public override Tensor forward(Tensor input) => model.forward(input);
}

/// <summary>One level of the U-Net: down (conv stride 2), the submodule, up (transposed conv), and the skip.</summary>
public sealed class UnetSkipConnectionBlock : Module<Tensor, Tensor>
{
    private readonly Sequential model;
    private readonly bool outermost;

    public UnetSkipConnectionBlock(int outerChannels, int innerChannels, int? inputChannels, UnetSkipConnectionBlock? submodule,
        NormKind norm, bool outermost = false, bool innermost = false, bool useDropout = false)
        : base(nameof(UnetSkipConnectionBlock))
    {
        this.outermost = outermost;
        bool bias = Layers.ConvBias(norm);
        int input = inputChannels ?? outerChannels;
        var downConv = new StridedConvolution(input, innerChannels, bias);
        var layers = new List<Module<Tensor, Tensor>>();
        if (outermost)
        {
            layers.Add(downConv);
            layers.Add(submodule!);
            layers.Add(ReLU(inplace: true));
            layers.Add(new StridedTransposedConvolution(innerChannels * 2, outerChannels, bias: true));
            layers.Add(Tanh());
        }
        else if (innermost)
        {
            layers.Add(LeakyReLU(0.2, inplace: true));
            layers.Add(downConv);
            layers.Add(ReLU(inplace: true));
            layers.Add(new StridedTransposedConvolution(innerChannels, outerChannels, bias));
            layers.Add(Layers.Norm(norm, outerChannels));
        }
        else
        {
            layers.Add(LeakyReLU(0.2, inplace: true));
            layers.Add(downConv);
            layers.Add(Layers.Norm(norm, innerChannels));
            layers.Add(submodule!);
            layers.Add(ReLU(inplace: true));
            layers.Add(new StridedTransposedConvolution(innerChannels * 2, outerChannels, bias));
            layers.Add(Layers.Norm(norm, outerChannels));
            if (useDropout) layers.Add(new SeededDropout(0.5));
        }
        model = Sequential(layers);
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        if (outermost) return model.forward(input);
        // The block starts with an in-place LeakyReLU, so (as in the reference) the skip half of the concatenation
        // carries LeakyReLU(input), not input. Kept on purpose: imported reference weights expect it.
        var branch = model.forward(input);
        return cat([input, branch], 1);
    }
}
