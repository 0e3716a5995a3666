using Hangfire;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Pix2Pix.Infrastructure.Persistence;

namespace Pix2Pix.Infrastructure.Jobs;

/// <summary>
/// Runs in every process: queues again the jobs whose worker stopped renewing its lease (killed, node lost), so
/// they resume from their checkpoint without waiting for the queue storage to notice.
/// </summary>
public sealed class LeaseWatchdog(JobLeaseStore leases, IBackgroundJobClient queue, IOptions<WorkerOptions> options, ILogger<LeaseWatchdog> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.WatchdogInterval);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                foreach (var jobId in await leases.ClaimExpiredAsync(options.Value.LeaseDuration, stoppingToken))
                {
                    logger.LogWarning("Job {JobId}: its worker stopped renewing the lease; queued again", jobId);
                    queue.Enqueue<TrainingJobRunner>(runner => runner.RunAsync(jobId, CancellationToken.None));
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning("Lease watchdog: {Error}", e.Message);
            }
        }
    }
}
