using System.IO;
using Pix2Pix.Domain.Networks;
using Pix2Pix.Domain.Runtime;
using Pix2Pix.Domain.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pix2Pix.Domain.Tests;

public class MixedPrecisionTests
{
    [Fact]
    public void Autocast_InsideARegion_ConvolutionsRunInBf16OnThisThreadOnly()
    {
        using var input = rand(1, 3, 8, 8);
        using var weight = rand(4, 3, 3, 3);
        Assert.False(Autocast.IsEnabledOnCpu);
        using (Autocast.Enter(CPU, ScalarType.BFloat16))
        {
            Assert.True(Autocast.IsEnabledOnCpu);
            using var inside = nn.functional.conv2d(input, weight);
            Assert.Equal(ScalarType.BFloat16, inside.dtype);
            using (Autocast.Enter(CPU, ScalarType.BFloat16)) Assert.True(Autocast.IsEnabledOnCpu);
            Assert.True(Autocast.IsEnabledOnCpu); // the inner region ended, the outer goes on
            (bool Enabled, ScalarType Type) otherThread = default;
            var thread = new Thread(() =>
            {
                using var output = nn.functional.conv2d(input, weight);
                otherThread = (Autocast.IsEnabledOnCpu, output.dtype);
            });
            thread.Start();
            thread.Join();
            Assert.Equal((false, ScalarType.Float32), otherThread);
        }
        Assert.False(Autocast.IsEnabledOnCpu);
        using var outside = nn.functional.conv2d(input, weight);
        Assert.Equal(ScalarType.Float32, outside.dtype);
        Assert.Null(Autocast.Enter(CPU, ScalarType.Float32));
    }

    [Fact]
    public void Autocast_EndedOnAnotherThread_Refuses()
    {
        var region = Autocast.Enter(CPU, ScalarType.BFloat16)!;
        try
        {
            Exception? error = null;
            var thread = new Thread(() => error = Record.Exception(region.Dispose));
            thread.Start();
            thread.Join();
            Assert.IsType<InvalidOperationException>(error);
        }
        finally
        {
            region.Dispose();
        }
        Assert.False(Autocast.IsEnabledOnCpu);
    }

    [Fact]
    public void TrainStep_Bf16Mixed_KeepsFp32WeightsAndMovesBatchNorm()
    {
        var options = TestOptions.Tiny();
        random.manual_seed(3);
        using var model = new Pix2PixModel(options, CPU, TrainingPrecision.Bf16Mixed);
        var batchNorms = model.Generator.modules().OfType<BatchNorm2d>().ToList();
        var before = batchNorms.Select(b => b.weight!.detach().clone()).ToList();
        Assert.NotEmpty(batchNorms);
        for (int step = 0; step < 5; step++)
        {
            using var scope = NewDisposeScope();
            model.TrainStep(rand(1, 3, 32, 32) * 2 - 1, rand(1, 3, 32, 32) * 2 - 1);
        }
        Assert.All(model.Generator.parameters().Concat(model.Discriminator.parameters()), p => Assert.Equal(ScalarType.Float32, p.dtype));
        // Pure bf16 training leaves batch-norm weights where they started (updates below bf16's resolution); mixed must not.
        for (int i = 0; i < batchNorms.Count; i++)
            Assert.False(Same(batchNorms[i].weight!, before[i]), $"batch norm {i} did not move");
    }

    [Fact]
    public void FlatAdam_SameGradients_BitForBitTheSameAsTorchSharpsAdam()
    {
        var generators = TwoEqualGenerators(seed: 11);
        using var reference = generators.First;
        using var fused = generators.Second;
        using var adam = optim.Adam(reference.parameters(), 2e-4, 0.5, 0.999);
        using var flat = new FlatAdam(fused.parameters(), 2e-4, 0.5, 0.999);

        for (int step = 1; step <= 6; step++)
        {
            if (step == 4)
            {
                foreach (var group in adam.ParamGroups) group.LearningRate = 1e-4;
                flat.LearningRate = 1e-4;
            }
            StepBoth(reference, adam, fused, flat);
        }

        foreach (var ((name, a), b) in reference.named_parameters().Zip(fused.parameters()))
            Assert.True(Same(a, b), $"{name} differs");
        foreach (var (a, b) in adam.state_dict().State.Cast<Adam.State>().Zip(flat.State.state_dict().State.Cast<Adam.State>()))
        {
            Assert.Equal(a.step, b.step);
            Assert.True(Same(a.exp_avg, b.exp_avg) && Same(a.exp_avg_sq, b.exp_avg_sq));
        }
    }

    [Fact]
    public void FlatAdam_CpuSquareRoot_StaysWithinRoundingOfTorchSharpsAdam()
    {
        var generators = TwoEqualGenerators(seed: 13);
        using var reference = generators.First;
        using var fused = generators.Second;
        using var adam = optim.Adam(reference.parameters(), 2e-4, 0.5, 0.999);
        using var flat = new FlatAdam(fused.parameters(), 2e-4, 0.5, 0.999, matchTorchSharp: false);
        var before = fused.parameters().Select(p => p.detach().clone()).ToList();

        for (int step = 1; step <= 6; step++) StepBoth(reference, adam, fused, flat);

        // Six steps of 2e-4 move a weight by up to 1.2e-3; the two square roots differ in the last bit of a few elements.
        foreach (var (((name, a), b), start) in reference.named_parameters().Zip(fused.parameters()).Zip(before))
        {
            Assert.True(a.allclose(b, rtol: 0, atol: 1e-6), $"{name} differs by more than rounding");
            Assert.False(Same(b, start), $"{name} did not move");
        }
    }

    [Fact]
    public void FlatAdam_Bf16WeightCopies_TrainToTheSameBitsAsAutocastCastingTheWeights()
    {
        set_num_threads(TestOptions.Runtime.Threads);
        var generators = TwoEqualGenerators(seed: 14);
        using var cast = generators.First;
        using var copied = generators.Second;
        cast.eval(); // no dropout: both networks see the same computation
        copied.eval();
        var layers = copied.modules().OfType<IHasTrainingWeightCopy>().ToList();
        Assert.NotEmpty(layers);
        using var castAdam = new FlatAdam(cast.parameters(), 2e-4, 0.5, 0.999, matchTorchSharp: false);
        using var copiedAdam = new FlatAdam(copied.parameters(), 2e-4, 0.5, 0.999, matchTorchSharp: false, weightCopies: layers);

        for (int step = 1; step <= 4; step++)
        {
            castAdam.ZeroGrad();
            copiedAdam.ZeroGrad();
            using var scope = NewDisposeScope();
            var input = rand(1, 3, 32, 32) * 2 - 1;
            foreach (var (network, adam) in new[] { (cast, castAdam), (copied, copiedAdam) })
            {
                using (Autocast.Enter(CPU, ScalarType.BFloat16))
                    network.forward(input).to(ScalarType.Float32).square().mean().backward();
                adam.Step();
            }
        }

        foreach (var ((name, a), b) in cast.named_parameters().Zip(copied.parameters()))
            Assert.True(Same(a, b), $"{name} differs");
        foreach (var layer in layers)
        {
            Assert.Null(layer.Weight.grad); // the gradient went to the copy
            using var rounded = layer.Weight.to(ScalarType.BFloat16);
            Assert.True(Same(layer.WeightCopy.Value!, rounded), "a copy is not its weight rounded to bf16");
        }
    }

    [Fact]
    public void FlatAdam_State_IsInterchangeableWithTorchSharpsAdam()
    {
        var options = TestOptions.Tiny() with { GeneratorFilters = 8 };
        random.manual_seed(12);
        using var generator = NetworkFactory.CreateGenerator(options.Network);
        using var flat = new FlatAdam(generator.parameters(), 2e-4, 0.5, 0.999);
        for (int step = 0; step < 2; step++)
        {
            flat.ZeroGrad();
            using var scope = NewDisposeScope();
            generator.forward(rand(1, 3, 32, 32)).mean().backward();
            flat.Step();
        }
        var saved = new MemoryStream();
        using (var writer = new BinaryWriter(saved, System.Text.Encoding.UTF8, leaveOpen: true)) flat.State.save_state_dict(writer);

        using var other = NetworkFactory.CreateGenerator(options.Network);
        using var plain = optim.Adam(other.parameters(), 2e-4, 0.5, 0.999);
        saved.Position = 0;
        using (var reader = new BinaryReader(saved, System.Text.Encoding.UTF8, leaveOpen: true)) plain.load_state_dict(reader);
        using var again = new FlatAdam(NetworkFactory.CreateGenerator(options.Network).parameters(), 2e-4, 0.5, 0.999);
        saved.Position = 0;
        using (var reader = new BinaryReader(saved)) again.State.load_state_dict(reader);
        again.Bind();

        var expected = flat.State.state_dict().State.Cast<Adam.State>().ToList();
        foreach (var loaded in new[] { plain.state_dict().State, again.State.state_dict().State })
            foreach (var (a, b) in expected.Zip(loaded.Cast<Adam.State>()))
                Assert.True(a.step == b.step && Same(a.exp_avg, b.exp_avg) && Same(a.exp_avg_sq, b.exp_avg_sq));
    }

    [Fact]
    public void FlatParameters_SavedInCheckpointsAndPackages_RoundTripEveryWeight()
    {
        var options = TestOptions.Tiny();
        var directory = SyntheticDataset.CreateTempDirectory();
        set_num_threads(TestOptions.Runtime.Threads); // as the trainer tests: one thread is repeatable to the bit
        random.manual_seed(5);
        using var model = new Pix2PixModel(options, CPU, TrainingPrecision.Bf16Mixed);
        for (int step = 0; step < 2; step++)
        {
            using var scope = NewDisposeScope();
            model.TrainStep(rand(1, 3, 32, 32) * 2 - 1, rand(1, 3, 32, 32) * 2 - 1);
        }
        var checkpoint = Path.Combine(directory, "checkpoint.zip");
        TrainingCheckpoint.Save(checkpoint, model, new TrainingPosition(1, 2, 2), options);
        var package = Path.Combine(directory, "g.safetensors");
        Pix2Pix.Domain.Inference.ModelPackage.Save(model.Generator, Pix2Pix.Domain.Inference.ModelManifest.From(options, 1), package);

        using var resumed = new Pix2PixModel(options, CPU, TrainingPrecision.Bf16Mixed);
        TrainingCheckpoint.Load(checkpoint, resumed, options);
        using var packageStream = File.OpenRead(package);
        var (packaged, _) = Pix2Pix.Domain.Inference.ModelPackage.Load(packageStream);
        using var packagedGenerator = packaged;

        foreach (var (expected, actual) in model.Generator.parameters().Concat(model.Discriminator.parameters())
            .Zip(resumed.Generator.parameters().Concat(resumed.Discriminator.parameters())))
            Assert.True(Same(expected, actual));
        foreach (var (expected, actual) in model.Generator.state_dict().Zip(packaged.state_dict()))
            Assert.True(Same(expected.Value, actual.Value), expected.Key);
        // The loaded state went back into the flat buffers: the next steps of both models agree.
        using var input = rand(1, 3, 32, 32) * 2 - 1;
        using var target = rand(1, 3, 32, 32) * 2 - 1;
        Assert.Equal(model.TrainStep(input, target), resumed.TrainStep(input, target));
    }

    /// <summary>Two generators of the tiny recipe with 8 filters and the same weights.</summary>
    private static (nn.Module<Tensor, Tensor> First, nn.Module<Tensor, Tensor> Second) TwoEqualGenerators(int seed)
    {
        var options = TestOptions.Tiny() with { GeneratorFilters = 8 };
        random.manual_seed(seed);
        var first = NetworkFactory.CreateGenerator(options.Network);
        var second = NetworkFactory.CreateGenerator(options.Network);
        using (no_grad())
            foreach (var (a, b) in first.parameters().Zip(second.parameters())) b.copy_(a);
        return (first, second);
    }

    /// <summary>One step of TorchSharp's Adam on one generator and of FlatAdam on the other, same input and loss.</summary>
    private static void StepBoth(nn.Module<Tensor, Tensor> reference, Adam adam, nn.Module<Tensor, Tensor> fused, FlatAdam flat)
    {
        adam.zero_grad();
        flat.ZeroGrad();
        using var scope = NewDisposeScope();
        var input = rand(1, 3, 32, 32);
        reference.forward(input).square().mean().backward();
        fused.forward(input).square().mean().backward();
        adam.step();
        flat.Step();
    }

    private static bool Same(Tensor a, Tensor b)
    {
        if (!a.shape.SequenceEqual(b.shape)) return false;
        using var equal = a.eq(b);
        using var all = equal.all();
        return all.item<bool>();
    }
}
