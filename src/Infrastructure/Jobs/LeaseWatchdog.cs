using Hangfire;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Pix2Pix.Infrastructure.Persistence;

namespace Pix2Pix.Infrastructure.Jobs;

/// <summary>
/// Runs in every process: queues again the jobs whose worker stopped renewing its lease (killed, node lost), so
/// they resume from their checkpoint without waiting for the queue storage to notice, and the jobs whose creator
/// stopped between writing the row and queueing it.
/// </summary>
public sealed class LeaseWatchdog(
    JobLeaseStore leases, JobStore jobs, IBackgroundJobClient queue, IOptions<WorkerOptions> options, TimeProvider time, ILogger<LeaseWatchdog> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.WatchdogInterval, time);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await RequeueSilentJobsAsync(stoppingToken);
                await EnqueueStrandedJobsAsync(stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning("Lease watchdog: {Error}", e.Message);
            }
        }
    }

    /// <summary>Queues again each job whose lease expired, once per lease duration however many processes look.</summary>
    public async Task<IReadOnlyList<Guid>> RequeueSilentJobsAsync(CancellationToken cancellationToken)
    {
        var jobIds = await leases.ClaimExpiredAsync(options.Value.LeaseDuration, cancellationToken);
        foreach (var jobId in jobIds)
        {
            logger.LogWarning("Job {JobId}: its worker stopped renewing the lease; queued again", jobId);
            queue.EnqueueTraining(jobId);
        }
        return jobIds;
    }

    /// <summary>Queues each job that was written but never queued (its creator stopped in between), once.</summary>
    public async Task<IReadOnlyList<Guid>> EnqueueStrandedJobsAsync(CancellationToken cancellationToken)
    {
        var jobIds = await jobs.ClaimStrandedAsync(options.Value.LeaseDuration, cancellationToken);
        foreach (var jobId in jobIds)
        {
            logger.LogWarning("Job {JobId}: created but never queued; queued now", jobId);
            queue.EnqueueTraining(jobId);
        }
        return jobIds;
    }
}
