using System.Text.Json.Nodes;
using Hangfire;
using Hangfire.PostgreSql;
using Pix2Pix.Infrastructure.Jobs;
using Pix2Pix.Infrastructure.Persistence;

namespace Pix2Pix.EndToEnd.Tests;

[CollectionDefinition(Name)]
public sealed class PostgresCollection : ICollectionFixture<PostgresServer>
{
    public const string Name = "Real PostgreSQL with processes";
}

/// <summary>
/// A cluster on loopback: its own PostgreSQL database, a blob folder shared by all processes (as an S3 bucket would
/// be), the API (enqueues only) and any number of Worker processes. Short leases so faults resolve in seconds.
/// </summary>
public sealed class Cluster : IAsyncDisposable
{
    private readonly List<ServiceProcess> processes = [];
    private readonly string root = Path.Combine(Path.GetTempPath(), "pix2pix-e2e", Guid.NewGuid().ToString("N"));

    private readonly int maxAttempts;

    private Cluster(string connectionString, int maxAttempts)
    {
        ConnectionString = connectionString;
        this.maxAttempts = maxAttempts;
    }

    public string BlobDirectory => Path.Combine(root, "blobs");

    public string ConnectionString { get; }
    public ServiceProcess Api { get; private set; } = null!;
    public HttpClient Client { get; private set; } = null!;
    public JobLeaseStore Leases => new(new Database(new DatabaseTarget(DatabaseProvider.PostgreSql, ConnectionString), TimeProvider.System));
    public IReadOnlyList<ServiceProcess> Processes => processes;

    public static async Task<Cluster> StartAsync(PostgresServer postgres, int maxAttempts = 5)
    {
        var cluster = new Cluster(await postgres.CreateDatabaseAsync(), maxAttempts);
        cluster.Api = await cluster.StartAsync("Api", "api", new() { ["Worker__InProcess"] = "false" });
        cluster.Client = new HttpClient { BaseAddress = new Uri(cluster.Api.BaseUrl), Timeout = TimeSpan.FromMinutes(2) };
        cluster.Client.UseKey(TestKeys.Admin);
        return cluster;
    }

    public Task<ServiceProcess> StartWorkerAsync(string name) => StartAsync("Worker", name, []);

    private async Task<ServiceProcess> StartAsync(string project, string name, Dictionary<string, string> extra)
    {
        var environment = new Dictionary<string, string>
        {
            ["ConnectionStrings__Database"] = ConnectionString,
            ["Blobs__Provider"] = "FileSystem",
            ["Blobs__Directory"] = BlobDirectory,
            ["Worker__MaxAttempts"] = maxAttempts.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Storage__DataDirectory"] = Path.Combine(root, name),
            ["Worker__Threads"] = "1",
            ["Worker__LeaseDuration"] = "00:00:04",
            ["Worker__WatchdogInterval"] = "00:00:01",
            ["Worker__InvisibilityTimeout"] = "00:00:30",
            ["Worker__ShutdownTimeout"] = "00:00:30",
            ["Worker__DatabaseRetryWindow"] = "00:02:00",
        };
        foreach (var (key, value) in extra) environment[key] = value;
        var process = await ServiceProcess.StartAsync(project, name, environment);
        processes.Add(process);
        return process;
    }

    /// <summary>A tiny job: unet_32 with 16 filters on 32×32 crops of 6 synthetic pairs, a checkpoint every 5 iterations.</summary>
    public async Task<(Guid JobId, Guid ModelId)> StartJobAsync(Guid datasetId, string model, int epochs, int seed = 3)
    {
        var options = ApiClient.TinyOptions(epochs: epochs, decayEpochs: 0);
        options["snapshotEvery"] = 1000;
        options["seed"] = seed;
        var response = await Client.TrainAsync(datasetId, model, options);
        response.EnsureSuccessStatusCode();
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        return (body["id"]!.GetValue<Guid>(), body["modelId"]!.GetValue<Guid>());
    }

    /// <summary>Delivers a job to the workers once more, as Hangfire does after an invisibility timeout.</summary>
    public void DeliverAgain(Guid jobId)
    {
        var options = new PostgreSqlStorageOptions { PrepareSchemaIfNecessary = false };
        var storage = new PostgreSqlStorage(new Hangfire.PostgreSql.Factories.NpgsqlConnectionFactory(ConnectionString, options), options);
        new BackgroundJobClient(storage).EnqueueTraining(jobId);
    }

    public string Logs() => string.Join("\n", processes.SelectMany(p => p.Log.Select(line => $"[{p.Name}] {line}")));

    public async ValueTask DisposeAsync()
    {
        Client?.Dispose();
        foreach (var process in processes) process.Dispose();
        await Task.Delay(100);
        if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
    }
}
