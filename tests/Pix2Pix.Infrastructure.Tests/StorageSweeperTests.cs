using Pix2Pix.Domain.Inference;
using Pix2Pix.Domain.Service;
using Pix2Pix.Infrastructure.Persistence;

namespace Pix2Pix.Infrastructure.Tests;

public sealed class StorageSweeperTests
{
    private static readonly TimeSpan Duration = TimeSpan.FromSeconds(30);

    private static async Task<string> PutAsync(Harness harness, string key, TimeSpan age)
    {
        await harness.Blobs.PutAsync(key, new MemoryStream([1, 2, 3]), "application/octet-stream");
        File.SetLastWriteTimeUtc(Path.Combine(harness.Directory, "blobs", key), (harness.Time.GetUtcNow() - age).UtcDateTime);
        return key;
    }

    private static async Task<bool> ExistsAsync(Harness harness, string key) => await harness.Blobs.ExistsAsync(key);

    [Fact]
    public async Task Sweep_CheckpointsOfCancelledAndFailedJobs_RemovedAfterTheRetentionOnly()
    {
        await using var harness = await Harness.StartAsync();
        var cancelled = await harness.AddJobAsync();
        var running = await harness.AddJobAsync();
        var cancelledLease = (await harness.Leases.TryAcquireAsync(cancelled.Id, "w", Duration))!;
        var runningLease = (await harness.Leases.TryAcquireAsync(running.Id, "w", Duration))!;
        var cancelledKey = await PutAsync(harness, BlobKeys.Checkpoint(cancelled.Id, cancelledLease.Token), TimeSpan.Zero);
        var runningKey = await PutAsync(harness, BlobKeys.Checkpoint(running.Id, runningLease.Token), TimeSpan.Zero);
        await harness.Jobs.SetCheckpointAsync(cancelledLease, cancelledKey);
        await harness.Jobs.SetCheckpointAsync(runningLease, runningKey);
        await harness.Leases.ReleaseAsync(cancelledLease, JobStatus.Cancelled, "cancelled", 3);

        harness.Time.Advance(TimeSpan.FromDays(6));
        var early = await harness.Sweeper().SweepAsync(CancellationToken.None);
        Assert.Equal(0, early.ExpiredCheckpoints);
        Assert.True(await ExistsAsync(harness, cancelledKey));

        harness.Time.Advance(TimeSpan.FromDays(1) + TimeSpan.FromMinutes(1));
        var due = await harness.Sweeper().SweepAsync(CancellationToken.None);

        Assert.Equal(1, due.ExpiredCheckpoints);
        Assert.False(await ExistsAsync(harness, cancelledKey));
        Assert.Null(await harness.Jobs.CheckpointKeyAsync(cancelled.Id));
        Assert.True(await ExistsAsync(harness, runningKey), "a running job's checkpoint was removed");
        Assert.Equal(runningKey, await harness.Jobs.CheckpointKeyAsync(running.Id));
    }

    [Fact]
    public async Task Sweep_FinishedBatches_RemovedWithTheirImagesAndResultAfterTheRetentionOnly()
    {
        await using var harness = await Harness.StartAsync();
        var batches = new BatchStore(harness.Database);
        async Task<BatchJob> AddBatchAsync(JobStatus? finishedAs)
        {
            var id = Guid.NewGuid();
            var input = await PutAsync(harness, BlobKeys.BatchInput(id), TimeSpan.Zero);
            var batch = await batches.CreateAsync(id, Guid.NewGuid(), 1, FitMode.Pad, 2, input, "test");
            if (finishedAs is not { } status) return batch;
            await batches.StartAsync(id);
            var result = status == JobStatus.Succeeded ? await PutAsync(harness, BlobKeys.BatchResult(id), TimeSpan.Zero) : null;
            await batches.FinishAsync(id, status, status == JobStatus.Failed ? "broken" : null, result);
            return await batches.GetAsync(id);
        }
        var succeeded = await AddBatchAsync(JobStatus.Succeeded);
        var failed = await AddBatchAsync(JobStatus.Failed);
        var queued = await AddBatchAsync(null);

        harness.Time.Advance(TimeSpan.FromDays(6));
        Assert.Equal(0, (await harness.Sweeper().SweepAsync(CancellationToken.None)).ExpiredBatches);
        Assert.True(await ExistsAsync(harness, succeeded.ResultBlobKey!));

        harness.Time.Advance(TimeSpan.FromDays(1) + TimeSpan.FromMinutes(1));
        var due = await harness.Sweeper().SweepAsync(CancellationToken.None);

        Assert.Equal(2, due.ExpiredBatches);
        foreach (var batch in new[] { succeeded, failed }) Assert.Null(await batches.FindAsync(batch.Id));
        Assert.False(await ExistsAsync(harness, succeeded.InputBlobKey));
        Assert.False(await ExistsAsync(harness, succeeded.ResultBlobKey!));
        Assert.False(await ExistsAsync(harness, failed.InputBlobKey));
        Assert.Equal(JobStatus.Queued, (await batches.GetAsync(queued.Id)).Status);
        Assert.True(await ExistsAsync(harness, queued.InputBlobKey), "a queued batch's images were removed");
    }

    [Fact]
    public async Task Sweep_BlobsNoRowRefersTo_RemovedOnceOlderThanTheMinimumAge()
    {
        await using var harness = await Harness.StartAsync();
        var dataset = await harness.AddDatasetAsync(TestArchives.Dataset(train: 2, val: 0));
        File.SetLastWriteTimeUtc(Path.Combine(harness.Directory, "blobs", dataset.BlobKey), (harness.Time.GetUtcNow() - TimeSpan.FromDays(3)).UtcDateTime);
        // A job deleted while the blob store was down, and an upload whose row is not written yet.
        var leftOver = await PutAsync(harness, $"jobs/{Guid.NewGuid():N}/snapshots/epoch-0001.png", TimeSpan.FromHours(2));
        var inFlight = await PutAsync(harness, $"datasets/{Guid.NewGuid():N}/dataset.zip", TimeSpan.FromMinutes(10));

        var result = await harness.Sweeper().SweepAsync(CancellationToken.None);

        Assert.Equal(1, result.OrphanBlobs);
        Assert.False(await ExistsAsync(harness, leftOver));
        Assert.True(await ExistsAsync(harness, inFlight));
        Assert.True(await ExistsAsync(harness, dataset.BlobKey));
    }

    [Fact]
    public async Task TryClaimRun_TwoProcessesInOneInterval_OnlyOneSweeps()
    {
        await using var harness = await Harness.StartAsync();
        var interval = TimeSpan.FromHours(1);

        Assert.True(await harness.Maintenance.TryClaimRunAsync("sweep", interval));
        Assert.False(await harness.Maintenance.TryClaimRunAsync("sweep", interval));
        harness.Time.Advance(interval);
        Assert.True(await harness.Maintenance.TryClaimRunAsync("sweep", interval));
    }
}
