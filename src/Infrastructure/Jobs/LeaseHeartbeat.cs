using Microsoft.Extensions.Logging;
using Pix2Pix.Infrastructure.Persistence;

namespace Pix2Pix.Infrastructure.Jobs;

/// <summary>
/// Renews a job's lease every third of its duration while the job trains; cancels <see cref="Lost"/> when a renewal is
/// refused (another worker took the job). Renewals that fail for other reasons (the database restarting) are retried
/// at the next beat: the fenced writes catch a lease taken meanwhile.
/// </summary>
public sealed class LeaseHeartbeat : IAsyncDisposable
{
    private readonly ITimer timer;
    private readonly CancellationTokenSource lost = new();
    private int busy;

    public LeaseHeartbeat(JobLeaseStore leases, JobLease lease, TimeSpan duration, TimeProvider time, ILogger logger)
    {
        timer = time.CreateTimer(async _ =>
        {
            if (Interlocked.Exchange(ref busy, 1) == 1) return;
            try
            {
                if (!await leases.RenewAsync(lease, duration)) await lost.CancelAsync();
            }
            catch (Exception e)
            {
                logger.LogWarning("Job {JobId}: renewing lease {Token} failed: {Error}", lease.JobId, lease.Token, e.Message);
            }
            finally
            {
                Volatile.Write(ref busy, 0);
            }
        }, null, duration / 3, duration / 3);
    }

    public CancellationToken Lost => lost.Token;

    // The token source stays undisposed: a renewal already in flight may still cancel it.
    public ValueTask DisposeAsync() => timer.DisposeAsync();
}
