namespace Pix2Pix.Infrastructure;

/// <summary>Section <c>Storage</c>.</summary>
public sealed class StorageOptions
{
    public const string Section = "Storage";

    /// <summary>The SQLite file (embedded mode), the blob folder (FileSystem blobs), caches and training work folders.</summary>
    public string DataDirectory { get; set; } = "./data";

    public string WorkDirectory => Path.Combine(Path.GetFullPath(DataDirectory), "work");
    public string DatasetCacheDirectory => Path.Combine(Path.GetFullPath(DataDirectory), "cache", "datasets");
}

/// <summary>Section <c>Worker</c>: the training side of a process.</summary>
public sealed class WorkerOptions
{
    public const string Section = "Worker";

    /// <summary>Run a training worker inside this process (embedded mode). False when separate Worker processes train.</summary>
    public bool InProcess { get; set; } = true;

    /// <summary><c>cpu</c>, <c>cuda</c> or <c>cuda:N</c>.</summary>
    public string Device { get; set; } = "cpu";

    /// <summary>libtorch threads for training; 0 = libtorch's default (one per core).</summary>
    public int Threads { get; set; }

    /// <summary>How long a job stays claimed by a worker that stops renewing (dies); renewed every third of it.</summary>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>A job that failed (crash, unexpected error) this many times ends Failed instead of being retried.</summary>
    public int MaxAttempts { get; set; } = 5;

    /// <summary>How often every process looks for jobs whose worker died, to queue them again.</summary>
    public TimeSpan WatchdogInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long database writes from a training job are retried while the database is unreachable.</summary>
    public TimeSpan DatabaseRetryWindow { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// How long a stopping process waits for the training job to checkpoint and hand itself back (the host waits 5 s
    /// more; a pod's terminationGracePeriodSeconds must exceed both).
    /// </summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Hangfire.PostgreSql: a fetched job reappears for other workers after this long unless its worker is alive (sliding).</summary>
    public TimeSpan InvisibilityTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Extracted datasets a worker keeps on its disk; least recently used copies beyond this are removed.</summary>
    public long DatasetCacheBytes { get; set; } = 20L * 1024 * 1024 * 1024;

    /// <summary>Batches decoded ahead of the training compute.</summary>
    public int PrefetchBatches { get; set; } = 4;
}

/// <summary>Section <c>Jobs</c>: how long what jobs leave behind is kept.</summary>
public sealed class JobsOptions
{
    public const string Section = "Jobs";

    /// <summary>Checkpoints of Cancelled and Failed jobs are deleted this long after the job ended.</summary>
    public TimeSpan CheckpointRetention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>Finished batch translations (status, images and result) are deleted this long after they ended.</summary>
    public TimeSpan BatchRetention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>How often storage is swept (expired checkpoints, blobs no row refers to, deleted datasets' local copies).</summary>
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromHours(1);

    /// <summary>A blob no row refers to is deleted only once it is this old, so uploads whose row is not written yet are safe.</summary>
    public TimeSpan OrphanMinimumAge { get; set; } = TimeSpan.FromHours(1);
}

/// <summary>Section <c>ConnectionStrings</c>.</summary>
public sealed class ConnectionStringsOptions
{
    public const string Section = "ConnectionStrings";

    /// <summary>Empty: the embedded SQLite file; otherwise a PostgreSQL connection string.</summary>
    public string? Database { get; set; }
}
