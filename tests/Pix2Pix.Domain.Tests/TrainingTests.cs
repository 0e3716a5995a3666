using System.IO.Compression;
using Pix2Pix.Domain.Data;
using Pix2Pix.Domain.Evaluation;
using Pix2Pix.Domain.Inference;
using Pix2Pix.Domain.Training;
using SixLabors.ImageSharp;
using static TorchSharp.torch;

namespace Pix2Pix.Domain.Tests;

public class TrainingTests
{
    private sealed class Recorder : ITrainingObserver
    {
        public List<IterationProgress> Iterations { get; } = [];
        public List<TrainingSnapshot> Snapshots { get; } = [];
        public List<CheckpointWritten> Checkpoints { get; } = [];
        public Action<IterationProgress>? AfterIteration { get; init; }
        public void OnIteration(IterationProgress progress) { Iterations.Add(progress); AfterIteration?.Invoke(progress); }
        public void OnSnapshot(TrainingSnapshot snapshot) => Snapshots.Add(snapshot);
        public void OnCheckpoint(CheckpointWritten checkpoint) => Checkpoints.Add(checkpoint);
    }

    [Theory]
    [InlineData(TrainingPrecision.Fp32)]
    [InlineData(TrainingPrecision.Bf16Mixed)]
    public void Run_FewHundredStepsOnSyntheticPairs_ValL1WellBelowUntrainedAndIdentity(TrainingPrecision precision)
    {
        var root = SyntheticDataset.Create(SyntheticDataset.CreateTempDirectory(), train: 20, val: 6);
        var options = TestOptions.Tiny(epochs: 20) with { SnapshotEvery = 100, Precision = precision };
        var dataset = DatasetRoot.Open(root);
        var loader = new SampleLoader(dataset.ValSplit!, options.ToSampleOptions());

        random.manual_seed(options.Seed);
        using var untrained = Networks.NetworkFactory.CreateGenerator(options.Network);
        var untrainedL1 = Evaluator.Run(untrained, loader, InferenceMode.Eval, CPU).Metrics.L1;
        var identityL1 = Enumerable.Range(0, loader.Split.Count).Select(i =>
        {
            var s = loader.Load(i, Jitter.None);
            return s.Input.Zip(s.Target, (a, b) => Math.Abs(a - b) / 2.0).Average();
        }).Average();

        var result = new Pix2PixTrainer(options, TestOptions.Runtime, dataset, SyntheticDataset.CreateTempDirectory()).Run();

        var trainedL1 = result.FinalSnapshot.ValMetrics!.L1;
        Assert.Equal(400, result.Iterations);
        Assert.Equal(precision, result.FinalSnapshot.Precision);
        Assert.True(trainedL1 < 0.5 * untrainedL1, $"trained {trainedL1:F4} vs untrained {untrainedL1:F4}");
        Assert.True(trainedL1 < 0.5 * identityL1, $"trained {trainedL1:F4} vs identity {identityL1:F4}");
    }

    [Theory]
    [InlineData(TrainingPrecision.Fp32)]
    [InlineData(TrainingPrecision.Bf16Mixed)]
    public void Run_InterruptedAndResumed_EndsWithTheSameWeightsAndOptimizerStateAsAStraightRun(TrainingPrecision precision)
    {
        var root = SyntheticDataset.Create(SyntheticDataset.CreateTempDirectory(), train: 8, val: 2);
        var options = TestOptions.Tiny(epochs: 2, decayEpochs: 1) with { CheckpointEvery = 5, SnapshotEvery = 2, Precision = precision };
        var dataset = DatasetRoot.Open(root);

        var straightDirectory = SyntheticDataset.CreateTempDirectory();
        var straight = new Recorder();
        new Pix2PixTrainer(options, TestOptions.Runtime, dataset, straightDirectory, straight).Run();

        var resumedDirectory = SyntheticDataset.CreateTempDirectory();
        using var cancel = new CancellationTokenSource();
        var first = new Recorder { AfterIteration = p => { if (p.GlobalIteration == 11) cancel.Cancel(); } };
        Assert.ThrowsAny<OperationCanceledException>(() => new Pix2PixTrainer(options, TestOptions.Runtime, dataset, resumedDirectory, first).Run(cancel.Token));
        // Whatever the process did in between must not matter: the run draws from its own RNG, kept in the checkpoint.
        random.manual_seed(999);
        using (var noise = rand(1000)) { }
        var second = new Recorder();
        var result = new Pix2PixTrainer(options, TestOptions.Runtime, dataset, resumedDirectory, second).Run();

        Assert.True(result.Resumed);
        Assert.Equal(Enumerable.Range(1, 24).Select(i => (long)i), first.Iterations.Concat(second.Iterations).Select(p => p.GlobalIteration));
        Assert.Equal(2, second.Iterations[0].Epoch); // epoch 2, iteration 4: the epoch counter went on
        Assert.Equal(4, second.Iterations[0].Iteration);
        Assert.Equal(straight.Iterations.Select(p => p.Losses), first.Iterations.Concat(second.Iterations).Select(p => p.Losses));
        foreach (var entry in new[] { "generator.bin", "discriminator.bin", "generator-adam.bin", "discriminator-adam.bin", "rng.bin" })
            Assert.True(EntryBytes(Path.Combine(straightDirectory, "checkpoint.zip"), entry).SequenceEqual(EntryBytes(Path.Combine(resumedDirectory, "checkpoint.zip"), entry)), entry);
    }

    [Fact]
    public void Run_SnapshotEveryTwoEpochs_GridsMetricsAndPackagesAtEpochs2And4AndTheEnd()
    {
        var root = SyntheticDataset.Create(SyntheticDataset.CreateTempDirectory(), train: 4, val: 3, test: 2);
        var options = TestOptions.Tiny(epochs: 5) with { SnapshotEvery = 2, SnapshotImages = 2 };
        var recorder = new Recorder();

        var result = new Pix2PixTrainer(options, TestOptions.Runtime, DatasetRoot.Open(root), SyntheticDataset.CreateTempDirectory(), recorder).Run();

        Assert.Equal([2, 4, 5], recorder.Snapshots.Select(s => s.Epoch));
        Assert.Equal([false, false, true], recorder.Snapshots.Select(s => s.IsFinal));
        Assert.Same(recorder.Snapshots[^1], result.FinalSnapshot);
        foreach (var snapshot in recorder.Snapshots)
        {
            Assert.Equal(3, snapshot.ValMetrics!.Images);
            Assert.InRange(snapshot.ValMetrics.Ssim, -1, 1);
            using var grid = Image.Load(snapshot.GridPng!);
            Assert.Equal((3 * 32, 2 * 32), (grid.Width, grid.Height)); // input | output | target, two rows
            Assert.Equal(snapshot.Epoch, ModelPackage.ReadManifest(File.OpenRead(snapshot.ModelPackagePath)).Epoch);
        }
        Assert.Null(recorder.Snapshots[0].TestMetrics);
        Assert.Equal(2, result.FinalSnapshot.TestMetrics!.Images);
    }

    [Fact]
    public void Run_ReportsEveryIterationWithScheduleLossesAndThroughput()
    {
        var root = SyntheticDataset.Create(SyntheticDataset.CreateTempDirectory(), train: 3, val: 1);
        var options = TestOptions.Tiny(epochs: 1, decayEpochs: 2);
        var recorder = new Recorder();

        new Pix2PixTrainer(options, TestOptions.Runtime, DatasetRoot.Open(root), SyntheticDataset.CreateTempDirectory(), recorder).Run();

        Assert.Equal(9, recorder.Iterations.Count);
        Assert.All(recorder.Iterations, p =>
        {
            Assert.Equal(9, p.TotalIterations);
            Assert.Equal(3, p.TotalEpochs);
            Assert.True(double.IsFinite(p.Losses.GeneratorGan) && p.Losses.GeneratorL1 > 0 && p.Losses.DiscriminatorReal > 0 && p.Losses.DiscriminatorFake > 0);
            Assert.True(p.ImagesPerSecond > 0);
        });
        var firstOfEachEpoch = recorder.Iterations.Where(p => p.Iteration == 1).Select(p => p.LearningRate).ToList();
        Assert.Equal(3, firstOfEachEpoch.Count);
        Assert.Equal(2e-4, firstOfEachEpoch[0], 1e-12);
        Assert.Equal(2e-4 * 2 / 3, firstOfEachEpoch[1], 1e-12);
        Assert.Equal(2e-4 / 3, firstOfEachEpoch[2], 1e-12);
        Assert.Equal(1.0, recorder.Iterations[^1].Progress);
    }

    [Fact]
    public void Run_Cancelled_WritesACheckpointAtTheCurrentIterationAndThrows()
    {
        var root = SyntheticDataset.Create(SyntheticDataset.CreateTempDirectory(), train: 6, val: 1);
        var directory = SyntheticDataset.CreateTempDirectory();
        using var cancel = new CancellationTokenSource();
        var recorder = new Recorder { AfterIteration = p => { if (p.GlobalIteration == 4) cancel.Cancel(); } };

        var trainer = new Pix2PixTrainer(TestOptions.Tiny(epochs: 3), TestOptions.Runtime, DatasetRoot.Open(root), directory, recorder);
        Assert.ThrowsAny<OperationCanceledException>(() => trainer.Run(cancel.Token));

        Assert.True(File.Exists(trainer.CheckpointPath));
        Assert.Equal(new TrainingPosition(1, 4, 4), recorder.Checkpoints.Single().Position);
    }

    [Fact]
    public void Run_CheckpointFromAnotherSeed_RefusesToResume()
    {
        var root = SyntheticDataset.Create(SyntheticDataset.CreateTempDirectory(), train: 2, val: 0);
        var directory = SyntheticDataset.CreateTempDirectory();
        new Pix2PixTrainer(TestOptions.Tiny(epochs: 1), TestOptions.Runtime, DatasetRoot.Open(root), directory).Run();
        var other = new Pix2PixTrainer(TestOptions.Tiny(epochs: 1) with { Seed = 8 }, TestOptions.Runtime, DatasetRoot.Open(root), directory);
        Assert.Throws<InvalidJobException>(() => other.Run());
    }

    [Fact]
    public void Run_ResumedUnderAnotherPrecision_KeepsThePrecisionItStartedIn()
    {
        var root = SyntheticDataset.Create(SyntheticDataset.CreateTempDirectory(), train: 4, val: 1);
        var directory = SyntheticDataset.CreateTempDirectory();
        var options = TestOptions.Tiny(epochs: 2) with { Precision = TrainingPrecision.Fp32 };
        using var cancel = new CancellationTokenSource();
        var first = new Recorder { AfterIteration = p => { if (p.GlobalIteration == 2) cancel.Cancel(); } };
        Assert.ThrowsAny<OperationCanceledException>(() => new Pix2PixTrainer(options, TestOptions.Runtime, DatasetRoot.Open(root), directory, first).Run(cancel.Token));

        var result = new Pix2PixTrainer(options with { Precision = TrainingPrecision.Bf16Mixed }, TestOptions.Runtime, DatasetRoot.Open(root), directory).Run();

        Assert.True(result.Resumed);
        Assert.Equal(TrainingPrecision.Fp32, result.FinalSnapshot.Precision);
        Assert.Equal(TrainingPrecision.Fp32, TrainingCheckpoint.ReadPrecision(Path.Combine(directory, Pix2PixTrainer.CheckpointFileName)));
    }

    [Fact]
    public void Load_CheckpointOfAnotherPrecision_Refuses()
    {
        var path = Path.Combine(SyntheticDataset.CreateTempDirectory(), "checkpoint.zip");
        var options = TestOptions.Tiny();
        using (var fp32 = new Pix2PixModel(options, CPU, TrainingPrecision.Fp32))
            TrainingCheckpoint.Save(path, fp32, new TrainingPosition(1, 0, 0), options);
        using var bf16 = new Pix2PixModel(options, CPU, TrainingPrecision.Bf16Mixed);
        Assert.Contains("Fp32", Assert.Throws<InvalidJobException>(() => TrainingCheckpoint.Load(path, bf16, options)).Message);
    }

    [Fact]
    public void Load_CheckpointWrittenBeforePrecisions_ResumesInFp32()
    {
        var path = Path.Combine(SyntheticDataset.CreateTempDirectory(), "checkpoint.zip");
        var options = TestOptions.Tiny();
        using (var model = new Pix2PixModel(options, CPU, TrainingPrecision.Fp32))
            TrainingCheckpoint.Save(path, model, new TrainingPosition(1, 3, 3), options);
        using (var zip = ZipFile.Open(path, ZipArchiveMode.Update))
        {
            var entry = zip.GetEntry("state.json")!;
            string json;
            using (var reader = new StreamReader(entry.Open())) json = reader.ReadToEnd();
            var state = System.Text.Json.Nodes.JsonNode.Parse(json)!.AsObject();
            state.Remove("precision");
            state["version"] = 1;
            entry.Delete();
            using var writer = new StreamWriter(zip.CreateEntry("state.json").Open());
            writer.Write(state.ToJsonString());
        }

        Assert.Equal(TrainingPrecision.Fp32, TrainingCheckpoint.ReadPrecision(path));
        using var resumed = new Pix2PixModel(options, CPU, TrainingPrecision.Fp32);
        Assert.Equal(new TrainingPosition(1, 3, 3), TrainingCheckpoint.Load(path, resumed, options));
    }

    [Theory]
    [InlineData(TrainingPrecision.Auto, "\"auto\"")]
    [InlineData(TrainingPrecision.Bf16Mixed, "\"bf16-mixed\"")]
    [InlineData(TrainingPrecision.Fp32, "\"fp32\"")]
    public void Recipe_Precision_IsWrittenAndReadAsCallersSpellIt(TrainingPrecision precision, string json)
    {
        var recipe = new TrainingRecipe { Precision = precision };
        Assert.Contains($"\"precision\":{json}", recipe.ToJson());
        Assert.Equal(precision, TrainingRecipe.FromJson($"{{\"precision\":{json}}}").Precision);
        Assert.Equal(TrainingPrecision.Auto, new TrainingRecipe().Precision);
        Assert.Equal(TrainingPrecision.Fp32, TrainingRecipe.FromJson("""{"epochs":3}""").Precision); // stored before precisions: fp32
    }

    [Fact]
    public void Precision_Auto_IsBf16MixedExactlyWhereTheCpuHasNativeBf16()
    {
        var resolved = TrainingPrecisions.Resolve(TrainingPrecision.Auto, CPU);
        Assert.Equal(Runtime.CpuFeatures.HasNativeBFloat16 ? TrainingPrecision.Bf16Mixed : TrainingPrecision.Fp32, resolved);
        Assert.Equal(TrainingPrecision.Fp32, TrainingPrecisions.Resolve(TrainingPrecision.Fp32, CPU));
        Assert.Equal(TrainingPrecision.Bf16Mixed, TrainingPrecisions.Resolve(TrainingPrecision.Bf16Mixed, CPU));
    }

    [Fact]
    public void Constructor_CropLargerThanImages_NamesTheFile()
    {
        var root = SyntheticDataset.Create(SyntheticDataset.CreateTempDirectory(), train: 2, val: 0, size: 32);
        var options = TestOptions.Tiny() with { Preprocess = Preprocess.Crop, CropSize = 64 };
        var error = Assert.Throws<DatasetException>(() => new Pix2PixTrainer(options, TestOptions.Runtime, DatasetRoot.Open(root), SyntheticDataset.CreateTempDirectory()));
        Assert.Equal("train/000.png", error.File);
    }

    [Theory]
    [InlineData(nameof(TrainingRecipe.CropSize), "cropSize")]
    [InlineData(nameof(TrainingRecipe.LoadSize), "loadSize")]
    [InlineData("Generator", "generator")]
    [InlineData("Discriminator", "discriminator")]
    [InlineData("GeneratorFilters", "generatorFilters")]
    [InlineData("DiscriminatorLayers", "discriminatorLayers")]
    [InlineData(nameof(TrainingRecipe.BatchSize), "batchSize")]
    public void Validate_ImpossibleOption_NamesTheField(string change, string field)
    {
        var options = new TrainingRecipe();
        options = change switch
        {
            "CropSize" => options with { CropSize = 200, LoadSize = 286 },          // not a multiple of 256 for unet_256
            "LoadSize" => options with { LoadSize = 128 },                           // smaller than the 256 crop
            "Generator" => options with { Generator = "unet_100" },
            "Discriminator" => options with { Discriminator = "huge" },
            "GeneratorFilters" => options with { GeneratorFilters = 24 },
            "DiscriminatorLayers" => options with { Discriminator = "n_layers", DiscriminatorLayers = 7 },
            _ => options with { BatchSize = 0 },
        };
        var errors = options.Validate();
        Assert.Contains(field, errors.Keys);
        Assert.StartsWith($"{field}: ", Assert.Throws<InvalidJobException>(options.ThrowIfInvalid).Message);
    }

    [Fact]
    public void Validate_Defaults_AreThePapersRecipeAndValid()
    {
        var options = new TrainingRecipe();
        Assert.Empty(options.Validate());
        Assert.Equal((100, 100, 1, 2e-4, 0.5, 0.999, 100.0, 286, 256), (options.Epochs, options.DecayEpochs, options.BatchSize, options.LearningRate, options.Beta1, options.Beta2, options.LambdaL1, options.LoadSize, options.CropSize));
        Assert.Equal(("unet_256", "basic", GanMode.Vanilla, LrPolicy.Linear, 10), (options.Network.Generator, options.Network.Discriminator, options.GanMode, options.LrPolicy, options.SnapshotEvery));
    }

    [Theory]
    [InlineData(LrPolicy.Linear, 1, 1.0)]
    [InlineData(LrPolicy.Linear, 100, 1.0)]
    [InlineData(LrPolicy.Linear, 101, 100.0 / 101)]
    [InlineData(LrPolicy.Linear, 200, 1.0 / 101)]
    [InlineData(LrPolicy.Step, 50, 1.0)]
    [InlineData(LrPolicy.Step, 51, 0.1)]
    [InlineData(LrPolicy.Cosine, 1, 1.0)]
    [InlineData(LrPolicy.Cosine, 101, 0.5)]
    public void LearningRate_AtEpoch_FollowsThePolicy(LrPolicy policy, int epoch, double factor)
    {
        var options = new TrainingRecipe { LrPolicy = policy };
        Assert.Equal(2e-4 * factor, LearningRateSchedule.At(options, epoch), 12);
    }

    [Fact]
    public void GanLoss_VanillaAndLsgan_MatchTheirDefinitions()
    {
        using var logits = tensor(new[] { 0f, 2f });
        using var vanillaReal = GanLoss.Compute(GanMode.Vanilla, logits, targetIsReal: true);
        using var lsganFake = GanLoss.Compute(GanMode.Lsgan, logits, targetIsReal: false);
        Assert.Equal((Math.Log(2) + Math.Log(1 + Math.Exp(-2))) / 2, vanillaReal.item<float>(), 5);
        Assert.Equal((0 + 4) / 2.0, lsganFake.item<float>(), 5);
    }

    private static byte[] EntryBytes(string zipPath, string entry)
    {
        using var zip = ZipFile.OpenRead(zipPath);
        using var stream = zip.GetEntry(entry)!.Open();
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        return buffer.ToArray();
    }
}
