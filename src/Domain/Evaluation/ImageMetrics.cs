using static TorchSharp.torch;
using static TorchSharp.torch.nn.functional;

namespace Pix2Pix.Domain.Evaluation;

/// <summary>Mean L1, PSNR (dB) and SSIM of generated images against their targets, averaged over images, on [0, 1].</summary>
public sealed record EvaluationMetrics(double L1, double Psnr, double Ssim, int Images);

/// <summary>Per-image quality measures computed with torch on [0, 1] images.</summary>
public static class ImageMetrics
{
    /// <summary>PSNR of identical images is infinite; report this cap instead so averages stay finite.</summary>
    public const double MaxPsnr = 100.0;

    /// <summary>L1, PSNR, SSIM for each image of a batch (N, C, H, W) with values in [-1, 1].</summary>
    public static (double L1, double Psnr, double Ssim)[] PerImage(Tensor generated, Tensor target)
    {
        using var scope = NewDisposeScope();
        var x = ((generated.to_type(ScalarType.Float32) + 1) / 2).clamp(0, 1);
        var y = ((target.to_type(ScalarType.Float32) + 1) / 2).clamp(0, 1);
        var l1 = (x - y).abs().mean([1, 2, 3]);
        var mse = (x - y).square().mean([1, 2, 3]);
        var ssim = Ssim(x, y);
        var l1Values = l1.cpu().data<float>().ToArray();
        var mseValues = mse.cpu().data<float>().ToArray();
        var ssimValues = ssim.cpu().data<float>().ToArray();
        return l1Values.Select((v, i) => ((double)v, Psnr(mseValues[i]), (double)ssimValues[i])).ToArray();
    }

    public static double Psnr(double mse) => mse <= 1e-10 ? MaxPsnr : Math.Min(MaxPsnr, 10 * Math.Log10(1.0 / mse));

    /// <summary>
    /// SSIM (Wang et al. 2004) with an 11×11 Gaussian window, σ = 1.5, K1 = 0.01, K2 = 0.03, data range 1, over the
    /// valid region, averaged over channels: per image of a batch (N, C, H, W) in [0, 1].
    /// </summary>
    public static Tensor Ssim(Tensor x, Tensor y)
    {
        const double c1 = 0.01 * 0.01, c2 = 0.03 * 0.03;
        long channels = x.shape[1];
        int size = (int)Math.Min(11, Math.Min(x.shape[2], x.shape[3]));
        if (size % 2 == 0) size--;
        var window = GaussianWindow(size, 1.5, x.device).expand(channels, 1, size, size);
        Tensor Filter(Tensor t) => conv2d(t, window, groups: channels);
        var muX = Filter(x);
        var muY = Filter(y);
        var sigmaX = Filter(x * x) - muX * muX;
        var sigmaY = Filter(y * y) - muY * muY;
        var sigmaXY = Filter(x * y) - muX * muY;
        var map = ((2 * muX * muY + c1) * (2 * sigmaXY + c2)) / ((muX * muX + muY * muY + c1) * (sigmaX + sigmaY + c2));
        return map.mean([1, 2, 3]);
    }

    private static Tensor GaussianWindow(int size, double sigma, Device device)
    {
        var coordinates = arange(size, ScalarType.Float32, device) - (size - 1) / 2.0;
        var g = exp(-(coordinates * coordinates) / (2 * sigma * sigma));
        g /= g.sum();
        return g.unsqueeze(1).matmul(g.unsqueeze(0)).unsqueeze(0).unsqueeze(0);
    }

    public static EvaluationMetrics Average(IReadOnlyCollection<(double L1, double Psnr, double Ssim)> values) =>
        values.Count == 0
            ? new EvaluationMetrics(double.NaN, double.NaN, double.NaN, 0)
            : new EvaluationMetrics(values.Average(v => v.L1), values.Average(v => v.Psnr), values.Average(v => v.Ssim), values.Count);
}
