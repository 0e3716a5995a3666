using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Pix2Pix.Domain.Service;
using Pix2Pix.Infrastructure.Persistence;

namespace Pix2Pix.Infrastructure.Jobs;

/// <summary>What one sweep removed.</summary>
public sealed record SweepResult(int ExpiredCheckpoints, int ExpiredBatches, int OrphanBlobs);

/// <summary>
/// Reclaims storage every <see cref="JobsOptions.SweepInterval"/>: checkpoints of Cancelled and Failed jobs after
/// <see cref="JobsOptions.CheckpointRetention"/>, finished batch translations with their images and result after
/// <see cref="JobsOptions.BatchRetention"/>, and blobs no row refers to once they are
/// <see cref="JobsOptions.OrphanMinimumAge"/> old — which also retries blob deletes that failed after their rows went.
/// One process in the cluster sweeps the blob store per interval; every training process trims its own dataset cache.
/// </summary>
public sealed class StorageSweeper(
    MaintenanceStore maintenance, BatchStore batches, IBlobStore blobs, IEnumerable<DatasetCache> datasetCaches, IOptions<JobsOptions> options, TimeProvider time,
    ILogger<StorageSweeper> logger) : BackgroundService
{
    private const string SweepName = "storage-sweep";
    private static readonly TimeSpan FirstSweepDelay = TimeSpan.FromMinutes(5);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Not at once: a process that starts (or restarts) keeps its first minutes for serving, and short-lived ones
        // (tests, crash loops) leave the sweep to the others.
        var interval = options.Value.SweepInterval;
        await Task.Delay(interval < FirstSweepDelay ? interval : FirstSweepDelay, time, stoppingToken);
        using var timer = new PeriodicTimer(interval, time);
        do
        {
            try
            {
                // Only processes that train have a dataset cache (AddTrainingWorker).
                foreach (var cache in datasetCaches) await cache.TrimAsync(stoppingToken);
                if (await maintenance.TryClaimRunAsync(SweepName, interval * 0.9, stoppingToken))
                    await SweepAsync(stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning("Storage sweep: {Error}", e.Message);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    public async Task<SweepResult> SweepAsync(CancellationToken cancellationToken)
    {
        int checkpoints = 0;
        foreach (var checkpoint in await maintenance.ExpiredCheckpointsAsync(options.Value.CheckpointRetention, cancellationToken))
        {
            // The row lets go first: if the blob delete then fails, the blob is an orphan the next sweep removes.
            if (!await maintenance.ForgetCheckpointAsync(checkpoint, cancellationToken)) continue;
            await blobs.DeleteAsync(checkpoint.Key, cancellationToken);
            checkpoints++;
            logger.LogInformation("Job {JobId}: checkpoint {Key} removed after Jobs:CheckpointRetention", checkpoint.JobId, checkpoint.Key);
        }

        int expiredBatches = 0;
        foreach (var batch in await batches.ExpiredAsync(options.Value.BatchRetention, cancellationToken))
        {
            try
            {
                await batches.DeleteAsync(batch.Id, cancellationToken);
            }
            catch (NotFoundException)
            {
                continue; // its owner deleted it meanwhile, blobs included
            }
            await blobs.DeleteAsync(batch.InputBlobKey, cancellationToken);
            if (batch.ResultBlobKey is { } result) await blobs.DeleteAsync(result, cancellationToken);
            expiredBatches++;
            logger.LogInformation("Batch {BatchId} removed {Age} after it ended (Jobs:BatchRetention)", batch.Id, options.Value.BatchRetention);
        }

        // List first, then read the references: a blob whose row is written in between is seen as referenced.
        var listed = new List<BlobItem>();
        foreach (var root in BlobKeys.Roots) listed.AddRange(await blobs.ListAsync(root, cancellationToken));
        var referenced = await maintenance.ReferencedBlobKeysAsync(cancellationToken);
        var cutoff = time.GetUtcNow() - options.Value.OrphanMinimumAge;
        int orphans = 0;
        foreach (var blob in listed.Where(b => !referenced.Contains(b.Key) && b.LastModified < cutoff))
        {
            await blobs.DeleteAsync(blob.Key, cancellationToken);
            orphans++;
        }
        if (checkpoints + expiredBatches + orphans > 0)
            logger.LogInformation("Storage sweep: {Checkpoints} expired checkpoint(s), {Batches} expired batch(es), {Orphans} blob(s) no row refers to removed",
                checkpoints, expiredBatches, orphans);
        return new SweepResult(checkpoints, expiredBatches, orphans);
    }
}
