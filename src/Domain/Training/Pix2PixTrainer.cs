using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Pix2Pix.Domain.Data;
using Pix2Pix.Domain.Evaluation;
using Pix2Pix.Domain.Inference;
using Pix2Pix.Domain.Runtime;
using static TorchSharp.torch;

namespace Pix2Pix.Domain.Training;

/// <summary>
/// Trains a pix2pix model on a dataset folder. The work directory holds <c>checkpoint.zip</c> (the full training
/// state) and the model packages of snapshots; when a checkpoint is there, <see cref="Run"/> continues from it.
/// </summary>
public sealed class Pix2PixTrainer
{
    public const string CheckpointFileName = "checkpoint.zip";

    private readonly TrainingRecipe recipe;
    private readonly TrainingRuntime runtime;
    private readonly DatasetRoot dataset;
    private readonly string workDirectory;
    private readonly ITrainingObserver observer;
    private readonly ILogger logger;

    public Pix2PixTrainer(TrainingRecipe recipe, TrainingRuntime runtime, DatasetRoot dataset, string workDirectory,
        ITrainingObserver? observer = null, ILogger? logger = null)
    {
        recipe.ThrowIfInvalid();
        this.recipe = recipe;
        this.runtime = runtime;
        this.dataset = dataset;
        this.workDirectory = Path.GetFullPath(workDirectory);
        this.observer = observer ?? new NullObserver();
        this.logger = logger ?? NullLogger.Instance;
        CheckImageSizes(dataset, recipe);
    }

    public string CheckpointPath => Path.Combine(workDirectory, CheckpointFileName);

    /// <summary>
    /// Trains to the last epoch, resuming from the work directory's checkpoint if there is one. On cancellation it
    /// writes a checkpoint at the current iteration and throws <see cref="OperationCanceledException"/>.
    /// </summary>
    public TrainingResult Run(CancellationToken cancellationToken = default)
    {
        var allocator = NativeMemory.EnsureConfigured();
        LibTorchContext.EnsureNnpackDisabled();
        var device = TorchDevices.Resolve(runtime.Device);
        if (runtime.Threads > 0) set_num_threads(runtime.Threads);
        Directory.CreateDirectory(workDirectory);

        bool resumed = File.Exists(CheckpointPath);
        var precision = resumed ? TrainingCheckpoint.ReadPrecision(CheckpointPath) : TrainingPrecisions.Resolve(recipe.Precision, device);
        using var model = new Pix2PixModel(recipe, device, precision);
        var sampleOptions = recipe.ToSampleOptions();
        var trainLoader = new SampleLoader(dataset.TrainSplit, sampleOptions);
        var reader = new PrefetchingBatchReader(trainLoader, recipe.Seed, recipe.BatchSize, runtime.PrefetchBatches);
        int perEpoch = reader.IterationsPerEpoch;
        long total = (long)perEpoch * recipe.TotalEpochs;

        var position = new TrainingPosition(1, 0, 0);
        if (resumed)
        {
            position = TrainingCheckpoint.Load(CheckpointPath, model, recipe);
            logger.LogInformation("Resuming from {Checkpoint} at epoch {Epoch}, iteration {Iteration} ({Global}/{Total})",
                CheckpointPath, position.Epoch, position.IterationsDone, position.GlobalIterations, total);
        }
        if (allocator != "jemalloc")
            logger.LogWarning("jemalloc is not preloaded (LD_PRELOAD=libjemalloc.so.2): training is slower and its memory may grow every step");
        logger.LogInformation("Training {Generator}/{Discriminator} on {Device} in {Precision}, {Images} train images, {Epochs} epochs × {PerEpoch} iterations; allocator {Allocator}, {Threads} threads",
            recipe.Generator, recipe.Discriminator, runtime.Device, precision, dataset.TrainSplit.Count, recipe.TotalEpochs, perEpoch, allocator, get_num_threads());

        TrainingSnapshot? finalSnapshot = null;
        if (position.Epoch <= recipe.TotalEpochs)
        {
            var clock = Stopwatch.StartNew();
            int currentEpoch = 0;
            foreach (var batch in reader.Read(position.Epoch, position.IterationsDone, recipe.TotalEpochs))
            {
                if (cancellationToken.IsCancellationRequested)
                {
                    WriteCheckpoint(model, position);
                    cancellationToken.ThrowIfCancellationRequested();
                }
                if (batch.Epoch != currentEpoch)
                {
                    currentEpoch = batch.Epoch;
                    model.SetLearningRate(LearningRateSchedule.At(recipe, currentEpoch));
                }

                StepLosses losses;
                using (var scope = NewDisposeScope())
                {
                    var input = tensor(batch.Input, batch.InputShape).to(device);
                    var target = tensor(batch.Target, batch.TargetShape).to(device);
                    losses = model.TrainStep(input, target);
                }
                position = new TrainingPosition(batch.Epoch, batch.Iteration, position.GlobalIterations + 1);
                double seconds = clock.Elapsed.TotalSeconds;
                observer.OnIteration(new IterationProgress(batch.Epoch, recipe.TotalEpochs, batch.Iteration, perEpoch,
                    position.GlobalIterations, total, LearningRateSchedule.At(recipe, batch.Epoch), losses, batch.InputShape[0] / Math.Max(seconds, 1e-9)));

                bool due = position.GlobalIterations % recipe.CheckpointEvery == 0;
                if (batch.Iteration == perEpoch)
                {
                    bool last = batch.Epoch == recipe.TotalEpochs;
                    position = new TrainingPosition(batch.Epoch + 1, 0, position.GlobalIterations);
                    if (last || batch.Epoch % recipe.SnapshotEvery == 0)
                    {
                        // Not cancellable: a stop that arrived during the snapshot still finds the checkpoint after it
                        // at this iteration (a cancelled snapshot left the last checkpoint an iteration or more behind
                        // the progress already recorded, and that epoch's snapshot was never made).
                        var snapshot = Snapshot(model, batch.Epoch, last, CancellationToken.None);
                        if (last) finalSnapshot = snapshot;
                        due = true; // a checkpoint after each snapshot, so a resumed run doesn't make it again
                    }
                }
                if (due) WriteCheckpoint(model, position);
                clock.Restart();
            }
        }
        // Resumed from a checkpoint written after the final epoch: the final snapshot is made again from it.
        finalSnapshot ??= Snapshot(model, recipe.TotalEpochs, isFinal: true, cancellationToken);
        return new TrainingResult(recipe.TotalEpochs, position.GlobalIterations, finalSnapshot, resumed);
    }

    private void WriteCheckpoint(Pix2PixModel model, TrainingPosition position)
    {
        var clock = Stopwatch.StartNew();
        TrainingCheckpoint.Save(CheckpointPath, model, position, recipe);
        observer.OnCheckpoint(new CheckpointWritten(CheckpointPath, position, clock.Elapsed));
    }

    private TrainingSnapshot Snapshot(Pix2PixModel model, int epoch, bool isFinal, CancellationToken cancellationToken)
    {
        var sampleOptions = recipe.ToSampleOptions();
        EvaluationMetrics? val = null, test = null;
        byte[]? grid = null;
        if (dataset.ValSplit is { } valSplit)
        {
            var result = Evaluator.Run(model.Generator, new SampleLoader(valSplit, sampleOptions), recipe.InferenceMode, model.Device,
                recipe.SnapshotImages, recipe.Seed, cancellationToken);
            val = result.Metrics;
            grid = SnapshotGrid.ToPng(result.Rows);
        }
        if (isFinal && dataset.TestSplit is { } testSplit)
            test = Evaluator.Run(model.Generator, new SampleLoader(testSplit, sampleOptions), recipe.InferenceMode, model.Device,
                0, recipe.Seed, cancellationToken).Metrics;
        var packagePath = Path.Combine(workDirectory, "snapshots", $"epoch-{epoch:D4}{ModelPackage.FileExtension}");
        ModelPackage.Save(model.Generator, ModelManifest.From(recipe, epoch), packagePath);
        var snapshot = new TrainingSnapshot(epoch, isFinal, val, test, grid, packagePath, model.Precision);
        logger.LogInformation("Epoch {Epoch}: val L1 {L1:F4}, PSNR {Psnr:F2} dB, SSIM {Ssim:F4}", epoch, val?.L1, val?.Psnr, val?.Ssim);
        observer.OnSnapshot(snapshot);
        return snapshot;
    }

    /// <summary>Preprocessing that crops needs images at least as large as the crop: checked from headers up front.</summary>
    private static void CheckImageSizes(DatasetRoot dataset, TrainingRecipe recipe)
    {
        if (recipe.Preprocess != Preprocess.Crop) return;
        foreach (var split in new[] { dataset.TrainSplit, dataset.ValSplit, dataset.TestSplit })
            foreach (var pair in split?.Pairs ?? [])
                if (pair.Width < recipe.CropSize || pair.Height < recipe.CropSize)
                    throw new DatasetException($"Preprocess 'crop' needs images of at least {recipe.CropSize}×{recipe.CropSize}; this pair is {pair.Width}×{pair.Height}.",
                        Path.GetRelativePath(dataset.Directory, pair.PathA).Replace('\\', '/'));
    }

    private sealed class NullObserver : ITrainingObserver;
}
