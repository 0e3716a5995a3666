using Dapper;
using Hangfire;
using Hangfire.InMemory;
using Hangfire.PostgreSql;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Pix2Pix.Domain.Service;
using Pix2Pix.Infrastructure.Blobs;
using Pix2Pix.Infrastructure.Jobs;
using Pix2Pix.Infrastructure.Persistence;
using Pix2Pix.Infrastructure.Serving;
using Pix2Pix.Infrastructure.Telemetry;
using OpenTelemetry.Metrics;

namespace Pix2Pix.Infrastructure;

/// <summary>What the API and the Worker share: configuration, database, blob store, Hangfire, the training job.</summary>
public static class HostingExtensions
{
    public static IHostApplicationBuilder AddPix2PixInfrastructure(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.TryAddSingleton(TimeProvider.System);
        services.AddOptions<ConnectionStringsOptions>().BindConfiguration(ConnectionStringsOptions.Section);
        services.AddOptions<StorageOptions>().BindConfiguration(StorageOptions.Section)
            .Validate(o => !string.IsNullOrWhiteSpace(o.DataDirectory), "Storage:DataDirectory must not be empty.").ValidateOnStart();
        services.AddOptions<WorkerOptions>().BindConfiguration(WorkerOptions.Section)
            .Validate(o => o.Device is "cpu" or "cuda" || o.Device.StartsWith("cuda:", StringComparison.Ordinal), "Worker:Device must be cpu, cuda or cuda:N.")
            .Validate(o => o.Threads >= 0, "Worker:Threads must be 0 or more.")
            .Validate(o => o.LeaseDuration >= TimeSpan.FromSeconds(3), "Worker:LeaseDuration must be at least 3 seconds.")
            .Validate(o => o.MaxAttempts >= 1, "Worker:MaxAttempts must be at least 1.")
            .Validate(o => o.WatchdogInterval > TimeSpan.Zero, "Worker:WatchdogInterval must be positive.")
            .Validate(o => o.DatabaseRetryWindow >= TimeSpan.Zero, "Worker:DatabaseRetryWindow must not be negative.")
            .Validate(o => o.DatasetCacheBytes > 0, "Worker:DatasetCacheBytes must be positive.")
            .Validate(o => o.PrefetchBatches >= 1, "Worker:PrefetchBatches must be at least 1.")
            .ValidateOnStart();
        services.AddOptions<BlobOptions>().BindConfiguration(BlobOptions.Section)
            .Validate(o => o.Provider != BlobProvider.S3 || !string.IsNullOrWhiteSpace(o.S3.Bucket), "Blobs:S3:Bucket is required with Blobs:Provider=S3.")
            .ValidateOnStart();
        services.AddOptions<UploadOptions>().BindConfiguration(UploadOptions.Section)
            .Validate(o => o.MaxDatasetBytes > 0 && o.MaxImageBytes > 0 && o.MaxImagePixels > 0 && o.MaxImageSide > 0 && o.MaxArchiveEntries > 0
                && o.MaxUncompressedBytes > 0 && o.MaxConcurrent > 0 && o.MaxModelBytes > 0, "Uploads limits must be positive.")
            .ValidateOnStart();
        services.AddOptions<ManagementOptions>().BindConfiguration(ManagementOptions.Section)
            .Validate(o => o.KnownProxies.All(proxy => System.Net.IPAddress.TryParse(proxy, out _)), "Management:KnownProxies must be IP addresses.")
            .Validate(o => o.KnownNetworks.All(network => System.Net.IPNetwork.TryParse(network, out _)), "Management:KnownNetworks must be CIDR networks (10.0.0.0/8).")
            .ValidateOnStart();
        services.AddOptions<JobsOptions>().BindConfiguration(JobsOptions.Section)
            .Validate(o => o.CheckpointRetention >= TimeSpan.Zero, "Jobs:CheckpointRetention must not be negative.")
            .Validate(o => o.BatchRetention >= TimeSpan.Zero, "Jobs:BatchRetention must not be negative.")
            .Validate(o => o.SweepInterval > TimeSpan.Zero, "Jobs:SweepInterval must be positive.")
            .Validate(o => o.OrphanMinimumAge >= TimeSpan.FromMinutes(1), "Jobs:OrphanMinimumAge must be at least a minute (uploads in flight).")
            .ValidateOnStart();

        services.AddSingleton(provider => new Database(
            DatabaseTarget.From(provider.GetRequiredService<IOptions<ConnectionStringsOptions>>().Value.Database,
                provider.GetRequiredService<IOptions<StorageOptions>>().Value.DataDirectory),
            provider.GetRequiredService<TimeProvider>()));
        services.AddSingleton<DatasetStore>();
        services.AddSingleton<ModelStore>();
        services.AddSingleton<JobStore>();
        services.AddSingleton<JobLeaseStore>();
        services.AddSingleton<MaintenanceStore>();
        services.AddSingleton<ApiKeyStore>();
        services.AddSingleton<BatchStore>();
        services.AddSingleton<DatabaseRetry>();
        services.AddSingleton<IBlobStore>(provider =>
        {
            var options = provider.GetRequiredService<IOptions<BlobOptions>>().Value;
            if (options.Provider == BlobProvider.S3) return new S3BlobStore(options.S3);
            var storage = provider.GetRequiredService<IOptions<StorageOptions>>().Value;
            return new FileSystemBlobStore(string.IsNullOrWhiteSpace(options.Directory) ? Path.Combine(storage.DataDirectory, "blobs") : options.Directory);
        });
        services.AddHostedService<StartupTasks>();
        services.AddHostedService<LeaseWatchdog>();
        services.AddSingleton<StorageSweeper>();
        services.AddHostedService(provider => provider.GetRequiredService<StorageSweeper>());

        // The storage is this host's own instance rather than Hangfire's static JobStorage.Current, which several hosts in
        // one process (the tests' apps, started in parallel) would otherwise overwrite for one another.
        services.AddSingleton<JobStorage>(provider =>
        {
            var target = provider.GetRequiredService<Database>().Target;
            if (target.Provider != DatabaseProvider.PostgreSql)
                return new InMemoryStorage(new InMemoryStorageOptions()); // embedded mode: StartupTasks re-enqueues unfinished jobs after a restart
            var options = new PostgreSqlStorageOptions
            {
                PrepareSchemaIfNecessary = true,
                // A live worker keeps its fetched job invisible; a dead worker's job reappears after the timeout.
                UseSlidingInvisibilityTimeout = true,
                InvisibilityTimeout = provider.GetRequiredService<IOptions<WorkerOptions>>().Value.InvisibilityTimeout,
                QueuePollInterval = TimeSpan.FromSeconds(1),
            };
            return new PostgreSqlStorage(new Hangfire.PostgreSql.Factories.NpgsqlConnectionFactory(target.ConnectionString, options), options);
        });
        services.AddHangfire((provider, configuration) => configuration
            .SetDataCompatibilityLevel(CompatibilityLevel.Version_180)
            .UseSimpleAssemblyNameTypeSerializer()
            .UseRecommendedSerializerSettings()
            .UseStorage(provider.GetRequiredService<JobStorage>()));
        services.AddSingleton<ServiceMetrics>();
        services.AddHostedService<JobCountsRefresher>();
        services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddMeter(ServiceMetrics.MeterName)
            .AddAspNetCoreInstrumentation()
            .AddRuntimeInstrumentation()
            .AddPrometheusExporter());
        services.AddHealthChecks()
            .AddCheck<DatabaseHealthCheck>("database", tags: ["ready"])
            .AddCheck<BlobStoreHealthCheck>("blobs", tags: ["ready"])
            .AddCheck<QueueHealthCheck>("queue", tags: ["ready"]);
        return builder;
    }

    /// <summary>
    /// A Hangfire server for training in this process, one job at a time, started only once the configured device
    /// proved usable; the dataset cache it trains from.
    /// </summary>
    public static IHostApplicationBuilder AddTrainingWorker(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddSingleton<DatasetCache>();
        services.AddTransient<TrainingJobRunner>();
        // Hosted services start in the order they are added: the check runs before the server takes a job.
        services.AddHostedService<LibTorchSetup>();
        services.AddHangfireServer((provider, options) =>
        {
            options.Queues = [TrainingJobRunner.Queue];
            options.WorkerCount = 1;
            options.ServerName = $"{Environment.MachineName}:{Environment.ProcessId}";
            // Hangfire cancels a running job's token only once StopTimeout has passed after a stop request, so keep it
            // short: on SIGTERM the job checkpoints at its next step and hands itself back, within ShutdownTimeout.
            options.StopTimeout = TimeSpan.FromMilliseconds(500);
            options.ShutdownTimeout = provider.GetRequiredService<IOptions<WorkerOptions>>().Value.ShutdownTimeout;
        });
        services.AddOptions<HostOptions>().Configure<IOptions<WorkerOptions>>((host, worker) =>
            host.ShutdownTimeout = worker.Value.ShutdownTimeout + TimeSpan.FromSeconds(5));
        return builder;
    }

    /// <summary>
    /// Translation in this process (section <c>Inference</c>): the cache of loaded model versions and the one executor
    /// that runs every forward pass.
    /// </summary>
    public static IHostApplicationBuilder AddTranslation(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<InferenceOptions>().BindConfiguration(InferenceOptions.Section)
            .Validate(o => o.CachedModels >= 1, "Inference:CachedModels must be at least 1.")
            .Validate(o => o.CachedModelBytes > 0, "Inference:CachedModelBytes must be positive.")
            .Validate(o => o.MaxBatch >= 1, "Inference:MaxBatch must be at least 1.")
            .Validate(o => o.MaxBatchDelay >= TimeSpan.Zero, "Inference:MaxBatchDelay must not be negative.")
            .Validate(o => o.MaxQueue >= 1, "Inference:MaxQueue must be at least 1.")
            .Validate(o => o.MaxPadPixels >= 0, "Inference:MaxPadPixels must be 0 (never tile) or more.")
            .Validate(o => o.QueueTimeout > TimeSpan.Zero, "Inference:QueueTimeout must be positive.").ValidateOnStart();
        services.AddSingleton<TranslatorCache>();
        services.AddSingleton<InferenceExecutor>();
        return builder;
    }

    /// <summary>
    /// A Hangfire server for batch translations in this process, one batch at a time, through this process's executor
    /// (<see cref="AddTranslation"/>): the workers' in cluster mode, the API's in the embedded default.
    /// </summary>
    public static IHostApplicationBuilder AddBatchTranslationWorker(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddTransient<BatchTranslationRunner>();
        services.AddHostedService<BatchRecovery>();
        services.AddHangfireServer((provider, options) =>
        {
            options.Queues = [BatchTranslationRunner.Queue];
            options.WorkerCount = 1;
            options.ServerName = $"{Environment.MachineName}:{Environment.ProcessId}:batches";
            options.StopTimeout = TimeSpan.FromMilliseconds(500);
        });
        return builder;
    }

    /// <summary>
    /// Whether the API trains too (embedded mode). Read while services are registered, because it decides which are:
    /// the one setting not taken through the validated options.
    /// </summary>
    public static bool InProcessWorker(this IConfiguration configuration) =>
        configuration.GetValue(ConfigurationPath.Combine(WorkerOptions.Section, nameof(WorkerOptions.InProcess)), new WorkerOptions().InProcess);
}

/// <summary>Schema migrations, blob bucket and (embedded mode) re-enqueueing of unfinished jobs, before serving.</summary>
internal sealed class StartupTasks(Database database, IBlobStore blobs, JobStore jobs, JobLeaseStore leases, IBackgroundJobClient queue, IOptions<BlobOptions> blobOptions)
    : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await database.MigrateAsync(cancellationToken);
        if (blobs is S3BlobStore s3 && blobOptions.Value.S3.CreateBucket) await s3.EnsureBucketAsync(cancellationToken);
        if (!database.IsPostgreSql)
        {
            // Embedded mode: this process is the only worker and its queue lived in memory.
            await leases.ResetAfterRestartAsync(cancellationToken);
            foreach (var job in await jobs.UnfinishedAsync(cancellationToken))
            {
                queue.EnqueueTraining(job.Id);
                await jobs.MarkEnqueuedAsync(job.Id, cancellationToken);
            }
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

internal sealed class DatabaseHealthCheck(Database database) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await connection.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM schema_migrations");
        return HealthCheckResult.Healthy(database.Target.Provider.ToString());
    }
}

internal sealed class BlobStoreHealthCheck(IBlobStore blobs) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        await blobs.CheckAsync(cancellationToken);
        return HealthCheckResult.Healthy(blobs.GetType().Name);
    }
}

internal sealed class QueueHealthCheck(JobStorage storage) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        using var connection = storage.GetConnection();
        var servers = storage.GetMonitoringApi().Servers().Count;
        return Task.FromResult(HealthCheckResult.Healthy($"{storage.GetType().Name}, {servers} server(s)"));
    }
}
