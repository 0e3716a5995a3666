using System.Diagnostics;
using System.Text.Json;
using Hangfire;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Pix2Pix.Domain.Data;
using Pix2Pix.Domain.Inference;
using Pix2Pix.Domain.Service;
using Pix2Pix.Domain.Training;
using Pix2Pix.Infrastructure.Persistence;

namespace Pix2Pix.Infrastructure.Jobs;

/// <summary>
/// The Hangfire job that trains one <see cref="TrainingJob"/>: fetches the dataset and any checkpoint from blob storage,
/// runs the engine, and records progress, checkpoints, snapshots and versions as they come.
/// </summary>
public sealed class TrainingJobRunner(
    JobStore jobs, DatasetStore datasets, ModelStore models, IBlobStore blobs,
    IOptions<StorageOptions> storage, IOptions<WorkerOptions> worker, ILogger<TrainingJobRunner> logger)
{
    public const string Queue = "training";
    private static readonly TimeSpan ProgressInterval = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan CancelPollInterval = TimeSpan.FromSeconds(1);

    [Queue(Queue)]
    [AutomaticRetry(Attempts = 0)]
    [JobDisplayName("Train job {0}")]
    public async Task RunAsync(Guid jobId, CancellationToken shutdown)
    {
        using var scope = logger.BeginScope(new Dictionary<string, object> { ["JobId"] = jobId });
        var job = await jobs.FindAsync(jobId, shutdown);
        if (job is null || job.IsFinished) return;
        if (job.CancelRequested)
        {
            await jobs.FinishAsync(jobId, JobStatus.Cancelled, null, shutdown);
            return;
        }
        if (!await jobs.TryStartAsync(jobId, shutdown)) return;

        var workDirectory = Path.Combine(storage.Value.WorkDirectory, jobId.ToString("N"));
        using var cancelRequested = new CancellationTokenSource();
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(shutdown, cancelRequested.Token);
        try
        {
            var request = JsonSerializer.Deserialize<TrainRequestOptions>(job.OptionsJson, TrainRequestOptions.Json)!;
            var options = request.ToTrainingOptions() with { Device = worker.Value.Device, Threads = worker.Value.Threads };
            var dataset = DatasetRoot.Open(await FetchDatasetAsync(job.DatasetId, shutdown), options.Limits);
            Directory.CreateDirectory(workDirectory);
            var checkpoint = Path.Combine(workDirectory, Pix2PixTrainer.CheckpointFileName);
            if (!File.Exists(checkpoint)) await blobs.DownloadToFileAsync(BlobKeys.Checkpoint(jobId), checkpoint, shutdown);

            var observer = new Recorder(jobs, models, blobs, logger, job, cancelRequested);
            var trainer = new Pix2PixTrainer(options, dataset, workDirectory, observer, logger);
            logger.LogInformation("Job {JobId} starts training (attempt {Attempt}, resuming: {Resuming})", jobId, job.Attempts + 1, File.Exists(checkpoint));
            // Hours of CPU or GPU work: a thread of its own rather than one borrowed from the pool.
            await Task.Factory.StartNew(() => trainer.Run(linked.Token), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            observer.Flush();

            await jobs.FinishAsync(jobId, JobStatus.Succeeded, null, CancellationToken.None);
            await blobs.DeleteAsync(BlobKeys.Checkpoint(jobId), CancellationToken.None);
            Directory.Delete(workDirectory, recursive: true);
            logger.LogInformation("Job {JobId} succeeded", jobId);
        }
        catch (OperationCanceledException) when (cancelRequested.IsCancellationRequested)
        {
            await jobs.FinishAsync(jobId, JobStatus.Cancelled, null, CancellationToken.None);
            logger.LogInformation("Job {JobId} cancelled; its checkpoint is kept", jobId);
        }
        catch (OperationCanceledException) when (shutdown.IsCancellationRequested)
        {
            await jobs.RequeueAsync(jobId, CancellationToken.None);
            logger.LogInformation("Job {JobId} interrupted by shutdown; it resumes from its checkpoint", jobId);
            throw;
        }
        catch (Exception e) when (e is DatasetException or ArgumentException or InvalidOperationException or InvalidDataException)
        {
            logger.LogWarning(e, "Job {JobId} failed", jobId);
            await jobs.FinishAsync(jobId, JobStatus.Failed, e.Message, CancellationToken.None);
        }
        catch (Exception e)
        {
            logger.LogError(e, "Job {JobId} failed unexpectedly", jobId);
            await jobs.FinishAsync(jobId, JobStatus.Failed, $"{e.GetType().Name}: {e.Message}", CancellationToken.None);
        }
    }

    /// <summary>The dataset extracted in the local cache (downloaded and validated once per machine).</summary>
    private async Task<string> FetchDatasetAsync(Guid datasetId, CancellationToken cancellationToken)
    {
        var dataset = await datasets.GetAsync(datasetId, cancellationToken);
        var folder = Path.Combine(storage.Value.DatasetCacheDirectory, datasetId.ToString("N"));
        var rootFile = Path.Combine(folder, ".root");
        if (File.Exists(rootFile)) return await File.ReadAllTextAsync(rootFile, cancellationToken);

        var staging = $"{folder}.{Guid.NewGuid():N}.staging";
        try
        {
            var archive = Path.Combine(staging, "dataset.zip");
            Directory.CreateDirectory(staging);
            if (!await blobs.DownloadToFileAsync(dataset.BlobKey, archive, cancellationToken))
                throw new InvalidOperationException($"The archive of dataset {datasetId} is missing from blob storage.");
            string root;
            await using (var zip = File.OpenRead(archive))
                (root, _) = DatasetArchive.ExtractAndValidate(zip, Path.Combine(staging, "files"), new ArchiveLimits());
            File.Delete(archive);
            var relative = Path.GetRelativePath(staging, root);
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
            Directory.Move(staging, folder);
            var finalRoot = Path.GetFullPath(Path.Combine(folder, relative));
            await File.WriteAllTextAsync(rootFile, finalRoot, cancellationToken);
            return finalRoot;
        }
        finally
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        }
    }

    /// <summary>Turns trainer events into rows and blobs; runs on the training thread.</summary>
    private sealed class Recorder(JobStore jobs, ModelStore models, IBlobStore blobs, ILogger logger, TrainingJob job, CancellationTokenSource cancelRequested)
        : ITrainingObserver
    {
        private readonly List<IterationRecord> pending = [];
        private readonly Stopwatch sinceFlush = Stopwatch.StartNew();
        private readonly Stopwatch sinceCancelCheck = Stopwatch.StartNew();
        private IterationProgress? latest;

        public void OnIteration(IterationProgress progress)
        {
            latest = progress;
            pending.Add(new IterationRecord(progress.GlobalIteration, progress.Epoch, progress.LearningRate, progress.Losses.GeneratorGan,
                progress.Losses.GeneratorL1, progress.Losses.DiscriminatorReal, progress.Losses.DiscriminatorFake, progress.ImagesPerSecond));
            if (sinceFlush.Elapsed >= ProgressInterval || progress.GlobalIteration == progress.TotalIterations) Flush();
            if (sinceCancelCheck.Elapsed >= CancelPollInterval)
            {
                sinceCancelCheck.Restart();
                if (jobs.IsCancelRequestedAsync(job.Id).GetAwaiter().GetResult()) cancelRequested.Cancel();
            }
        }

        public void OnCheckpoint(CheckpointWritten checkpoint)
        {
            Flush();
            blobs.PutFileAsync(BlobKeys.Checkpoint(job.Id), checkpoint.Path, "application/zip").GetAwaiter().GetResult();
            logger.LogInformation("Job {JobId}: checkpoint at epoch {Epoch}, iteration {Iteration} written in {Seconds:F1} s and stored",
                job.Id, checkpoint.Position.Epoch, checkpoint.Position.GlobalIterations, checkpoint.Duration.TotalSeconds);
        }

        public void OnSnapshot(TrainingSnapshot snapshot)
        {
            Flush();
            string? imageKey = null;
            if (snapshot.GridPng is { } png)
            {
                imageKey = BlobKeys.Snapshot(job.Id, snapshot.Epoch);
                using var image = new MemoryStream(png);
                blobs.PutAsync(imageKey, image, "image/png").GetAwaiter().GetResult();
            }
            var packageKey = $"{BlobKeys.ModelPrefix(job.ModelId)}jobs/{job.Id:N}/epoch-{snapshot.Epoch:D4}{ModelPackage.FileExtension}";
            blobs.PutFileAsync(packageKey, snapshot.ModelPackagePath, ModelPackage.MediaType).GetAwaiter().GetResult();
            var val = ToMetrics(snapshot.ValMetrics);
            jobs.AddSnapshotAsync(new JobSnapshot(job.Id, snapshot.Epoch, snapshot.IsFinal, val, ToMetrics(snapshot.TestMetrics), imageKey, DateTimeOffset.UtcNow))
                .GetAwaiter().GetResult();
            var version = models.AddVersionAsync(job.ModelId, job.Id, job.DatasetId, snapshot.Epoch, snapshot.IsFinal, job.OptionsJson, val,
                _ => packageKey, new FileInfo(snapshot.ModelPackagePath).Length).GetAwaiter().GetResult();
            File.Delete(snapshot.ModelPackagePath);
            logger.LogInformation("Job {JobId}: epoch {Epoch} snapshot stored as version {Version}", job.Id, snapshot.Epoch, version.Version);
        }

        public void Flush()
        {
            sinceFlush.Restart();
            if (latest is null || pending.Count == 0) return;
            jobs.ReportProgressAsync(job.Id, latest, pending.ToList()).GetAwaiter().GetResult();
            pending.Clear();
        }

        private static QualityMetrics? ToMetrics(Domain.Evaluation.EvaluationMetrics? metrics) =>
            metrics is null || metrics.Images == 0 ? null : new QualityMetrics(metrics.L1, metrics.Psnr, metrics.Ssim, metrics.Images);
    }
}
