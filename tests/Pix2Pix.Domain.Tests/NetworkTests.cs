using System.Runtime.InteropServices;
using Pix2Pix.Domain.Networks;
using Pix2Pix.Domain.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Pix2Pix.Domain.Tests;

public class NetworkTests
{
    /// <summary>
    /// The U-Net's deep layers as matrix products (bf16, small inputs) against libtorch's convolutions on the same
    /// bf16 values computed in fp32: outputs and both gradients agree to bf16 rounding, for contiguous and for
    /// channels-last weights (the translator's layout), with a batch of two.
    /// </summary>
    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void MatmulConvolutions_AgreeWithLibtorchConvolutions_OutputAndGradients(bool transposed, bool channelsLast)
    {
        using var scope = NewDisposeScope();
        using var rng = new Generator(5, CPU);
        nn.Module<Tensor, Tensor> layer = transposed ? new StridedTransposedConvolution(24, 20, bias: true) : new StridedConvolution(24, 20, bias: true);
        using (no_grad())
            foreach (var parameter in layer.parameters()) parameter.copy_(randn(parameter.shape, generator: rng).mul_(0.1));
        layer.to(ScalarType.BFloat16);
        var weight = layer.named_parameters().Single(p => p.name == "weight").parameter;
        var bias = layer.named_parameters().Single(p => p.name == "bias").parameter;
        if (channelsLast)
            using (no_grad()) weight.set_(weight.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2));
        var input = randn([2, 24, 4, 3], generator: rng).to(ScalarType.BFloat16).requires_grad_();
        var upstream = randn(transposed ? [2, 20, 8, 6] : [2, 20, 2, 1], generator: rng);

        var output = layer.forward(input);
        output.to(ScalarType.Float32).mul(upstream).sum().backward();

        var input32 = input.detach().to(ScalarType.Float32).requires_grad_();
        var weight32 = weight.detach().to(ScalarType.Float32).contiguous().requires_grad_();
        var bias32 = bias.detach().to(ScalarType.Float32).requires_grad_();
        var expected = transposed
            ? nn.functional.conv_transpose2d(input32, weight32, bias32, [2, 2], [1, 1])
            : nn.functional.conv2d(input32, weight32, bias32, [2, 2], [1, 1]);
        expected.mul(upstream).sum().backward();

        static void Close(Tensor actual, Tensor expected, string what)
        {
            var error = (actual.to(ScalarType.Float32) - expected).abs().max().item<float>();
            var scale = expected.abs().max().item<float>();
            Assert.True(error <= 0.02 * scale, $"{what}: off by {error} (largest value {scale})");
        }
        Assert.Equal(expected.shape, output.shape);
        Close(output, expected, "output");
        Close(input.grad!, input32.grad!, "input gradient");
        Close(weight.grad!, weight32.grad!, "weight gradient");
        Close(bias.grad!, bias32.grad!, "bias gradient");
    }

    [Fact]
    public void CountParameters_DefaultUnet256AndBasicPatchGan_MatchReference()
    {
        var options = new NetworkOptions();
        using var generator = NetworkFactory.CreateGenerator(options);
        using var discriminator = NetworkFactory.CreateDiscriminator(options);
        Assert.Equal(54_413_955, NetworkFactory.CountParameters(generator));
        Assert.Equal(2_768_705, NetworkFactory.CountParameters(discriminator));
    }

    [Theory]
    [InlineData("unet_32", 32, 3, 3)]
    [InlineData("unet_64", 64, 1, 3)]
    [InlineData("unet_128", 128, 3, 1)]
    [InlineData("unet_256", 256, 3, 3)]
    [InlineData("unet_32", 96, 3, 3)] // any multiple of 2^downsamplings, not only N
    [InlineData("resnet_6blocks", 36, 3, 3)]
    [InlineData("resnet_9blocks", 64, 1, 1)]
    public void Generator_Forward_KeepsSizeWithOutputChannelsInTanhRange(string name, int size, int inputChannels, int outputChannels)
    {
        var options = new NetworkOptions { Generator = name, InputChannels = inputChannels, OutputChannels = outputChannels, GeneratorFilters = 16 };
        using var generator = NetworkFactory.CreateGenerator(options);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var output = generator.forward(randn(2, inputChannels, size, size));
        Assert.Equal(new long[] { 2, outputChannels, size, size }, output.shape);
        Assert.True(output.abs().max().item<float>() <= 1f);
    }

    [Theory]
    [InlineData("basic", 3, 256, 30)] // the 70×70 PatchGAN: 30×30 patches on a 256 image
    [InlineData("n_layers", 5, 256, 6)]
    [InlineData("n_layers", 1, 64, 30)]
    [InlineData("pixel", 3, 64, 64)]
    public void Discriminator_Forward_GivesOneLogitPerPatch(string name, int layers, int size, int patches)
    {
        var options = new NetworkOptions { Discriminator = name, DiscriminatorLayers = layers, DiscriminatorFilters = 8 };
        using var discriminator = NetworkFactory.CreateDiscriminator(options);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var output = discriminator.forward(randn(1, 6, size, size));
        Assert.Equal(new long[] { 1, 1, patches, patches }, output.shape);
    }

    [Fact]
    public void StateDictKeys_Defaults_AreTheReferenceImplementationsNames()
    {
        using var unet = NetworkFactory.CreateGenerator(new NetworkOptions());
        using var resnet = NetworkFactory.CreateGenerator(new NetworkOptions { Generator = "resnet_9blocks" });
        using var patchGan = NetworkFactory.CreateDiscriminator(new NetworkOptions());
        var unetKeys = unet.state_dict().Keys.ToHashSet();
        var resnetKeys = resnet.state_dict().Keys.ToHashSet();
        var patchGanKeys = patchGan.state_dict().Keys.ToHashSet();

        Assert.Subset(unetKeys, new HashSet<string>
        {
            "model.model.0.weight", "model.model.1.model.1.weight", "model.model.1.model.2.weight",
            "model.model.1.model.2.running_mean", "model.model.1.model.2.num_batches_tracked",
            "model.model.1.model.3.model.3.model.3.model.3.model.3.model.3.model.1.weight", // the innermost down conv
            "model.model.3.weight", "model.model.3.bias",
        });
        Assert.DoesNotContain("model.model.0.bias", unetKeys); // batch norm follows: no bias, as in the reference
        Assert.Subset(resnetKeys, new HashSet<string> { "model.1.weight", "model.10.conv_block.1.weight", "model.18.conv_block.6.weight", "model.19.weight", "model.26.weight", "model.26.bias" });
        Assert.Subset(patchGanKeys, new HashSet<string> { "model.0.weight", "model.0.bias", "model.2.weight", "model.3.running_var", "model.8.weight", "model.11.weight", "model.11.bias" });
    }

    [Theory]
    [InlineData("unet_256", true, 3)]
    [InlineData("unet_128", true, 2)]
    [InlineData("unet_32", true, 0)]
    [InlineData("unet_256", false, 0)]
    [InlineData("resnet_6blocks", true, 6)]
    public void Dropout_PerArchitecture_MatchesReference(string name, bool dropout, int expected)
    {
        using var generator = NetworkFactory.CreateGenerator(new NetworkOptions { Generator = name, Dropout = dropout, GeneratorFilters = 8 });
        Assert.Equal(expected, generator.modules().Count(m => m is SeededDropout));
    }

    [Theory]
    [InlineData(NormKind.Instance)]
    [InlineData(NormKind.None)]
    public void Generator_OtherNorms_BuildAndRun(NormKind norm)
    {
        using var generator = NetworkFactory.CreateGenerator(new NetworkOptions { Generator = "unet_32", Norm = norm, GeneratorFilters = 8 });
        Assert.Equal(0, generator.modules().Count(m => m is TorchSharp.Modules.BatchNorm2d));
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        Assert.Equal(new long[] { 1, 3, 32, 32 }, generator.forward(randn(1, 3, 32, 32)).shape);
    }

    [Fact]
    public void Init_ConvolutionWeights_AreNormalWithStd002()
    {
        using var discriminator = NetworkFactory.CreateDiscriminator(new NetworkOptions());
        var weights = discriminator.named_parameters().Where(p => p.name.EndsWith(".weight") && p.parameter.dim() == 4).ToList();
        Assert.NotEmpty(weights);
        foreach (var (name, weight) in weights.Where(w => w.parameter.numel() > 10_000))
        {
            Assert.InRange(weight.std().item<float>(), 0.018f, 0.022f);
            Assert.InRange(weight.mean().item<float>(), -0.002f, 0.002f);
        }
    }

    /// <summary>
    /// Regression test for SafeConv2d: libtorch's oneDNN backward for stride-1 convolutions with large kernels
    /// reads uninitialized memory. Filling freed heap memory with NaN bit patterns before each pass makes any such
    /// read visible as a NaN gradient.
    /// </summary>
    [Theory]
    [InlineData("unet_32", "basic", TrainingPrecision.Fp32)]
    [InlineData("unet_32", "n_layers", TrainingPrecision.Fp32)]
    [InlineData("resnet_6blocks", "pixel", TrainingPrecision.Fp32)]
    [InlineData("unet_32", "basic", TrainingPrecision.Bf16Mixed)]
    [InlineData("resnet_6blocks", "n_layers", TrainingPrecision.Bf16Mixed)]
    public void TrainStep_HeapFullOfNaNGarbage_LossesAndWeightsStayFinite(string generator, string discriminator, TrainingPrecision precision)
    {
        var options = TestOptions.Tiny() with
        {
            Generator = generator, Discriminator = discriminator, DiscriminatorLayers = 2, GeneratorFilters = 8, DiscriminatorFilters = 8,
        };
        random.manual_seed(1);
        using var model = new Pix2PixModel(options, CPU, precision);
        for (int step = 0; step < 3; step++)
        {
            using var scope = NewDisposeScope();
            var input = rand(1, 3, 32, 32) * 2 - 1;
            var target = rand(1, 3, 32, 32) * 2 - 1;
            FillFreedHeapWithNaN();
            var losses = model.TrainStep(input, target);
            Assert.True(double.IsFinite(losses.GeneratorGan + losses.GeneratorL1 + losses.DiscriminatorReal + losses.DiscriminatorFake), $"step {step}: {losses}");
        }
        foreach (var (name, parameter) in model.Generator.named_parameters().Concat(model.Discriminator.named_parameters()))
            Assert.True(isfinite(parameter).all().item<bool>(), name);
    }

    private static void FillFreedHeapWithNaN()
    {
        var blocks = new List<IntPtr>();
        for (int size = 64; size <= 1 << 21; size *= 2)
            for (int i = 0; i < 4; i++)
            {
                var block = Marshal.AllocHGlobal(size);
                Marshal.Copy(Enumerable.Repeat((byte)0xFF, size).ToArray(), 0, block, size);
                blocks.Add(block);
            }
        blocks.ForEach(Marshal.FreeHGlobal);
    }
}
