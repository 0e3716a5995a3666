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
using Pix2Pix.Infrastructure.Telemetry;

namespace Pix2Pix.Infrastructure.Jobs;

/// <summary>
/// The Hangfire job that trains one <see cref="TrainingJob"/>. Hangfire may deliver it more than once; the job's
/// lease decides who trains: this runner takes it (or returns), renews it while training, and every write it makes
/// is fenced by it. It fetches the dataset and the latest checkpoint, runs the engine, and stores progress,
/// checkpoints, snapshots and versions as they come.
/// </summary>
public sealed class TrainingJobRunner(
    JobStore jobs, JobLeaseStore leases, DatasetStore datasets, ModelStore models, IBlobStore blobs, IBackgroundJobClient queue,
    ServiceMetrics metrics, IOptions<StorageOptions> storage, IOptions<WorkerOptions> worker, ILogger<TrainingJobRunner> logger)
{
    public const string Queue = "training";
    private static readonly TimeSpan ProgressInterval = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan CancelPollInterval = TimeSpan.FromSeconds(1);
    private static readonly string ProcessIdentity = $"{Environment.MachineName}:{Environment.ProcessId}";

    [Queue(Queue)]
    [AutomaticRetry(Attempts = 0)] // retries are ours: bounded by Worker:MaxAttempts, resumed from the checkpoint
    [JobDisplayName("Train job {0}")]
    public async Task RunAsync(Guid jobId, CancellationToken shutdown)
    {
        using var scope = logger.BeginScope(new Dictionary<string, object> { ["JobId"] = jobId });
        var settings = worker.Value;
        var resilient = new Resilient(settings.DatabaseRetryWindow, logger);
        var job = await resilient.RunAsync("Reading the job", () => jobs.FindAsync(jobId, shutdown), shutdown);
        if (job is null || job.IsFinished)
        {
            logger.LogInformation("Job {JobId} is {Status}; this delivery does nothing", jobId, job?.Status.ToString() ?? "gone");
            return;
        }
        if (job.CancelRequested)
        {
            await leases.CancelIfUnleasedAsync(jobId, shutdown);
            return;
        }
        var lease = await resilient.RunAsync("Taking the job's lease",
            () => leases.TryAcquireAsync(jobId, $"{ProcessIdentity}:{Guid.NewGuid():N}", settings.LeaseDuration, shutdown), shutdown);
        if (lease is null)
        {
            logger.LogInformation("Job {JobId} is held by a live worker or was cancelled; this delivery does nothing", jobId);
            return;
        }
        if (lease.Failures >= settings.MaxAttempts)
        {
            await leases.ReleaseAsync(lease, JobStatus.Failed, "gave-up", lease.ResumedAtIteration,
                $"Gave up after {lease.Failures} failed attempts. {job.Error}".Trim(), cancellationToken: CancellationToken.None);
            logger.LogWarning("Job {JobId} failed {Failures} times; it ends Failed", jobId, lease.Failures);
            return;
        }

        var workDirectory = Path.Combine(storage.Value.WorkDirectory, jobId.ToString("N"), lease.Token.ToString("D6"));
        using var cancelRequested = new CancellationTokenSource();
        using var leaseLost = new CancellationTokenSource();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(shutdown, cancelRequested.Token, leaseLost.Token);
        await using var heartbeat = new LeaseHeartbeat(leases, lease, settings.LeaseDuration, leaseLost, logger);
        Recorder? recorder = null;
        try
        {
            var request = JsonSerializer.Deserialize<TrainRequestOptions>(job.OptionsJson, TrainRequestOptions.Json)!;
            var options = request.ToTrainingOptions() with { Device = settings.Device, Threads = settings.Threads };
            var dataset = DatasetRoot.Open(await FetchDatasetAsync(job.DatasetId, shutdown), options.Limits);
            Directory.CreateDirectory(workDirectory);
            if (lease.CheckpointKey is { } checkpointKey
                && !await blobs.DownloadToFileAsync(checkpointKey, Path.Combine(workDirectory, Pix2PixTrainer.CheckpointFileName), shutdown))
                throw new InvalidOperationException($"The job's checkpoint {checkpointKey} is missing from blob storage.");

            recorder = new Recorder(jobs, models, blobs, metrics, logger, resilient, job, lease, cancelRequested);
            var trainer = new Pix2PixTrainer(options, dataset, workDirectory, recorder, logger);
            logger.LogInformation("Job {JobId}: lease {Token}, attempt {Attempt}, {Start}", jobId, lease.Token, lease.Attempt,
                lease.CheckpointKey is null ? "starting" : $"resuming after iteration {lease.ResumedAtIteration}");
            // Hours of CPU or GPU work: a thread of its own rather than one borrowed from the pool.
            await Task.Factory.StartNew(() => trainer.Run(stop.Token), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            recorder.Flush();

            await resilient.RunAsync("Recording success", () => leases.ReleaseAsync(lease, JobStatus.Succeeded, "succeeded", recorder.LastIteration));
            await CleanUpAsync(jobId, lease);
            logger.LogInformation("Job {JobId} succeeded", jobId);
        }
        catch (Exception e) when (leaseLost.IsCancellationRequested || e is LeaseLostException)
        {
            logger.LogWarning("Job {JobId}: lease {Token} was lost; this worker stops and writes nothing more", jobId, lease.Token);
        }
        catch (OperationCanceledException) when (cancelRequested.IsCancellationRequested)
        {
            await resilient.RunAsync("Recording cancellation", () => leases.ReleaseAsync(lease, JobStatus.Cancelled, "cancelled", recorder?.LastIteration ?? 0));
            logger.LogInformation("Job {JobId} cancelled; its checkpoint is kept", jobId);
        }
        catch (OperationCanceledException) when (shutdown.IsCancellationRequested)
        {
            // The trainer wrote and stored a checkpoint at the current iteration; another worker continues from it.
            await resilient.RunAsync("Handing the job back", () => leases.ReleaseAsync(lease, null, "interrupted", recorder?.LastIteration ?? 0));
            queue.Enqueue<TrainingJobRunner>(runner => runner.RunAsync(jobId, CancellationToken.None));
            logger.LogInformation("Job {JobId} interrupted by shutdown after iteration {Iteration}; queued again", jobId, recorder?.LastIteration);
        }
        catch (Exception e) when (e is DatasetException or ArgumentException or InvalidDataException or InvalidOperationException)
        {
            // The job itself is wrong (data, options, a missing blob): retrying would fail the same way.
            logger.LogWarning(e, "Job {JobId} failed", jobId);
            await resilient.RunAsync("Recording failure", () => leases.ReleaseAsync(lease, JobStatus.Failed, "failed", recorder?.LastIteration ?? 0, e.Message));
        }
        catch (Exception e)
        {
            var error = $"{e.GetType().Name}: {e.Message}";
            if (lease.Failures + 1 >= settings.MaxAttempts)
            {
                logger.LogError(e, "Job {JobId} failed for the {Count}th time; it ends Failed", jobId, lease.Failures + 1);
                await resilient.RunAsync("Recording failure", () => leases.ReleaseAsync(lease, JobStatus.Failed, "failed", recorder?.LastIteration ?? 0,
                    $"Gave up after {lease.Failures + 1} failed attempts: {error}", failed: true));
            }
            else
            {
                logger.LogError(e, "Job {JobId} failed (attempt {Attempt}); it resumes from its checkpoint in 10 s", jobId, lease.Attempt);
                await resilient.RunAsync("Handing the job back", () => leases.ReleaseAsync(lease, null, "crashed", recorder?.LastIteration ?? 0, error, failed: true));
                queue.Schedule<TrainingJobRunner>(runner => runner.RunAsync(jobId, CancellationToken.None), TimeSpan.FromSeconds(10));
            }
        }
        finally
        {
            if (Directory.Exists(workDirectory)) Directory.Delete(workDirectory, recursive: true);
        }
    }

    private async Task CleanUpAsync(Guid jobId, JobLease lease)
    {
        if (await jobs.CheckpointKeyAsync(jobId) is { } key) await blobs.DeleteAsync(key);
        var jobDirectory = Path.Combine(storage.Value.WorkDirectory, jobId.ToString("N"));
        if (Directory.Exists(jobDirectory)) Directory.Delete(jobDirectory, recursive: true);
        logger.LogDebug("Job {JobId}: lease {Token} cleaned up", jobId, lease.Token);
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
                (root, _) = DatasetArchive.ExtractAndValidate(zip, Path.Combine(staging, "files"), new ArchiveLimits(), decodeImages: false);
            File.Delete(archive);
            var relative = Path.GetRelativePath(staging, root);
            await File.WriteAllTextAsync(Path.Combine(staging, ".root"), Path.GetFullPath(Path.Combine(folder, relative)), cancellationToken);
            try
            {
                Directory.Move(staging, folder);
            }
            catch (IOException) when (File.Exists(rootFile))
            {
                // Another worker on this machine finished the same download first.
            }
            return await File.ReadAllTextAsync(rootFile, cancellationToken);
        }
        finally
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        }
    }

    /// <summary>Renews the lease every third of its duration on a timer; marks it lost when a renewal is refused.</summary>
    private sealed class LeaseHeartbeat : IAsyncDisposable
    {
        private readonly Timer timer;

        public LeaseHeartbeat(JobLeaseStore leases, JobLease lease, TimeSpan duration, CancellationTokenSource lost, ILogger logger)
        {
            var busy = 0;
            timer = new Timer(async _ =>
            {
                if (Interlocked.Exchange(ref busy, 1) == 1) return;
                try
                {
                    if (!await leases.RenewAsync(lease, duration)) lost.Cancel();
                }
                catch (Exception e)
                {
                    // The database may be restarting: keep trying; fenced writes catch a lease taken meanwhile.
                    logger.LogWarning("Job {JobId}: renewing lease {Token} failed: {Error}", lease.JobId, lease.Token, e.Message);
                }
                finally
                {
                    Volatile.Write(ref busy, 0);
                }
            }, null, duration / 3, duration / 3);
        }

        public ValueTask DisposeAsync() => timer.DisposeAsync();
    }

    /// <summary>Turns trainer events into fenced rows and blobs; runs on the training thread.</summary>
    private sealed class Recorder(
        JobStore jobs, ModelStore models, IBlobStore blobs, ServiceMetrics metrics, ILogger logger, Resilient resilient, TrainingJob job,
        JobLease lease, CancellationTokenSource cancelRequested) : ITrainingObserver
    {
        private readonly List<IterationRecord> pending = [];
        private readonly Stopwatch sinceFlush = Stopwatch.StartNew();
        private readonly Stopwatch sinceCancelCheck = Stopwatch.StartNew();
        private IterationProgress? latest;

        public long LastIteration => latest?.GlobalIteration ?? lease.ResumedAtIteration;

        public void OnIteration(IterationProgress progress)
        {
            latest = progress;
            metrics.TrainingIteration(progress.ImagesPerSecond);
            pending.Add(new IterationRecord(progress.GlobalIteration, progress.Epoch, progress.LearningRate, progress.Losses.GeneratorGan,
                progress.Losses.GeneratorL1, progress.Losses.DiscriminatorReal, progress.Losses.DiscriminatorFake, progress.ImagesPerSecond));
            if (sinceFlush.Elapsed >= ProgressInterval || progress.GlobalIteration == progress.TotalIterations) Flush();
            if (sinceCancelCheck.Elapsed >= CancelPollInterval)
            {
                sinceCancelCheck.Restart();
                if (Wait(resilient.RunAsync("Checking for cancellation", () => jobs.IsCancelRequestedAsync(job.Id)))) cancelRequested.Cancel();
            }
        }

        public void OnCheckpoint(CheckpointWritten checkpoint)
        {
            Flush();
            // A key per lease: a worker that lost its lease can upload, but never becomes the job's checkpoint.
            var key = $"{BlobKeys.JobPrefix(job.Id)}checkpoint-{lease.Token:D6}.zip";
            var clock = Stopwatch.StartNew();
            Wait(blobs.PutFileAsync(key, checkpoint.Path, "application/zip"));
            string? previous;
            try
            {
                previous = Wait(resilient.RunAsync("Recording the checkpoint", () => jobs.SetCheckpointAsync(lease, key)));
            }
            catch (LeaseLostException)
            {
                Wait(blobs.DeleteAsync(key));
                throw;
            }
            if (previous is not null && previous != key) Wait(blobs.DeleteAsync(previous));
            metrics.Checkpoint(checkpoint.Duration.TotalSeconds + clock.Elapsed.TotalSeconds);
            logger.LogInformation("Job {JobId}: checkpoint at epoch {Epoch}, iteration {Iteration} written in {Write:F1} s, stored in {Store:F1} s",
                job.Id, checkpoint.Position.Epoch, checkpoint.Position.GlobalIterations, checkpoint.Duration.TotalSeconds, clock.Elapsed.TotalSeconds);
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
            var packageKey = $"{BlobKeys.ModelPrefix(job.ModelId)}jobs/{job.Id:N}/epoch-{snapshot.Epoch:D4}{ModelPackage.FileExtension}";
            Wait(blobs.PutFileAsync(packageKey, snapshot.ModelPackagePath, ModelPackage.MediaType));
            var val = ToMetrics(snapshot.ValMetrics);
            Wait(resilient.RunAsync("Recording the snapshot", () =>
                jobs.AddSnapshotAsync(lease, new JobSnapshot(job.Id, snapshot.Epoch, snapshot.IsFinal, val, ToMetrics(snapshot.TestMetrics), imageKey, DateTimeOffset.UtcNow))));
            var version = Wait(resilient.RunAsync("Recording the version", () => models.AddVersionAsync(lease, job.ModelId, job.DatasetId, snapshot.Epoch,
                snapshot.IsFinal, job.OptionsJson, val, _ => packageKey, new FileInfo(snapshot.ModelPackagePath).Length)));
            File.Delete(snapshot.ModelPackagePath);
            logger.LogInformation("Job {JobId}: epoch {Epoch} snapshot stored as version {Version}", job.Id, snapshot.Epoch, version.Version);
        }

        public void Flush()
        {
            sinceFlush.Restart();
            if (latest is null || pending.Count == 0) return;
            var batch = pending.ToList();
            Wait(resilient.RunAsync("Recording progress", () => jobs.ReportProgressAsync(lease, latest, batch)));
            pending.Clear();
        }

        private static T Wait<T>(Task<T> task) => task.GetAwaiter().GetResult();

        private static void Wait(Task task) => task.GetAwaiter().GetResult();

        private static QualityMetrics? ToMetrics(Domain.Evaluation.EvaluationMetrics? metrics) =>
            metrics is null || metrics.Images == 0 ? null : new QualityMetrics(metrics.L1, metrics.Psnr, metrics.Ssim, metrics.Images);
    }
}
