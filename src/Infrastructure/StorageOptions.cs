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
}
