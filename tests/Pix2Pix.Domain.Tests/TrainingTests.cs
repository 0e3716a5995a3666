using Pix2Pix.Domain.Data;
using Pix2Pix.Domain.Evaluation;
using Pix2Pix.Domain.Inference;
using Pix2Pix.Domain.Training;
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

    [Fact]
    public void Run_FewHundredStepsOnSyntheticPairs_ValL1WellBelowUntrainedAndIdentity()
    {
        var root = SyntheticDataset.Create(SyntheticDataset.CreateTempDirectory(), train: 20, val: 6);
        var options = TestOptions.Tiny(epochs: 20) with { SnapshotEvery = 100 };
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

        var result = new Pix2PixTrainer(options, dataset, SyntheticDataset.CreateTempDirectory()).Run();

        var trainedL1 = result.FinalSnapshot.ValMetrics!.L1;
        Assert.Equal(400, result.Iterations);
        Assert.True(trainedL1 < 0.5 * untrainedL1, $"trained {trainedL1:F4} vs untrained {untrainedL1:F4}");
        Assert.True(trainedL1 < 0.5 * identityL1, $"trained {trainedL1:F4} vs identity {identityL1:F4}");
    }
}
