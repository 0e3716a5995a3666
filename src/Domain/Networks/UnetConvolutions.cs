using Pix2Pix.Domain.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn.functional;

namespace Pix2Pix.Domain.Networks;

/// <summary>
/// The U-Net's deep layers in bf16 on the CPU as matrix products. libtorch's eager convolution reorders its weight into
/// oneDNN's blocked layout at every call (forward, and again in backward): oneDNN's verbose log of a bf16 unet_256
/// forward at batch 1 shows those reorders taking longer than the convolutions, nearly all in the 512-channel layers
/// at 8×8 and below, where the weights are large and the images tiny. There a convolution is a matrix product of
/// the weight, read in place, with the few unfolded input columns. Measured here (bf16, batch 1, forward + backward):
/// a 512→512 layer on 2×2 inputs 8.4 → 2.0 ms, on 8×8 9.8 → 3.3 ms; the transposed layer on 2×2 8.7 → 2.7 ms.
/// Used when the input has at most <see cref="MaxInputPixels"/> pixels and runs in bf16 (a bf16 input, or CPU autocast);
/// fp32 and CUDA keep libtorch's convolution. Same arithmetic in another summation order: outputs differ by rounding.
/// </summary>
public static class MatmulConvolutions
{
    /// <summary>Largest input (height × width) run as a matrix product; 0 turns it off (<c>bench --matmul-max-pixels 0</c>).</summary>
    public static long MaxInputPixels { get; set; } = 8 * 8;

    internal static bool Applies(Tensor input) =>
        input.shape[2] * input.shape[3] <= MaxInputPixels && input.device_type == DeviceType.CPU
        && (input.dtype == ScalarType.BFloat16 || Autocast.IsEnabledOnCpu);

    /// <summary>A [out, in, kh, kw] weight as [out, in·kh·kw] in the order <c>unfold</c> lists a column, and whether it is
    /// in channels-last order instead ([out, kh·kw·in], a view either way).</summary>
    internal static (Tensor Matrix, bool ChannelsLast) AsMatrix(Tensor weight)
    {
        long rows = weight.shape[0];
        if (weight.is_contiguous()) return (weight.view(rows, -1), false);
        using var permuted = weight.permute(0, 2, 3, 1);
        return (permuted.view(rows, -1), true);
    }

    /// <summary>
    /// [n, K, L] × [K, M] → [n, M, L] as one 2-D product of the columns, pixel by pixel ([n·L, K]), with the weight read
    /// in place: matmul's broadcast of a 2-D weight over a batch would copy the weight once per image.
    /// </summary>
    internal static Tensor TimesColumns(Tensor columns, Tensor weightKByM)
    {
        long n = columns.shape[0], k = columns.shape[1], length = columns.shape[2];
        using var pixels = columns.transpose(1, 2);
        using var rows = pixels.reshape(n * length, k);
        using var product = rows.mm(weightKByM);
        using var perImage = product.view(n, length, weightKByM.shape[1]);
        return perImage.transpose(1, 2);
    }

    internal static Tensor WithBias(Tensor output, Tensor? bias)
    {
        if (bias is null) return output;
        using (output)
        using (var shift = bias.view(1, bias.shape[0], 1, 1))
            return output.add(shift);
    }

    /// <summary>Columns [n, first·second, L] reordered to [n, second·first, L]: between unfold's (channel, tap) order
    /// and a channels-last weight's (tap, channel) order.</summary>
    internal static Tensor SwapBlocks(Tensor columns, long first, long second)
    {
        long n = columns.shape[0], length = columns.shape[2];
        using var split = columns.view(n, first, second, length);
        using var swapped = split.transpose(1, 2);
        return swapped.reshape(n, second * first, length);
    }
}

/// <summary>Conv2d(kernel 4, stride 2, padding 1): the U-Net's downsampling. Same parameters and state_dict keys as Conv2d.</summary>
public sealed class StridedConvolution : nn.Module<Tensor, Tensor>, IHasTrainingWeightCopy
{
    private readonly Parameter weight;
    private readonly Parameter? bias;

    public StridedConvolution(long inputChannels, long outputChannels, bool bias) : base(nameof(StridedConvolution))
    {
        weight = new Parameter(zeros(outputChannels, inputChannels, 4, 4));
        this.bias = bias ? new Parameter(zeros(outputChannels)) : null;
        RegisterComponents();
    }

    public Parameter Weight => weight;
    public TrainingWeightCopy WeightCopy { get; } = new();

    public override Tensor forward(Tensor input)
    {
        var weight = WeightCopy.For(this.weight);
        if (!MatmulConvolutions.Applies(input)) return conv2d(input, weight, bias, [2, 2], [1, 1]);
        long n = input.shape[0], inputChannels = weight.shape[1], outputChannels = weight.shape[0];
        long height = (input.shape[2] - 2) / 2 + 1, width = (input.shape[3] - 2) / 2 + 1;
        using var columns = unfold(input, (4, 4), (1, 1), (1, 1), (2, 2));
        var (matrix, channelsLast) = MatmulConvolutions.AsMatrix(weight);
        using (matrix)
        {
            using var ordered = channelsLast ? MatmulConvolutions.SwapBlocks(columns, inputChannels, 16) : columns.alias();
            using var weightT = matrix.t();
            using var product = MatmulConvolutions.TimesColumns(ordered, weightT);
            return MatmulConvolutions.WithBias(product.reshape(n, outputChannels, height, width), bias);
        }
    }
}

/// <summary>ConvTranspose2d(kernel 4, stride 2, padding 1): the U-Net's upsampling. Same parameters and state_dict keys.</summary>
public sealed class StridedTransposedConvolution : nn.Module<Tensor, Tensor>, IHasTrainingWeightCopy
{
    private readonly Parameter weight;
    private readonly Parameter? bias;

    public StridedTransposedConvolution(long inputChannels, long outputChannels, bool bias) : base(nameof(StridedTransposedConvolution))
    {
        weight = new Parameter(zeros(inputChannels, outputChannels, 4, 4));
        this.bias = bias ? new Parameter(zeros(outputChannels)) : null;
        RegisterComponents();
    }

    public Parameter Weight => weight;
    public TrainingWeightCopy WeightCopy { get; } = new();

    public override Tensor forward(Tensor input)
    {
        var weight = WeightCopy.For(this.weight);
        if (!MatmulConvolutions.Applies(input)) return conv_transpose2d(input, weight, bias, [2, 2], [1, 1]);
        long n = input.shape[0], height = input.shape[2], width = input.shape[3], outputChannels = weight.shape[1];
        using var flat = input.reshape(n, weight.shape[0], height * width);
        var (matrix, channelsLast) = MatmulConvolutions.AsMatrix(weight);
        using (matrix)
        using (var product = MatmulConvolutions.TimesColumns(flat, matrix))
        {
            // Each input pixel's 16 taps per output channel, placed and summed into the output by fold (col2im).
            using var columns = channelsLast ? MatmulConvolutions.SwapBlocks(product, 16, outputChannels) : product.alias();
            return MatmulConvolutions.WithBias(fold(columns, (2 * height, 2 * width), (4, 4), (1, 1), (1, 1), (2, 2)), bias);
        }
    }
}
