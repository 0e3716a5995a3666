using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Pix2Pix.Domain.Evaluation;
using Pix2Pix.Domain.Inference;
using Pix2Pix.Domain.Service;
using Pix2Pix.Domain.Training;
using Pix2Pix.Infrastructure.Persistence;
using Pix2Pix.Infrastructure.Telemetry;

namespace Pix2Pix.Infrastructure.Jobs;

/// <summary>
/// The trainer's observer for one job: turns its events into rows and blobs, every write fenced by the job's lease.
/// Progress is written once a second; each write also reads the cancel flag and cancels <see cref="CancelRequested"/>.
/// Runs on the training thread, which waits for each write.
/// </summary>
public sealed class JobRecorder(
    TrainingJob job, string? datasetSha256, JobLease lease, JobStore jobs, ModelStore models, IBlobStore blobs, ServiceMetrics metrics, DatabaseRetry retry,
    TimeProvider time, ILogger logger) : ITrainingObserver
{
    private static readonly TimeSpan ProgressInterval = TimeSpan.FromSeconds(1);
    private readonly List<IterationRecord> pending = [];
    private readonly CancellationTokenSource cancelRequested = new();
    private long lastFlush = time.GetTimestamp();
    private IterationProgress? latest;

    public long LastIteration => latest?.GlobalIteration ?? lease.ResumedAtIteration;

    public CancellationToken CancelRequested => cancelRequested.Token;

    public void OnIteration(IterationProgress progress)
    {
        latest = progress;
        metrics.TrainingIteration(progress.ImagesPerSecond);
        pending.Add(new IterationRecord(progress.GlobalIteration, progress.Epoch, progress.LearningRate, progress.Losses.GeneratorGan,
            progress.Losses.GeneratorL1, progress.Losses.DiscriminatorReal, progress.Losses.DiscriminatorFake, progress.ImagesPerSecond));
        if (time.GetElapsedTime(lastFlush) >= ProgressInterval || progress.GlobalIteration == progress.TotalIterations) Flush();
    }

    public void OnCheckpoint(CheckpointWritten checkpoint)
    {
        Flush();
        var key = BlobKeys.Checkpoint(job.Id, lease.Token);
        var started = time.GetTimestamp();
        Wait(blobs.PutFileAsync(key, checkpoint.Path, "application/zip"));
        string? previous;
        try
        {
            previous = Wait(retry.RunAsync("Recording the checkpoint", token => jobs.SetCheckpointAsync(lease, key, token)));
        }
        catch (LeaseLostException)
        {
            Wait(blobs.DeleteAsync(key));
            throw;
        }
        if (previous is not null && previous != key) Wait(blobs.DeleteAsync(previous));
        var stored = time.GetElapsedTime(started);
        metrics.Checkpoint(checkpoint.Duration.TotalSeconds + stored.TotalSeconds);
        logger.LogInformation("Job {JobId}: checkpoint at epoch {Epoch}, iteration {Iteration} written in {Write:F1} s, stored in {Store:F1} s",
            job.Id, checkpoint.Position.Epoch, checkpoint.Position.GlobalIterations, checkpoint.Duration.TotalSeconds, stored.TotalSeconds);
    }

    public void OnSnapshot(TrainingSnapshot snapshot)
    {
        Flush();
        string? imageKey = null;
        if (snapshot.GridPng is { } png)
        {
            imageKey = BlobKeys.Snapshot(job.Id, snapshot.Epoch);
            using var image = new MemoryStream(png);
            Wait(blobs.PutAsync(imageKey, image, "image/png"));
        }
        var val = ToMetrics(snapshot.ValMetrics);
        var test = ToMetrics(snapshot.TestMetrics);
        var record = new JobSnapshot(job.Id, snapshot.Epoch, snapshot.IsFinal, val, test, imageKey, time.GetUtcNow());
        Wait(retry.RunAsync("Recording the snapshot", token => jobs.AddSnapshotAsync(lease, record, token)));

        // A published version never changes: a job resumed after a crash finds the epoch's version and moves on.
        var published = Wait(retry.RunAsync("Looking for the version", token => models.FindVersionAsync(job.Id, snapshot.Epoch, token)));
        if (published is not null)
        {
            File.Delete(snapshot.ModelPackagePath);
            logger.LogInformation("Job {JobId}: epoch {Epoch} was published before as version {Version}; it is kept as it is", job.Id, snapshot.Epoch, published.Version);
            return;
        }
        var createdAt = time.GetUtcNow();
        var lineage = new JsonObject
        {
            ["jobId"] = job.Id.ToString(), ["datasetId"] = job.DatasetId.ToString(), ["datasetSha256"] = datasetSha256, ["epoch"] = snapshot.Epoch,
            ["isFinal"] = snapshot.IsFinal, ["recipe"] = JsonNode.Parse(job.Recipe.ToJson()), ["val"] = Metrics(val), ["test"] = Metrics(test),
            ["createdBy"] = job.CreatedBy, ["createdAt"] = createdAt.ToString("O"),
        };
        var packagePath = snapshot.ModelPackagePath + ".published";
        using (var source = File.OpenRead(snapshot.ModelPackagePath))
        using (var target = File.Create(packagePath))
            ModelPackage.WithLineage(source, lineage, target);
        File.Delete(snapshot.ModelPackagePath);
        string sha256;
        long bytes;
        using (var written = File.OpenRead(packagePath))
        {
            sha256 = Convert.ToHexStringLower(SHA256.HashData(written));
            bytes = written.Length;
        }
        var packageKey = BlobKeys.Package(job.ModelId, job.Id, snapshot.Epoch);
        Wait(blobs.PutFileAsync(packageKey, packagePath, ModelPackage.MediaType));
        var candidate = new ModelVersion(job.ModelId, 0, snapshot.Epoch, snapshot.IsFinal, job.Id, job.DatasetId,
            job.Recipe with { Precision = snapshot.Precision }, val, packageKey, bytes, createdAt)
        {
            DatasetSha256 = datasetSha256, TestMetrics = test, PackageSha256 = sha256, CreatedBy = job.CreatedBy,
        };
        var version = Wait(retry.RunAsync("Recording the version", token => models.AddVersionAsync(lease, candidate, job.Promote && snapshot.IsFinal, token)));
        File.Delete(packagePath);
        logger.LogInformation("Job {JobId}: epoch {Epoch} snapshot stored as version {Version}", job.Id, snapshot.Epoch, version.Version);
    }

    private static JsonObject? Metrics(QualityMetrics? metrics) => metrics is null
        ? null
        : new JsonObject { ["l1"] = metrics.L1, ["psnr"] = metrics.Psnr, ["ssim"] = metrics.Ssim, ["images"] = metrics.Images };

    /// <summary>Writes the iterations logged since the last write, with the latest progress.</summary>
    public void Flush()
    {
        lastFlush = time.GetTimestamp();
        if (latest is not { } progress || pending.Count == 0) return;
        var batch = pending.ToList();
        if (Wait(retry.RunAsync("Recording progress", token => jobs.ReportProgressAsync(lease, progress, batch, token)))) cancelRequested.Cancel();
        pending.Clear();
    }

    private static T Wait<T>(Task<T> task) => task.GetAwaiter().GetResult();

    private static void Wait(Task task) => task.GetAwaiter().GetResult();

    private static QualityMetrics? ToMetrics(EvaluationMetrics? metrics) =>
        metrics is null || metrics.Images == 0 ? null : new QualityMetrics(metrics.L1, metrics.Psnr, metrics.Ssim, metrics.Images);
}
