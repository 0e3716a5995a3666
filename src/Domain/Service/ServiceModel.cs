using System.Text.Json.Serialization;
using Pix2Pix.Domain.Data;
using Pix2Pix.Domain.Training;

namespace Pix2Pix.Domain.Service;

/// <summary>An uploaded, validated dataset; its archive is kept in blob storage. <c>CreatedBy</c>: the uploader's subject.</summary>
public sealed record Dataset(Guid Id, string Name, DatasetLayout Layout, int Train, int Val, int Test, int? Width, int? Height,
    long SizeBytes, string BlobKey, DateTimeOffset CreatedAt, string? CreatedBy = null, string? Sha256 = null, int Previews = 0);

public enum JobStatus
{
    [JsonStringEnumMemberName("Queued")] Queued,
    [JsonStringEnumMemberName("Running")] Running,
    [JsonStringEnumMemberName("Succeeded")] Succeeded,
    [JsonStringEnumMemberName("Failed")] Failed,
    [JsonStringEnumMemberName("Cancelled")] Cancelled,
}

/// <summary>The latest losses a job reported.</summary>
public sealed record JobLosses(double GeneratorGan, double GeneratorL1, double DiscriminatorReal, double DiscriminatorFake);

public sealed record TrainingJob(
    Guid Id, Guid ModelId, Guid DatasetId, TrainingRecipe Recipe, JobStatus Status, bool CancelRequested,
    int Epoch, int TotalEpochs, long Iteration, long TotalIterations, double? LearningRate, JobLosses? Losses,
    double? ImagesPerSecond, string? Error, int Attempts, DateTimeOffset CreatedAt, DateTimeOffset? StartedAt,
    DateTimeOffset? FinishedAt, DateTimeOffset UpdatedAt, string? CreatedBy = null, bool Promote = false)
{
    public bool IsFinished => Status is JobStatus.Succeeded or JobStatus.Failed or JobStatus.Cancelled;
    public double Progress => TotalIterations == 0 ? (Status == JobStatus.Succeeded ? 1 : 0) : Math.Min(1, (double)Iteration / TotalIterations);
}

/// <summary>One logged training iteration.</summary>
public sealed record IterationRecord(long Iteration, int Epoch, double LearningRate, double GeneratorGan, double GeneratorL1,
    double DiscriminatorReal, double DiscriminatorFake, double ImagesPerSecond);

public sealed record QualityMetrics(double L1, double Psnr, double Ssim, int Images);

/// <summary>A snapshot of a job: the grid image and the metrics at an epoch.</summary>
public sealed record JobSnapshot(Guid JobId, int Epoch, bool IsFinal, QualityMetrics? Val, QualityMetrics? Test, string? ImageBlobKey, DateTimeOffset CreatedAt);

public sealed record Model(Guid Id, string Name, int? DefaultVersion, DateTimeOffset CreatedAt, string? CreatedBy = null);

/// <summary>
/// A generator a job produced at an epoch (every snapshot and the final result), or one imported from a file. Its
/// number is never reused and its package never rewritten: <c>PackageSha256</c> is checked whenever it is loaded
/// (null only for versions made before digests were recorded).
/// </summary>
public sealed record ModelVersion(Guid ModelId, int Version, int Epoch, bool IsFinal, Guid? JobId, Guid? DatasetId, TrainingRecipe Recipe,
    QualityMetrics? Metrics, string PackageBlobKey, long PackageBytes, DateTimeOffset CreatedAt)
{
    public const string FromTraining = "training", FromImport = "import";

    public string Source { get; init; } = FromTraining;
    public string? DatasetSha256 { get; init; }
    public string? ImportedFileSha256 { get; init; }
    public QualityMetrics? TestMetrics { get; init; }
    public string? PackageSha256 { get; init; }
    public string? CreatedBy { get; init; }
}

public sealed record Page<T>(IReadOnlyList<T> Items, int Offset, int Limit, long Total);

/// <summary>The caller named something that does not exist (404).</summary>
public sealed class NotFoundException(string message) : Exception(message);

/// <summary>The request conflicts with the current state (409).</summary>
public sealed class ConflictException(string message) : Exception(message);
