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

    private readonly TrainingOptions options;
    private readonly DatasetRoot dataset;
    private readonly string workDirectory;
    private readonly ITrainingObserver observer;
    private readonly ILogger logger;

    public Pix2PixTrainer(TrainingOptions options, DatasetRoot dataset, string workDirectory, ITrainingObserver? observer = null, ILogger? logger = null)
    {
        options.ThrowIfInvalid();
        this.options = options;
        this.dataset = dataset;
        this.workDirectory = Path.GetFullPath(workDirectory);
        this.observer = observer ?? new NullObserver();
        this.logger = logger ?? NullLogger.Instance;
        CheckImageSizes(dataset, options);
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
        var device = TorchDevices.Resolve(options.Device);
        if (options.Threads > 0) set_num_threads(options.Threads);
        Directory.CreateDirectory(workDirectory);

        using var model = new Pix2PixModel(options, device);
        var sampleOptions = options.ToSampleOptions();
        var trainLoader = new SampleLoader(dataset.TrainSplit, sampleOptions);
        var reader = new PrefetchingBatchReader(trainLoader, options.Seed, options.BatchSize, options.PrefetchBatches);
        int perEpoch = reader.IterationsPerEpoch;
        long total = (long)perEpoch * options.TotalEpochs;

        var position = new TrainingPosition(1, 0, 0);
        bool resumed = File.Exists(CheckpointPath);
        if (resumed)
        {
            position = TrainingCheckpoint.Load(CheckpointPath, model, options);
            logger.LogInformation("Resuming from {Checkpoint} at epoch {Epoch}, iteration {Iteration} ({Global}/{Total})",
                CheckpointPath, position.Epoch, position.IterationsDone, position.GlobalIterations, total);
        }
        if (allocator != "jemalloc")
            logger.LogWarning("jemalloc is not preloaded (LD_PRELOAD=libjemalloc.so.2): training is slower and its memory may grow every step");
        logger.LogInformation("Training {Generator}/{Discriminator} on {Device}, {Images} train images, {Epochs} epochs × {PerEpoch} iterations; allocator {Allocator}, {Threads} threads",
            options.Network.Generator, options.Network.Discriminator, options.Device, dataset.TrainSplit.Count, options.TotalEpochs, perEpoch, allocator, get_num_threads());

        TrainingSnapshot? finalSnapshot = null;
        if (position.Epoch <= options.TotalEpochs)
        {
            var clock = Stopwatch.StartNew();
            int currentEpoch = 0;
            foreach (var batch in reader.Read(position.Epoch, position.IterationsDone, options.TotalEpochs))
            {
                if (cancellationToken.IsCancellationRequested)
                {
                    WriteCheckpoint(model, position);
                    cancellationToken.ThrowIfCancellationRequested();
                }
                if (batch.Epoch != currentEpoch)
                {
                    currentEpoch = batch.Epoch;
                    model.SetLearningRate(LearningRateSchedule.At(options, currentEpoch));
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
                observer.OnIteration(new IterationProgress(batch.Epoch, options.TotalEpochs, batch.Iteration, perEpoch,
                    position.GlobalIterations, total, LearningRateSchedule.At(options, batch.Epoch), losses, batch.InputShape[0] / Math.Max(seconds, 1e-9)));

                bool due = position.GlobalIterations % options.CheckpointEvery == 0;
                if (batch.Iteration == perEpoch)
                {
                    bool last = batch.Epoch == options.TotalEpochs;
                    position = new TrainingPosition(batch.Epoch + 1, 0, position.GlobalIterations);
                    if (last || batch.Epoch % options.SnapshotEvery == 0)
                    {
                        var snapshot = Snapshot(model, batch.Epoch, last, cancellationToken);
                        if (last) finalSnapshot = snapshot;
                        due = true; // a checkpoint after each snapshot, so a resumed run doesn't make it again
                    }
                }
                if (due) WriteCheckpoint(model, position);
                clock.Restart();
            }
        }
        // Resumed from a checkpoint written after the final epoch: the final snapshot is made again from it.
        finalSnapshot ??= Snapshot(model, options.TotalEpochs, isFinal: true, cancellationToken);
        return new TrainingResult(options.TotalEpochs, position.GlobalIterations, finalSnapshot, resumed);
    }

    private void WriteCheckpoint(Pix2PixModel model, TrainingPosition position)
    {
        var clock = Stopwatch.StartNew();
        TrainingCheckpoint.Save(CheckpointPath, model, position, options);
        observer.OnCheckpoint(new CheckpointWritten(CheckpointPath, position, clock.Elapsed));
    }

    private TrainingSnapshot Snapshot(Pix2PixModel model, int epoch, bool isFinal, CancellationToken cancellationToken)
    {
        var sampleOptions = options.ToSampleOptions();
        EvaluationMetrics? val = null, test = null;
        byte[]? grid = null;
        if (dataset.ValSplit is { } valSplit)
        {
            var result = Evaluator.Run(model.Generator, new SampleLoader(valSplit, sampleOptions), options.InferenceMode, model.Device,
                options.SnapshotImages, options.Seed, cancellationToken);
            val = result.Metrics;
            grid = SnapshotGrid.ToPng(result.Rows);
        }
        if (isFinal && dataset.TestSplit is { } testSplit)
            test = Evaluator.Run(model.Generator, new SampleLoader(testSplit, sampleOptions), options.InferenceMode, model.Device,
                0, options.Seed, cancellationToken).Metrics;
        var packagePath = Path.Combine(workDirectory, "snapshots", $"epoch-{epoch:D4}{ModelPackage.FileExtension}");
        ModelPackage.Save(model.Generator, ModelManifest.From(options, epoch), packagePath);
        var snapshot = new TrainingSnapshot(epoch, isFinal, val, test, grid, packagePath);
        logger.LogInformation("Epoch {Epoch}: val L1 {L1:F4}, PSNR {Psnr:F2} dB, SSIM {Ssim:F4}", epoch, val?.L1, val?.Psnr, val?.Ssim);
        observer.OnSnapshot(snapshot);
        return snapshot;
    }

    /// <summary>Preprocessing that crops needs images at least as large as the crop: checked from headers up front.</summary>
    private static void CheckImageSizes(DatasetRoot dataset, TrainingOptions options)
    {
        if (options.Preprocess != Preprocess.Crop) return;
        foreach (var split in new[] { dataset.TrainSplit, dataset.ValSplit, dataset.TestSplit })
            foreach (var pair in split?.Pairs ?? [])
                if (pair.Width < options.CropSize || pair.Height < options.CropSize)
                    throw new DatasetException($"Preprocess 'crop' needs images of at least {options.CropSize}×{options.CropSize}; this pair is {pair.Width}×{pair.Height}.",
                        Path.GetRelativePath(dataset.Directory, pair.PathA).Replace('\\', '/'));
    }

    private sealed class NullObserver : ITrainingObserver;
}
