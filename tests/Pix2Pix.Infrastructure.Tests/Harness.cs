using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Pix2Pix.Domain.Service;
using Pix2Pix.Domain.Training;
using Pix2Pix.Infrastructure.Blobs;
using Pix2Pix.Infrastructure.Jobs;
using Pix2Pix.Infrastructure.Persistence;

namespace Pix2Pix.Infrastructure.Tests;

/// <summary>The Infrastructure's stores and services on one database and blob folder, with a clock the test moves.</summary>
public sealed class Harness : IAsyncDisposable
{
    private Harness(Database database, string directory, FakeTimeProvider time)
    {
        Database = database;
        Directory = directory;
        Time = time;
        Datasets = new DatasetStore(database);
        Models = new ModelStore(database);
        Jobs = new JobStore(database);
        Leases = new JobLeaseStore(database);
        Maintenance = new MaintenanceStore(database);
        Blobs = new FileSystemBlobStore(Path.Combine(directory, "blobs"));
    }

    public Database Database { get; }
    public string Directory { get; }
    public FakeTimeProvider Time { get; }
    public DatasetStore Datasets { get; }
    public ModelStore Models { get; }
    public JobStore Jobs { get; }
    public JobLeaseStore Leases { get; }
    public MaintenanceStore Maintenance { get; }
    public FileSystemBlobStore Blobs { get; }
    public StorageOptions Storage => new() { DataDirectory = Directory };
    public WorkerOptions Worker { get; set; } = new() { LeaseDuration = TimeSpan.FromSeconds(30) };
    public UploadOptions Uploads { get; set; } = new();
    public JobsOptions JobsSettings { get; set; } = new();

    /// <summary>SQLite in a fresh folder, or the given PostgreSQL database.</summary>
    public static async Task<Harness> StartAsync(string? postgresConnectionString = null)
    {
        var directory = SyntheticDataset.CreateTempDirectory();
        // The real time as a start: blob files carry real modification times.
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var database = new Database(DatabaseTarget.From(postgresConnectionString, directory), time);
        await database.MigrateAsync();
        return new Harness(database, directory, time);
    }

    public DatasetCache DatasetCache() => new(Datasets, Blobs, Options.Create(Storage), Options.Create(Worker), Options.Create(Uploads), Time,
        NullLogger<DatasetCache>.Instance);

    public StorageSweeper Sweeper() => new(Maintenance, new BatchStore(Database), Blobs, [], Options.Create(JobsSettings), Time, NullLogger<StorageSweeper>.Instance);

    public LeaseWatchdog Watchdog(RecordingQueue queue) => new(Leases, Jobs, queue, Options.Create(Worker), Time, NullLogger<LeaseWatchdog>.Instance);

    /// <summary>A dataset row with its archive in the blob store.</summary>
    public async Task<Dataset> AddDatasetAsync(byte[] zip, string name = "d")
    {
        var id = Guid.NewGuid();
        var dataset = new Dataset(id, name, Domain.Data.DatasetLayout.Aligned, 2, 1, 0, 32, 32, zip.Length, BlobKeys.Dataset(id), Time.GetUtcNow());
        await Blobs.PutAsync(dataset.BlobKey, new MemoryStream(zip), "application/zip");
        await Datasets.AddAsync(dataset);
        return dataset;
    }

    public async Task<TrainingJob> AddJobAsync(Dataset? dataset = null)
    {
        dataset ??= await AddDatasetAsync(TestArchives.Dataset(train: 2, val: 1));
        var model = await Models.GetOrCreateAsync($"m-{Guid.NewGuid():N}");
        return await Jobs.CreateAsync(model.Id, dataset.Id, new TrainingRecipe { Generator = "unet_32", CropSize = 32, LoadSize = 36 });
    }

    public async ValueTask DisposeAsync()
    {
        await Database.DisposeAsync();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>Records what would have been put on Hangfire's queue.</summary>
public sealed class RecordingQueue : Hangfire.IBackgroundJobClient
{
    public List<Hangfire.Common.Job> Created { get; } = [];

    public string Create(Hangfire.Common.Job job, Hangfire.States.IState state)
    {
        Created.Add(job);
        return Created.Count.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    public bool ChangeState(string jobId, Hangfire.States.IState state, string expectedState) => true;
}
