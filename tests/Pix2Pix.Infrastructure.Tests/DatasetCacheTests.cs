using Pix2Pix.Domain.Data;
using Pix2Pix.Domain.Training;

namespace Pix2Pix.Infrastructure.Tests;

public sealed class DatasetCacheTests
{
    private static string CacheFolder(Harness harness, Guid datasetId) => Path.Combine(harness.Storage.DatasetCacheDirectory, datasetId.ToString("N"));

    [Fact]
    public async Task Acquire_FirstTime_ExtractsAValidatedCopyAndReusesIt()
    {
        await using var harness = await Harness.StartAsync();
        var dataset = await harness.AddDatasetAsync(TestArchives.Dataset(train: 2, val: 1));
        var cache = harness.DatasetCache();

        string firstRoot;
        using (var copy = await cache.AcquireAsync(dataset.Id, CancellationToken.None))
        {
            firstRoot = copy.Root;
            Assert.Equal(2, DatasetRoot.Open(copy.Root).TrainSplit.Count);
        }
        await harness.Blobs.DeleteAsync(dataset.BlobKey); // a second acquire must not need the blob again
        using var again = await cache.AcquireAsync(dataset.Id, CancellationToken.None);

        Assert.Equal(firstRoot, again.Root);
    }

    [Fact]
    public async Task Acquire_OverBudget_EvictsTheLeastRecentlyUsedCopyButNeverOneInUse()
    {
        await using var harness = await Harness.StartAsync();
        var first = await harness.AddDatasetAsync(TestArchives.Dataset(train: 4, val: 1));
        var second = await harness.AddDatasetAsync(TestArchives.Dataset(train: 4, val: 1));
        var third = await harness.AddDatasetAsync(TestArchives.Dataset(train: 4, val: 1));
        var cache = harness.DatasetCache();
        using (await cache.AcquireAsync(first.Id, CancellationToken.None))
        {
        }
        long oneCopy = new DirectoryInfo(CacheFolder(harness, first.Id)).EnumerateFiles("*", SearchOption.AllDirectories).Where(f => !f.Name.StartsWith('.')).Sum(f => f.Length);
        harness.Worker = new() { DatasetCacheBytes = oneCopy * 2 + oneCopy / 2 }; // room for two copies
        cache = harness.DatasetCache();

        harness.Time.Advance(TimeSpan.FromMinutes(1));
        using var held = await cache.AcquireAsync(second.Id, CancellationToken.None);
        harness.Time.Advance(TimeSpan.FromMinutes(1));
        using (await cache.AcquireAsync(third.Id, CancellationToken.None))
        {
        }

        Assert.False(Directory.Exists(CacheFolder(harness, first.Id)), "the least recently used copy stays");
        Assert.True(Directory.Exists(CacheFolder(harness, second.Id)));
        Assert.True(Directory.Exists(CacheFolder(harness, third.Id)));

        harness.Worker = new() { DatasetCacheBytes = 1 }; // nothing fits: only the copy in use survives
        await harness.DatasetCache().TrimAsync(CancellationToken.None);
        Assert.True(Directory.Exists(CacheFolder(harness, second.Id)), "a copy in use was removed");
        Assert.False(Directory.Exists(CacheFolder(harness, third.Id)));
    }

    [Fact]
    public async Task Trim_DatasetDeleted_RemovesItsCopy()
    {
        await using var harness = await Harness.StartAsync();
        var dataset = await harness.AddDatasetAsync(TestArchives.Dataset(train: 2, val: 0));
        var cache = harness.DatasetCache();
        using (await cache.AcquireAsync(dataset.Id, CancellationToken.None))
        {
        }

        await harness.Datasets.DeleteAsync(dataset.Id);
        await cache.TrimAsync(CancellationToken.None);

        Assert.False(Directory.Exists(CacheFolder(harness, dataset.Id)));
        await Assert.ThrowsAsync<InvalidJobException>(() => cache.AcquireAsync(dataset.Id, CancellationToken.None));
    }

    [Fact]
    public async Task Acquire_ChecksTheArchiveWithTheUploadLimits()
    {
        await using var harness = await Harness.StartAsync();
        var dataset = await harness.AddDatasetAsync(TestArchives.Dataset(train: 2, val: 0, size: 32));
        harness.Uploads = new() { MaxImageSide = 40 }; // the pairs are 64×32

        var error = await Assert.ThrowsAsync<DatasetException>(() => harness.DatasetCache().AcquireAsync(dataset.Id, CancellationToken.None));

        Assert.StartsWith("train/", error.File);
        Assert.IsAssignableFrom<InvalidJobException>(error);
    }

    [Fact]
    public async Task Acquire_ArchiveMissingFromBlobStorage_IsAnInvalidJob()
    {
        await using var harness = await Harness.StartAsync();
        var dataset = await harness.AddDatasetAsync(TestArchives.Dataset(train: 2, val: 0));
        await harness.Blobs.DeleteAsync(dataset.BlobKey);

        var error = await Assert.ThrowsAsync<InvalidJobException>(() => harness.DatasetCache().AcquireAsync(dataset.Id, CancellationToken.None));

        Assert.Contains("missing from blob storage", error.Message);
    }
}
