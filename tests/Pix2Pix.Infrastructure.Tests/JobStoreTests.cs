using Dapper;
using Pix2Pix.Domain.Service;
using Pix2Pix.Domain.Training;

namespace Pix2Pix.Infrastructure.Tests;

public sealed class JobStoreTests
{
    [Fact]
    public async Task Delete_FinishedJob_TakesItsSeriesSnapshotsAndLeasesWithIt()
    {
        await using var harness = await Harness.StartAsync();
        var job = await harness.AddJobAsync();
        var lease = (await harness.Leases.TryAcquireAsync(job.Id, "worker", TimeSpan.FromSeconds(30)))!;
        var progress = new IterationProgress(1, 1, 1, 1, 1, 1, 2e-4, new StepLosses(0.7, 10, 0.6, 0.6), 3);
        await harness.Jobs.ReportProgressAsync(lease, progress, [new IterationRecord(1, 1, 2e-4, 0.7, 10, 0.6, 0.6, 3)]);
        await harness.Jobs.AddSnapshotAsync(lease, new JobSnapshot(job.Id, 1, true, null, null, null, harness.Time.GetUtcNow()));

        await Assert.ThrowsAsync<ConflictException>(() => harness.Jobs.DeleteAsync(job.Id)); // running
        await harness.Leases.ReleaseAsync(lease, JobStatus.Succeeded, "succeeded", 1);
        await harness.Jobs.DeleteAsync(job.Id);

        Assert.Null(await harness.Jobs.FindAsync(job.Id));
        await using var connection = await harness.Database.OpenAsync();
        foreach (var table in new[] { "job_iterations", "job_snapshots", "job_leases" })
            Assert.Equal(0, await connection.ExecuteScalarAsync<long>($"SELECT COUNT(*) FROM {table} WHERE job_id = @id", new { id = job.Id.ToString() }));
        await Assert.ThrowsAsync<NotFoundException>(() => harness.Jobs.DeleteAsync(job.Id));
    }
}
