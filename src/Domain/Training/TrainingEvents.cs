using Pix2Pix.Domain.Evaluation;

namespace Pix2Pix.Domain.Training;

/// <summary>Reported after every iteration.</summary>
public sealed record IterationProgress(
    int Epoch, int TotalEpochs, int Iteration, int IterationsPerEpoch, long GlobalIteration, long TotalIterations,
    double LearningRate, StepLosses Losses, double ImagesPerSecond)
{
    public double Progress => TotalIterations == 0 ? 1 : (double)GlobalIteration / TotalIterations;
}

/// <summary>Reported after a checkpoint file was completely written.</summary>
public sealed record CheckpointWritten(string Path, TrainingPosition Position, TimeSpan Duration);

/// <summary>
/// Every <c>snapshotEvery</c> epochs and at the end: a grid PNG of val samples, val metrics (and at the end test
/// metrics), and the generator at this epoch as a model package file. <c>Precision</c> is what the run trained in
/// (<c>auto</c> resolved).
/// </summary>
public sealed record TrainingSnapshot(int Epoch, bool IsFinal, EvaluationMetrics? ValMetrics, EvaluationMetrics? TestMetrics,
    byte[]? GridPng, string ModelPackagePath, TrainingPrecision Precision = TrainingPrecision.Fp32);

/// <summary>
/// Receives what a training run produces, on the training thread. An exception thrown here stops the run
/// (a host that lost its lease on the job does that); nothing is written after it.
/// </summary>
public interface ITrainingObserver
{
    void OnIteration(IterationProgress progress) { }
    void OnCheckpoint(CheckpointWritten checkpoint) { }
    void OnSnapshot(TrainingSnapshot snapshot) { }
}

public sealed record TrainingResult(int Epochs, long Iterations, TrainingSnapshot FinalSnapshot, bool Resumed);
