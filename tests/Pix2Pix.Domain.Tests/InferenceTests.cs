using System.Buffers.Binary;
using System.Text.Json.Nodes;
using Pix2Pix.Domain.Data;
using Pix2Pix.Domain.Inference;
using Pix2Pix.Domain.Networks;
using Pix2Pix.Domain.Runtime;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Pix2Pix.Domain.Tests;

public class InferenceTests
{
    private static readonly ModelManifest Manifest = new()
    {
        Generator = "unet_32", GeneratorFilters = 16, TrainingWidth = 32, TrainingHeight = 32, LoadSize = 36, Direction = Direction.BtoA, Epoch = 3,
    };

    private static byte[] PackageOf(nn.Module<Tensor, Tensor> generator, ModelManifest manifest)
    {
        using var stream = new MemoryStream();
        ModelPackage.Save(generator, manifest, stream);
        return stream.ToArray();
    }

    private static (nn.Module<Tensor, Tensor> Generator, byte[] Package) TrainedLikeGenerator(ModelManifest manifest, int seed = 3)
    {
        using var rng = new Generator((ulong)seed, CPU);
        var generator = NetworkFactory.CreateGenerator(manifest.ToNetworkOptions(), rng);
        // Move the batch-norm running statistics away from their initial values, as training does.
        generator.train();
        using (no_grad())
            for (int i = 0; i < 3; i++) generator.forward(randn(2, manifest.InputChannels, manifest.TrainingHeight, manifest.TrainingWidth, generator: rng)).Dispose();
        NetworkFactory.UseForDropout(generator, null);
        generator.eval();
        return (generator, PackageOf(generator, manifest));
    }

    [Fact]
    public void Package_RoundTrip_SameManifestAndBitIdenticalOutputs()
    {
        var (generator, package) = TrainedLikeGenerator(Manifest);
        using var original = generator;
        var (loaded, manifest) = ModelPackage.Load(new MemoryStream(package));
        using var _ = loaded;
        loaded.eval();

        Assert.Equal(Manifest, manifest);
        using var input = rand(2, 3, 64, 32) * 2 - 1;
        using var noGrad = no_grad();
        using var expected = original.forward(input);
        using var actual = loaded.forward(input);
        Assert.True(expected.eq(actual).all().item<bool>());
    }

    [Fact]
    public void Package_IsPlainSafetensorsWithReferenceKeysAndTheManifestInMetadata()
    {
        var (generator, package) = TrainedLikeGenerator(Manifest);
        generator.Dispose();
        long headerLength = (long)BinaryPrimitives.ReadUInt64LittleEndian(package);
        Assert.Equal(0, (8 + headerLength) % 8);
        var header = JsonNode.Parse(package.AsSpan(8, (int)headerLength))!.AsObject();

        Assert.Equal("pt", header["__metadata__"]!["format"]!.GetValue<string>());
        Assert.Contains("\"generator\":\"unet_32\"", header["__metadata__"]!["pix2pix"]!.GetValue<string>());
        Assert.Equal("F32", header["model.model.0.weight"]!["dtype"]!.GetValue<string>());
        Assert.Equal("I64", header["model.model.1.model.2.num_batches_tracked"]!["dtype"]!.GetValue<string>());
        // Tensors tile the data section exactly, as safetensors requires.
        var ranges = header.Where(p => p.Key != "__metadata__")
            .Select(p => (Start: p.Value!["data_offsets"]![0]!.GetValue<long>(), End: p.Value!["data_offsets"]![1]!.GetValue<long>()))
            .OrderBy(r => r.Start).ToList();
        Assert.Equal(0, ranges[0].Start);
        Assert.All(ranges.Zip(ranges.Skip(1)), pair => Assert.Equal(pair.First.End, pair.Second.Start));
        Assert.Equal(package.Length - 8 - headerLength, ranges[^1].End);
    }

    [Fact]
    public void Package_NotAPackage_ClearError()
    {
        Assert.Throws<InvalidDataException>(() => ModelPackage.Load(new MemoryStream("definitely not safetensors"u8.ToArray())));
        using var generator = NetworkFactory.CreateGenerator(Manifest.ToNetworkOptions());
        using var plain = new MemoryStream();
        generator.save_safetensors(plain, leaveOpen: true); // weights without a manifest
        plain.Position = 0;
        Assert.Contains("manifest", Assert.Throws<InvalidDataException>(() => ModelPackage.Load(plain)).Message);
    }

    [Fact]
    public void Package_WeightsOfAnotherArchitecture_ClearError()
    {
        var (generator, package) = TrainedLikeGenerator(Manifest);
        generator.Dispose();
        var manifestJson = System.Text.Json.JsonSerializer.Serialize(Manifest with { Generator = "unet_64" }, ModelManifest.Json);
        var tampered = System.Text.Encoding.UTF8.GetString(package).Replace(
            System.Text.Json.JsonSerializer.Serialize(System.Text.Json.JsonSerializer.Serialize(Manifest, ModelManifest.Json))[1..^1],
            System.Text.Json.JsonSerializer.Serialize(manifestJson)[1..^1]);
        Assert.Throws<InvalidDataException>(() => ModelPackage.Load(new MemoryStream(System.Text.Encoding.Latin1.GetBytes(tampered))));
    }

    [Fact]
    public void Import_PytorchStateDict_GivesTheSameGenerator()
    {
        var (generator, package) = TrainedLikeGenerator(Manifest);
        using var original = generator;
        using var pth = new MemoryStream();
        original.save_py(pth, leaveOpen: true); // a pickled state_dict, as torch.save(net.state_dict()) writes
        using var imported = new MemoryStream();
        ModelPackage.Import(pth.ToArray(), Manifest, imported);

        Assert.Equal(package, imported.ToArray());
    }

    [Theory]
    [InlineData(FitMode.Resize, 37, 50)]
    [InlineData(FitMode.Pad, 37, 50)]
    [InlineData(FitMode.Pad, 5, 3)]     // smaller than the padding: reflection repeats
    [InlineData(FitMode.Pad, 300, 200)]
    [InlineData(FitMode.Resize, 1, 1)]
    public void Translate_AnySize_ReturnsAnImageOfThatSize(FitMode mode, int width, int height)
    {
        var (generator, package) = TrainedLikeGenerator(Manifest);
        generator.Dispose();
        using var translator = Pix2PixTranslator.Load(new MemoryStream(package));
        using var input = SyntheticDataset.LabelMap(new Random(1), width, height);
        using var output = translator.Translate(input, mode);
        Assert.Equal((width, height), (output.Width, output.Height));
    }

    [Fact]
    public void Translate_PadModeOnAMultipleOfTheStride_EqualsTheRawForwardPass()
    {
        var (generator, package) = TrainedLikeGenerator(Manifest);
        using var original = generator;
        using var translator = Pix2PixTranslator.Load(new MemoryStream(package));
        using var input = SyntheticDataset.LabelMap(new Random(2), 64, 32);

        using var output = translator.Translate(input, FitMode.Pad);

        using var noGrad = no_grad();
        using var raw = original.forward(tensor(ImageTensors.ToChannelMajor(input, 0, 0, 64, 32, false, 3), [1, 3, 32, 64]));
        using var expected = ImageTensors.FromChannelMajor(raw.data<float>().ToArray(), 3, 64, 32);
        Assert.Equal(Pixels(expected), Pixels(output));
    }

    [Fact]
    public void TranslateBatch_EqualsOneByOne()
    {
        var (generator, package) = TrainedLikeGenerator(Manifest);
        generator.Dispose();
        using var translator = Pix2PixTranslator.Load(new MemoryStream(package));
        var inputs = new[] { (40, 30), (64, 64), (40, 30) }.Select((s, i) => SyntheticDataset.LabelMap(new Random(i), s.Item1, s.Item2)).ToList();

        var batch = translator.TranslateBatch(inputs, FitMode.Resize);
        for (int i = 0; i < inputs.Count; i++)
        {
            using var single = translator.Translate(inputs[i], FitMode.Resize);
            Assert.True(Pixels(single).Zip(Pixels(batch[i])).All(p => Math.Abs(p.First - p.Second) <= 1), $"image {i}");
        }
    }


    [Fact]
    public void Stages_ResizeAndPadOfOneNetworkSizeShareAForward_AndEachEqualsItsOwnTranslation()
    {
        var (generator, package) = TrainedLikeGenerator(Manifest);
        generator.Dispose();
        using var translator = Pix2PixTranslator.Load(new MemoryStream(package));
        // A 50×20 image resized reaches the generator at 32×32, as does a 30×32 image padded to the stride.
        var requests = new[] { (FitMode.Resize, 50, 20), (FitMode.Pad, 30, 32), (FitMode.Pad, 70, 40) }
            .Select((r, i) => (Mode: r.Item1, Image: SyntheticDataset.LabelMap(new Random(i), r.Item2, r.Item3))).ToList();

        var prepared = requests.Select(r => translator.Prepare(r.Image, r.Mode)).ToList();
        Assert.Equal(prepared[0].NetworkSize, prepared[1].NetworkSize);
        Assert.NotEqual(prepared[0].NetworkSize, prepared[2].NetworkSize);
        var outputs = translator.Forward(prepared);
        for (int i = 0; i < requests.Count; i++)
        {
            using var staged = translator.Finish(prepared[i], outputs[i]);
            using var whole = translator.Translate(requests[i].Image, requests[i].Mode);
            Assert.Equal((whole.Width, whole.Height), (staged.Width, staged.Height));
            Assert.True(Pixels(whole).Zip(Pixels(staged)).All(p => Math.Abs(p.First - p.Second) <= 1), $"request {i}");
        }
    }
    [Fact]
    public void Translate_PaperMode_RepeatableAndDifferentFromEvalMode()
    {
        var manifest = Manifest with { InferenceMode = InferenceMode.Paper, Generator = "unet_64", TrainingWidth = 64, TrainingHeight = 64 };
        var (generator, package) = TrainedLikeGenerator(manifest);
        generator.Dispose();
        var (evalGenerator, evalPackage) = TrainedLikeGenerator(manifest with { InferenceMode = InferenceMode.Eval });
        evalGenerator.Dispose();
        using var paper = Pix2PixTranslator.Load(new MemoryStream(package));
        using var eval = Pix2PixTranslator.Load(new MemoryStream(evalPackage));
        using var input = SyntheticDataset.LabelMap(new Random(5), 64, 64);

        using var first = paper.Translate(input);
        using var second = paper.Translate(input);
        using var evalOutput = eval.Translate(input);

        Assert.Equal(Pixels(first), Pixels(second));
        Assert.NotEqual(Pixels(first), Pixels(evalOutput)); // batch statistics and dropout are in effect
    }

    [Fact]
    public void Translate_BFloat16_CloseToFloat32()
    {
        var (generator, package) = TrainedLikeGenerator(Manifest);
        generator.Dispose();
        using var fp32 = Pix2PixTranslator.Load(new MemoryStream(package));
        using var bf16 = Pix2PixTranslator.Load(new MemoryStream(package), new TranslatorOptions { Precision = InferencePrecision.BFloat16 });
        using var input = SyntheticDataset.LabelMap(new Random(6), 64, 64);
        using var a = fp32.Translate(input, FitMode.Pad);
        using var b = bf16.Translate(input, FitMode.Pad);
        var meanDifference = Pixels(a).Zip(Pixels(b)).Average(p => Math.Abs(p.First - p.Second));
        Assert.True(meanDifference < 3, $"mean difference {meanDifference:F2} levels");
    }

    [Fact]
    public void Pad_AtOrBelowMaxPadPixels_ExactlyTheUntiledOutput()
    {
        var (generator, package) = TrainedLikeGenerator(Manifest);
        generator.Dispose();
        using var untiled = Pix2PixTranslator.Load(new MemoryStream(package));
        using var tiling = Pix2PixTranslator.Load(new MemoryStream(package), new TranslatorOptions { MaxPadPixels = 96 * 80 });
        using var input = SyntheticDataset.LabelMap(new Random(8), 96, 80);

        using var a = untiled.Translate(input, FitMode.Pad);
        using var b = tiling.Translate(input, FitMode.Pad);

        Assert.Equal(Pixels(a), Pixels(b));
    }

    [Fact]
    public void Pad_AboveMaxPadPixels_TileByTileCloseToUntiled()
    {
        var (generator, package) = TrainedLikeGenerator(Manifest);
        generator.Dispose();
        using var untiled = Pix2PixTranslator.Load(new MemoryStream(package));
        using var tiling = Pix2PixTranslator.Load(new MemoryStream(package), new TranslatorOptions { MaxPadPixels = 64 * 64 });
        using var input = SyntheticDataset.LabelMap(new Random(8), 150, 110); // not multiples of the tile or the stride

        using var a = untiled.Translate(input, FitMode.Pad);
        using var b = tiling.Translate(input, FitMode.Pad);

        Assert.Equal((150, 110), (b.Width, b.Height));
        var difference = Pixels(a).Zip(Pixels(b)).Select(p => Math.Abs(p.First - p.Second)).ToList();
        Assert.True(difference.Average() < 1, $"mean difference {difference.Average():F2} levels");
        Assert.NotEqual(Pixels(a), Pixels(b)); // it did tile
    }

    [Fact]
    public void Precision_Auto_IsBFloat16ExactlyWhereTheCpuHasNativeBFloat16()
    {
        var cpuInfo = File.Exists("/proc/cpuinfo") ? File.ReadAllText("/proc/cpuinfo") : "";
        bool native = cpuInfo.Contains(" avx512_bf16", StringComparison.Ordinal) || cpuInfo.Contains(" amx_bf16", StringComparison.Ordinal);
        var (generator, package) = TrainedLikeGenerator(Manifest);
        generator.Dispose();

        using var auto = Pix2PixTranslator.Load(new MemoryStream(package), new TranslatorOptions { Precision = InferencePrecision.Auto });

        Assert.Equal(native ? InferencePrecision.BFloat16 : InferencePrecision.Float32, auto.Precision);
        Assert.Equal(InferencePrecision.Float32, Pix2PixTranslator.Resolve(InferencePrecision.Auto, "cuda:0"));
        Assert.Equal(InferencePrecision.BFloat16, Pix2PixTranslator.Resolve(InferencePrecision.BFloat16, "cpu"));
        Assert.Equal(InferencePrecision.Float32, Pix2PixTranslator.Resolve(InferencePrecision.Float32, "cpu"));
    }

    [Fact]
    public void Device_CudaWithoutAGpu_FailsFastWithAClearMessage()
    {
        if (cuda.is_available())
        {
            Assert.Equal(TorchSharp.DeviceType.CUDA, TorchDevices.Resolve("cuda").type);
            return;
        }
        var error = Assert.Throws<InvalidOperationException>(() => TorchDevices.Resolve("cuda"));
        Assert.Contains("CUDA is not available", error.Message);
        Assert.Throws<ArgumentException>(() => TorchDevices.Resolve("tpu"));
    }

    private static byte[] Pixels(Image<Rgb24> image)
    {
        var bytes = new byte[image.Width * image.Height * 3];
        image.CopyPixelDataTo(bytes);
        return bytes;
    }
}
