using Pix2Pix.Domain.Evaluation;
using static TorchSharp.torch;

namespace Pix2Pix.Domain.Tests;

public class MetricsTests
{
    [Fact]
    public void PerImage_IdenticalImages_PerfectScores()
    {
        using var image = rand(2, 3, 32, 32) * 2 - 1;
        var scores = ImageMetrics.PerImage(image, image);
        Assert.All(scores, s =>
        {
            Assert.Equal(0, s.L1, 6);
            Assert.Equal(ImageMetrics.MaxPsnr, s.Psnr);
            Assert.Equal(1, s.Ssim, 4);
        });
    }

    [Fact]
    public void PerImage_ConstantOffsetOfATenth_L1IsATenthAndPsnrIs20dB()
    {
        using var target = full(1, 3, 16, 16, -1f);          // 0 on [0, 1]
        using var generated = full(1, 3, 16, 16, -0.8f);     // 0.1 on [0, 1]
        var (l1, psnr, _) = ImageMetrics.PerImage(generated, target)[0];
        Assert.Equal(0.1, l1, 5);
        Assert.Equal(20, psnr, 3);
    }

    [Fact]
    public void Ssim_StructureDestroyed_LowAndSymmetric()
    {
        random.manual_seed(4);
        using var x = rand(1, 3, 32, 32);
        using var inverted = 1 - x;
        using var noisy = (x + 0.05 * randn(1, 3, 32, 32)).clamp(0, 1);
        double Ssim(Tensor a, Tensor b) { using var s = ImageMetrics.Ssim(a, b); return s.item<float>(); }

        Assert.True(Ssim(x, inverted) < 0);
        Assert.InRange(Ssim(x, noisy), 0.5, 0.99);
        Assert.Equal(Ssim(x, noisy), Ssim(noisy, x), 5);
    }

    [Fact]
    public void Average_OverImages_IsTheMeanOfEachMeasure()
    {
        var metrics = ImageMetrics.Average([(0.1, 20, 0.5), (0.3, 30, 0.7)]);
        Assert.Equal(new EvaluationMetrics(0.2, 25, 0.6, 2), metrics with { L1 = Math.Round(metrics.L1, 10), Ssim = Math.Round(metrics.Ssim, 10) });
    }
}
