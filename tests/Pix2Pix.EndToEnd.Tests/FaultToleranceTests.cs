using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Xunit.Abstractions;

namespace Pix2Pix.EndToEnd.Tests;

/// <summary>
/// Real processes against a real PostgreSQL: the API enqueues, Worker processes train; we kill, terminate and
/// restart things mid-job and check every job still ends as it should, trained by one lease holder at a time.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class FaultToleranceTests(PostgresServer postgres, ITestOutputHelper output)
{
    private const int CheckpointEvery = 5;

    [Fact]
    public async Task KillDashNine_MidTraining_AnotherWorkerResumesFromTheCheckpointAndEndsWithTheUninterruptedWeights()
    {
        await using var cluster = await Cluster.StartAsync(postgres);
        var datasetId = await cluster.Client.UploadOkAsync(TestArchives.Dataset(train: 6, val: 1));
        var first = await cluster.StartWorkerAsync("worker-a");
        var (jobId, modelId) = await cluster.StartJobAsync(datasetId, "killed", epochs: 12);

        var seen = await cluster.Client.WaitForJobAsync(jobId, j => j["iteration"]!.GetValue<long>() >= 23);
        long seenAtKill = seen["iteration"]!.GetValue<long>();
        first.Kill();
        long killedAt = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var second = await cluster.StartWorkerAsync("worker-b");

        var job = await cluster.Client.WaitForJobAsync(jobId, j => j.IsFinished(), TimeSpan.FromMinutes(3));
        Assert.True(job.Status() == "Succeeded", cluster.Logs());
        var history = await cluster.Leases.HistoryAsync(jobId);
        Assert.Equal(2, history.Count);
        var resumed = history[1];
        var resumeDelay = TimeSpan.FromMilliseconds(resumed.AcquiredAt - killedAt);
        output.WriteLine($"killed after iteration ≥ {seenAtKill}; resumed at iteration {resumed.ResumedAtIteration}, {resumeDelay.TotalSeconds:F1} s after the kill");
        Assert.True(resumed.ResumedAtIteration > 6, "resumed after the first epoch (6 iterations per epoch)");
        Assert.True(resumed.ResumedAtIteration >= seenAtKill - CheckpointEvery, $"retrained more than the checkpoint interval: seen {seenAtKill}, resumed {resumed.ResumedAtIteration}");
        var losses = (await cluster.Client.GetJsonAsync($"/jobs/{jobId}/metrics"))["losses"]!.AsArray();
        Assert.Equal(Enumerable.Range(1, 72).Select(i => (long)i), losses.Select(l => l!["iteration"]!.GetValue<long>()));

        // The same job trained without interruption by the surviving worker ends with the same generator, bit for bit.
        var (straightId, straightModel) = await cluster.StartJobAsync(datasetId, "straight", epochs: 12);
        Assert.Equal("Succeeded", (await cluster.Client.WaitForJobAsync(straightId, j => j.IsFinished(), TimeSpan.FromMinutes(3))).Status());
        var killedPackage = await cluster.Client.GetByteArrayAsync($"/models/{modelId}/versions/1/package");
        var straightPackage = await cluster.Client.GetByteArrayAsync($"/models/{straightModel}/versions/1/package");
        // The packages' headers differ (each names its own job in its lineage); the tensor bytes after them must not.
        static byte[] Tensors(byte[] package) => package[(8 + (int)System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(package))..];
        Assert.True(Tensors(killedPackage).SequenceEqual(Tensors(straightPackage)), "the resumed run's final weights differ from the uninterrupted run's");
        GC.KeepAlive(second);
    }

    [Fact]
    public async Task TwoWorkers_SeveralJobsDeliveredTwice_EveryJobSucceedsUnderOneLeaseHolder()
    {
        await using var cluster = await Cluster.StartAsync(postgres);
        var datasetId = await cluster.Client.UploadOkAsync(TestArchives.Dataset(train: 6, val: 1));
        await cluster.StartWorkerAsync("worker-a");
        await cluster.StartWorkerAsync("worker-b");
        var jobs = new List<Guid>();
        for (int i = 0; i < 4; i++) jobs.Add((await cluster.StartJobAsync(datasetId, $"model-{i}", epochs: 6, seed: i)).JobId);
        // Every job delivered a second time while the first delivery may be running, as Hangfire.PostgreSql can.
        foreach (var job in jobs) cluster.DeliverAgain(job);

        foreach (var job in jobs)
            Assert.Equal("Succeeded", (await cluster.Client.WaitForJobAsync(job, j => j.IsFinished(), TimeSpan.FromMinutes(3))).Status());
        var owners = new HashSet<string>();
        foreach (var job in jobs)
        {
            var history = await cluster.Leases.HistoryAsync(job);
            Assert.True(history.Count == 1, $"job {job} had {history.Count} lease holders:\n{cluster.Logs()}");
            Assert.Equal("succeeded", history[0].Outcome);
            owners.Add(history[0].Owner.Split(':')[1]); // the process id
        }
        Assert.Equal(2, owners.Count); // both workers trained
        // The second delivery of each job found it held by the other worker, or already finished.
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.Equal(jobs.Count, cluster.Logs().Split('\n').Count(line => line.Contains("this delivery does nothing")));
    }

    [Fact]
    public async Task Sigterm_MidTraining_CheckpointsAtTheCurrentIterationHandsTheJobBackAndExitsPromptly()
    {
        await using var cluster = await Cluster.StartAsync(postgres);
        var datasetId = await cluster.Client.UploadOkAsync(TestArchives.Dataset(train: 6, val: 1));
        var first = await cluster.StartWorkerAsync("worker-a");
        var (jobId, _) = await cluster.StartJobAsync(datasetId, "evicted", epochs: 100);
        await cluster.Client.WaitForJobAsync(jobId, j => j["iteration"]!.GetValue<long>() >= 17);

        var exit = await first.TerminateAsync(TimeSpan.FromSeconds(40));
        output.WriteLine($"SIGTERM to exit: {exit.TotalSeconds:F1} s");
        var afterExit = (await cluster.Leases.HistoryAsync(jobId)).Single();
        Assert.Equal("interrupted", afterExit.Outcome);
        Assert.Equal("Queued", (await cluster.Client.GetJsonAsync($"/jobs/{jobId}")).Status());
        Assert.True(exit < TimeSpan.FromSeconds(30), $"took {exit}");

        await cluster.StartWorkerAsync("worker-b");
        Assert.Equal("Succeeded", (await cluster.Client.WaitForJobAsync(jobId, j => j.IsFinished(), TimeSpan.FromMinutes(3))).Status());
        var history = await cluster.Leases.HistoryAsync(jobId);
        Assert.Equal(2, history.Count);
        Assert.Equal(afterExit.LastIteration, history[1].ResumedAtIteration); // nothing trained twice
    }

    [Fact]
    public async Task PostgresRestart_MidTraining_TheJobStillSucceeds()
    {
        await using var cluster = await Cluster.StartAsync(postgres);
        var datasetId = await cluster.Client.UploadOkAsync(TestArchives.Dataset(train: 6, val: 1));
        await cluster.StartWorkerAsync("worker-a");
        var (jobId, _) = await cluster.StartJobAsync(datasetId, "restarted", epochs: 12);
        await cluster.Client.WaitForJobAsync(jobId, j => j["iteration"]!.GetValue<long>() >= 10);

        postgres.Restart();

        var job = await RetryAsync(() => cluster.Client.WaitForJobAsync(jobId, j => j.IsFinished(), TimeSpan.FromMinutes(3)));
        Assert.True(job.Status() == "Succeeded", cluster.Logs());
        Assert.Equal(72, job["iteration"]!.GetValue<long>());
        output.WriteLine($"lease holders: {(await cluster.Leases.HistoryAsync(jobId)).Count}");
    }

    [Fact]
    public async Task Cancel_MidTraining_ReachesTheWorkerAndEndsCancelledWithinSeconds()
    {
        await using var cluster = await Cluster.StartAsync(postgres);
        var datasetId = await cluster.Client.UploadOkAsync(TestArchives.Dataset(train: 6, val: 1));
        await cluster.StartWorkerAsync("worker-a");
        var (jobId, _) = await cluster.StartJobAsync(datasetId, "cancelled", epochs: 500);
        await cluster.Client.WaitForJobAsync(jobId, j => j["iteration"]!.GetValue<long>() >= 12);

        var clock = Stopwatch.StartNew();
        (await cluster.Client.PostAsync($"/jobs/{jobId}/cancel", null)).EnsureSuccessStatusCode();
        var job = await cluster.Client.WaitForJobAsync(jobId, j => j.IsFinished(), TimeSpan.FromSeconds(30));

        output.WriteLine($"cancel to Cancelled: {clock.Elapsed.TotalSeconds:F1} s");
        Assert.Equal("Cancelled", job.Status());
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10));
        Assert.Equal("cancelled", (await cluster.Leases.HistoryAsync(jobId)).Single().Outcome);
    }

    [Fact]
    public async Task RepeatedCrashes_EndFailedAfterTheAttemptLimit()
    {
        await using var cluster = await Cluster.StartAsync(postgres, maxAttempts: 2);
        var datasetId = await cluster.Client.UploadOkAsync(TestArchives.Dataset(train: 6, val: 1));
        var (jobId, _) = await cluster.StartJobAsync(datasetId, "crashing", epochs: 500);
        for (int crash = 1; crash <= 2; crash++)
        {
            var worker = await cluster.StartWorkerAsync($"worker-{crash}");
            await WaitForLeaseAsync(cluster, jobId, crash);
            await cluster.Client.WaitForJobAsync(jobId, j => j["iteration"]!.GetValue<long>() >= 6 * crash);
            worker.Kill();
        }
        await cluster.StartWorkerAsync("worker-3");

        var job = await cluster.Client.WaitForJobAsync(jobId, j => j.IsFinished(), TimeSpan.FromMinutes(2));
        Assert.Equal("Failed", job.Status());
        Assert.StartsWith("Gave up after 2 failed attempts", job["error"]!.GetValue<string>());
    }

    [Fact]
    public async Task BadDataFoundLate_FailsOnceWithAReadableReason()
    {
        await using var cluster = await Cluster.StartAsync(postgres);
        var datasetId = await cluster.Client.UploadOkAsync(TestArchives.Dataset(train: 6, val: 1));
        // The stored archive is damaged after it was accepted (a bad disk, a hand edit of the bucket).
        await File.WriteAllTextAsync(Path.Combine(cluster.BlobDirectory, "datasets", datasetId.ToString("N"), "dataset.zip"), "no longer a zip");
        await cluster.StartWorkerAsync("worker-a");
        var (jobId, _) = await cluster.StartJobAsync(datasetId, "bad-data", epochs: 2);

        var job = await cluster.Client.WaitForJobAsync(jobId, j => j.IsFinished(), TimeSpan.FromMinutes(1));
        Assert.Equal("Failed", job.Status());
        Assert.Contains("not a readable .zip", job["error"]!.GetValue<string>());
        Assert.Single(await cluster.Leases.HistoryAsync(jobId)); // not retried: it would fail the same way
    }

    private static async Task WaitForLeaseAsync(Cluster cluster, Guid jobId, int count)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while ((await cluster.Leases.HistoryAsync(jobId)).Count < count)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"no lease {count} on job {jobId}:\n{cluster.Logs()}");
            await Task.Delay(200);
        }
    }

    /// <summary>The API's own database calls fail while PostgreSQL restarts; polling just tries again.</summary>
    private static async Task<T> RetryAsync<T>(Func<Task<T>> action)
    {
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                return await action();
            }
            catch (Exception) when (attempt < 20)
            {
                await Task.Delay(500);
            }
        }
    }
}
