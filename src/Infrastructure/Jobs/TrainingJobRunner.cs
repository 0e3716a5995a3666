using Hangfire;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Pix2Pix.Domain.Service;
using Pix2Pix.Domain.Training;
using Pix2Pix.Infrastructure.Persistence;
using Pix2Pix.Infrastructure.Telemetry;

namespace Pix2Pix.Infrastructure.Jobs;

/// <summary>
/// The Hangfire job that trains one <see cref="TrainingJob"/>: take the job's lease, run the trainer, record the outcome.
/// Hangfire may deliver a job more than once; the lease decides who trains, and every write is fenced by it.
/// A job that is itself wrong (<see cref="InvalidJobException"/>) ends Failed at once; anything else is retried from the
/// last checkpoint, up to <see cref="WorkerOptions.MaxAttempts"/>.
/// </summary>
public sealed class TrainingJobRunner(
    JobStore jobs, JobLeaseStore leases, ModelStore models, IBlobStore blobs, DatasetCache datasets, DatasetStore datasetRows, DatabaseRetry retry,
    IBackgroundJobClient queue, ServiceMetrics metrics, TimeProvider time, IOptions<StorageOptions> storage, IOptions<WorkerOptions> worker,
    IOptions<UploadOptions> uploads, ILogger<TrainingJobRunner> logger)
{
    public const string Queue = "training";
    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(10);
    private static readonly string ProcessIdentity = $"{Environment.MachineName}:{Environment.ProcessId}";

    [Queue(Queue)]
    [AutomaticRetry(Attempts = 0)] // retries are ours: bounded by Worker:MaxAttempts, resumed from the checkpoint
    [JobDisplayName("Train job {0}")]
    public async Task RunAsync(Guid jobId, CancellationToken shutdown)
    {
        using var scope = logger.BeginScope(new Dictionary<string, object> { ["JobId"] = jobId });
        var settings = worker.Value;
        var job = await retry.RunAsync("Reading the job", token => jobs.FindAsync(jobId, token), shutdown);
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
        var lease = await retry.RunAsync("Taking the job's lease",
            token => leases.TryAcquireAsync(jobId, $"{ProcessIdentity}:{Guid.NewGuid():N}", settings.LeaseDuration, token), shutdown);
        if (lease is null)
        {
            logger.LogInformation("Job {JobId} is held by a live worker or was cancelled; this delivery does nothing", jobId);
            return;
        }
        if (lease.Failures >= settings.MaxAttempts)
        {
            await retry.RunAsync("Recording failure", token => leases.ReleaseAsync(lease, JobStatus.Failed, "gave-up", lease.ResumedAtIteration,
                $"Gave up after {lease.Failures} failed attempts. {job.Error}".Trim(), cancellationToken: token));
            logger.LogWarning("Job {JobId} failed {Failures} times; it ends Failed", jobId, lease.Failures);
            return;
        }

        await using var heartbeat = new LeaseHeartbeat(leases, lease, settings.LeaseDuration, time, logger);
        var datasetSha256 = (await retry.RunAsync("Reading the dataset", token => datasetRows.FindAsync(job.DatasetId, token), shutdown))?.Sha256;
        var recorder = new JobRecorder(job, datasetSha256, lease, jobs, models, blobs, metrics, retry, time, logger);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(shutdown, recorder.CancelRequested, heartbeat.Lost);
        var outcome = await TrainAsync(job, lease, recorder, stop.Token, heartbeat.Lost, shutdown);
        long lastIteration = recorder.LastIteration;
        switch (outcome)
        {
            case Outcome.Succeeded:
                await retry.RunAsync("Recording success", token => leases.ReleaseAsync(lease, JobStatus.Succeeded, "succeeded", lastIteration, cancellationToken: token));
                await CleanUpAsync(jobId);
                logger.LogInformation("Job {JobId} succeeded", jobId);
                break;
            case Outcome.LeaseLost:
                logger.LogWarning("Job {JobId}: lease {Token} was lost; this worker stops and writes nothing more", jobId, lease.Token);
                break;
            case Outcome.Cancelled:
                await retry.RunAsync("Recording cancellation", token => leases.ReleaseAsync(lease, JobStatus.Cancelled, "cancelled", lastIteration, cancellationToken: token));
                logger.LogInformation("Job {JobId} cancelled; its checkpoint is kept for Jobs:CheckpointRetention", jobId);
                break;
            case Outcome.Interrupted:
                // The trainer wrote and stored a checkpoint at the current iteration; another worker continues from it.
                await retry.RunAsync("Handing the job back", token => leases.ReleaseAsync(lease, null, "interrupted", lastIteration, cancellationToken: token));
                queue.EnqueueTraining(jobId);
                logger.LogInformation("Job {JobId} interrupted by shutdown after iteration {Iteration}; queued again", jobId, lastIteration);
                break;
            case Outcome.Invalid { Error: var error }:
                logger.LogWarning(error, "Job {JobId} cannot succeed: {Reason}", jobId, error.Message);
                await retry.RunAsync("Recording failure", token => leases.ReleaseAsync(lease, JobStatus.Failed, "failed", lastIteration, error.Message, cancellationToken: token));
                break;
            case Outcome.Crashed { Error: var error }:
                await RecordCrashAsync(lease, lastIteration, error);
                break;
        }
    }

    private async Task<Outcome> TrainAsync(
        TrainingJob job, JobLease lease, JobRecorder recorder, CancellationToken stop, CancellationToken leaseLost, CancellationToken shutdown)
    {
        var workDirectory = Path.Combine(storage.Value.WorkDirectory, job.Id.ToString("N"), lease.Token.ToString("D6"));
        try
        {
            using var dataset = await datasets.AcquireAsync(job.DatasetId, shutdown);
            // No thread count: LibTorchSetup set Worker:Threads for the whole process at start.
            var runtime = new TrainingRuntime
            {
                Device = worker.Value.Device, PrefetchBatches = worker.Value.PrefetchBatches, Limits = uploads.Value.ToImageLimits(),
            };
            var trainer = new Pix2PixTrainer(job.Recipe, runtime, Domain.Data.DatasetRoot.Open(dataset.Root, runtime.Limits), workDirectory, recorder, logger);
            if (lease.CheckpointKey is { } checkpointKey && !await blobs.DownloadToFileAsync(checkpointKey, trainer.CheckpointPath, shutdown))
                throw new InvalidJobException($"The job's checkpoint {checkpointKey} is missing from blob storage.");
            logger.LogInformation("Job {JobId}: lease {Token}, attempt {Attempt}, {Start}", job.Id, lease.Token, lease.Attempt,
                lease.CheckpointKey is null ? "starting" : $"resuming after iteration {lease.ResumedAtIteration}");
            // Hours of CPU or GPU work: a thread of its own rather than one borrowed from the pool.
            await Task.Factory.StartNew(() => trainer.Run(stop), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            recorder.Flush();
            return new Outcome.Succeeded();
        }
        catch (Exception e) when (e is LeaseLostException || leaseLost.IsCancellationRequested)
        {
            return new Outcome.LeaseLost();
        }
        catch (OperationCanceledException) when (recorder.CancelRequested.IsCancellationRequested)
        {
            return new Outcome.Cancelled();
        }
        catch (OperationCanceledException) when (shutdown.IsCancellationRequested)
        {
            return new Outcome.Interrupted();
        }
        catch (InvalidJobException e)
        {
            return new Outcome.Invalid(e);
        }
        catch (Exception e)
        {
            return new Outcome.Crashed(e);
        }
        finally
        {
            if (Directory.Exists(workDirectory)) Directory.Delete(workDirectory, recursive: true);
        }
    }

    private async Task RecordCrashAsync(JobLease lease, long lastIteration, Exception e)
    {
        var error = $"{e.GetType().Name}: {e.Message}";
        int failures = lease.Failures + 1;
        if (failures >= worker.Value.MaxAttempts)
        {
            logger.LogError(e, "Job {JobId} failed for the {Count}th time; it ends Failed", lease.JobId, failures);
            await retry.RunAsync("Recording failure", token => leases.ReleaseAsync(lease, JobStatus.Failed, "failed", lastIteration,
                $"Gave up after {failures} failed attempts: {error}", failed: true, cancellationToken: token));
            return;
        }
        logger.LogError(e, "Job {JobId} failed (attempt {Attempt}); it resumes from its checkpoint in {Delay} s", lease.JobId, lease.Attempt, RetryDelay.TotalSeconds);
        await retry.RunAsync("Handing the job back", token => leases.ReleaseAsync(lease, null, "crashed", lastIteration, error, failed: true, cancellationToken: token));
        queue.ScheduleTraining(lease.JobId, RetryDelay);
    }

    private async Task CleanUpAsync(Guid jobId)
    {
        // A failed delete leaves a blob no row refers to: the storage sweep removes it later.
        if (await jobs.CheckpointKeyAsync(jobId) is { } key) await blobs.DeleteAsync(key);
        var jobDirectory = Path.Combine(storage.Value.WorkDirectory, jobId.ToString("N"));
        if (Directory.Exists(jobDirectory)) Directory.Delete(jobDirectory, recursive: true);
    }

    private abstract record Outcome
    {
        public sealed record Succeeded : Outcome;
        public sealed record LeaseLost : Outcome;
        public sealed record Cancelled : Outcome;
        public sealed record Interrupted : Outcome;
        public sealed record Invalid(InvalidJobException Error) : Outcome;
        public sealed record Crashed(Exception Error) : Outcome;
    }
}

/// <summary>Puts training jobs on Hangfire's training queue.</summary>
public static class TrainingQueue
{
    public static string EnqueueTraining(this IBackgroundJobClient queue, Guid jobId) =>
        queue.Enqueue<TrainingJobRunner>(runner => runner.RunAsync(jobId, CancellationToken.None));

    public static string ScheduleTraining(this IBackgroundJobClient queue, Guid jobId, TimeSpan delay) =>
        queue.Schedule<TrainingJobRunner>(runner => runner.RunAsync(jobId, CancellationToken.None), delay);
}
