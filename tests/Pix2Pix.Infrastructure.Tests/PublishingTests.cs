using System.Buffers.Binary;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Pix2Pix.Domain.Inference;
using Pix2Pix.Domain.Service;
using Pix2Pix.Domain.Training;
using Pix2Pix.Infrastructure.Jobs;
using Pix2Pix.Infrastructure.Telemetry;

namespace Pix2Pix.Infrastructure.Tests;

public sealed class PublishingTests
{
    /// <summary>A package file as small as the format allows: a header with metadata and no tensors, marked by <paramref name="mark"/>.</summary>
    private static string PackageFile(string directory, string mark)
    {
        var header = Encoding.UTF8.GetBytes($$$"""{"__metadata__":{"format":"pt","pix2pix":"{}","mark":"{{{mark}}}"}}""");
        var bytes = new byte[8 + header.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)header.Length);
        header.CopyTo(bytes, 8);
        var path = Path.Combine(directory, $"{mark}.safetensors");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Fact]
    public async Task Snapshot_OfAnEpochAlreadyPublished_ByAResumedJob_LeavesThePackageAndItsVersionAsTheyWere()
    {
        await using var harness = await Harness.StartAsync();
        var job = await harness.AddJobAsync();
        await using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        using var metrics = new ServiceMetrics(services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>());
        var retry = new DatabaseRetry(Options.Create(harness.Worker), harness.Time, NullLogger<DatabaseRetry>.Instance);
        JobRecorder Recorder(Persistence.JobLease lease) =>
            new(job, "dataset-sha", lease, harness.Jobs, harness.Models, harness.Blobs, metrics, retry, harness.Time, NullLogger.Instance);

        var first = (await harness.Leases.TryAcquireAsync(job.Id, "first", TimeSpan.FromSeconds(30)))!;
        Recorder(first).OnSnapshot(new TrainingSnapshot(1, false, null, null, null, PackageFile(harness.Directory, "first-run")));
        var key = BlobKeys.Package(job.ModelId, job.Id, 1);
        var published = await ReadAsync(harness, key);
        harness.Time.Advance(TimeSpan.FromMinutes(1));
        await harness.Leases.ReleaseAsync(first, JobStatus.Queued, "crashed", 10);
        var resumed = (await harness.Leases.TryAcquireAsync(job.Id, "second", TimeSpan.FromSeconds(30)))!;
        var again = PackageFile(harness.Directory, "resumed-run");
        Recorder(resumed).OnSnapshot(new TrainingSnapshot(1, false, null, null, null, again));

        Assert.Equal(published, await ReadAsync(harness, key));
        var version = Assert.Single(await harness.Models.VersionsAsync(job.ModelId));
        Assert.Equal(1, version.Version);
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(published)), version.PackageSha256);
        Assert.Equal("dataset-sha", ModelPackage.ReadLineage(new MemoryStream(published))!["datasetSha256"]!.GetValue<string>());
        Assert.False(File.Exists(again)); // the resumed run's file is dropped, not published
    }

    private static async Task<byte[]> ReadAsync(Harness harness, string key)
    {
        await using var stream = (await harness.Blobs.OpenReadAsync(key))!;
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy);
        return copy.ToArray();
    }
}
