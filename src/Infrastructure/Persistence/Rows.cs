using Pix2Pix.Domain.Data;
using Pix2Pix.Domain.Service;
using Pix2Pix.Domain.Training;

namespace Pix2Pix.Infrastructure.Persistence;

// Rows as both databases return them (TEXT, BIGINT, DOUBLE PRECISION), mapped by Dapper with underscores matched
// to PascalCase, then turned into the domain records.

internal sealed class DatasetRow
{
    public string Id { get; set; } = "";
    public string Name { get; set; } = "";
    public string Layout { get; set; } = "";
    public long TrainCount { get; set; }
    public long ValCount { get; set; }
    public long TestCount { get; set; }
    public long? Width { get; set; }
    public long? Height { get; set; }
    public long SizeBytes { get; set; }
    public string BlobKey { get; set; } = "";
    public long CreatedAt { get; set; }
    public string? CreatedBy { get; set; }
    public string? Sha256 { get; set; }
    public long Previews { get; set; }

    public Dataset ToDomain() => new(Guid.Parse(Id), Name, Enum.Parse<DatasetLayout>(Layout), (int)TrainCount, (int)ValCount, (int)TestCount,
        (int?)Width, (int?)Height, SizeBytes, BlobKey, Clock.From(CreatedAt), CreatedBy, Sha256, (int)Previews);
}

internal sealed class ModelRow
{
    public string Id { get; set; } = "";
    public string Name { get; set; } = "";
    public long? DefaultVersion { get; set; }
    public long CreatedAt { get; set; }
    public string? CreatedBy { get; set; }

    public Model ToDomain() => new(Guid.Parse(Id), Name, (int?)DefaultVersion, Clock.From(CreatedAt), CreatedBy);
}

internal sealed class JobRow
{
    public string Id { get; set; } = "";
    public string ModelId { get; set; } = "";
    public string DatasetId { get; set; } = "";
    public string Options { get; set; } = "";
    public string Status { get; set; } = "";
    public long CancelRequested { get; set; }
    public long Epoch { get; set; }
    public long TotalEpochs { get; set; }
    public long Iteration { get; set; }
    public long TotalIterations { get; set; }
    public double? LearningRate { get; set; }
    public double? GGan { get; set; }
    public double? GL1 { get; set; }
    public double? DReal { get; set; }
    public double? DFake { get; set; }
    public double? ImagesPerSecond { get; set; }
    public string? Error { get; set; }
    public long Attempts { get; set; }
    public long CreatedAt { get; set; }
    public long? StartedAt { get; set; }
    public long? FinishedAt { get; set; }
    public long UpdatedAt { get; set; }
    public string? CreatedBy { get; set; }
    public long Promote { get; set; }

    public TrainingJob ToDomain() => new(Guid.Parse(Id), Guid.Parse(ModelId), Guid.Parse(DatasetId), TrainingRecipe.FromJson(Options), Enum.Parse<JobStatus>(Status),
        CancelRequested != 0, (int)Epoch, (int)TotalEpochs, Iteration, TotalIterations, LearningRate,
        GGan is { } gan ? new JobLosses(gan, GL1 ?? 0, DReal ?? 0, DFake ?? 0) : null, ImagesPerSecond, Error, (int)Attempts,
        Clock.From(CreatedAt), Clock.From(StartedAt), Clock.From(FinishedAt), Clock.From(UpdatedAt), CreatedBy, Promote != 0);
}

internal sealed class IterationRow
{
    public long Iteration { get; set; }
    public long Epoch { get; set; }
    public double LearningRate { get; set; }
    public double GGan { get; set; }
    public double GL1 { get; set; }
    public double DReal { get; set; }
    public double DFake { get; set; }
    public double ImagesPerSecond { get; set; }

    public IterationRecord ToDomain() => new(Iteration, (int)Epoch, LearningRate, GGan, GL1, DReal, DFake, ImagesPerSecond);
}

internal sealed class SnapshotRow
{
    public string JobId { get; set; } = "";
    public long Epoch { get; set; }
    public long IsFinal { get; set; }
    public double? ValL1 { get; set; }
    public double? ValPsnr { get; set; }
    public double? ValSsim { get; set; }
    public long? ValImages { get; set; }
    public double? TestL1 { get; set; }
    public double? TestPsnr { get; set; }
    public double? TestSsim { get; set; }
    public long? TestImages { get; set; }
    public string? ImageBlobKey { get; set; }
    public long CreatedAt { get; set; }

    public JobSnapshot ToDomain() => new(Guid.Parse(JobId), (int)Epoch, IsFinal != 0,
        ValL1 is { } l1 ? new QualityMetrics(l1, ValPsnr ?? 0, ValSsim ?? 0, (int)(ValImages ?? 0)) : null,
        TestL1 is { } tl1 ? new QualityMetrics(tl1, TestPsnr ?? 0, TestSsim ?? 0, (int)(TestImages ?? 0)) : null,
        ImageBlobKey, Clock.From(CreatedAt));
}

internal sealed class VersionRow
{
    public string ModelId { get; set; } = "";
    public long Version { get; set; }
    public string Source { get; set; } = ModelVersion.FromTraining;
    public long Epoch { get; set; }
    public long IsFinal { get; set; }
    public string? JobId { get; set; }
    public string? DatasetId { get; set; }
    public string? DatasetSha256 { get; set; }
    public string? ImportedFileSha256 { get; set; }
    public string Options { get; set; } = "";
    public double? L1 { get; set; }
    public double? Psnr { get; set; }
    public double? Ssim { get; set; }
    public long? MetricImages { get; set; }
    public double? TestL1 { get; set; }
    public double? TestPsnr { get; set; }
    public double? TestSsim { get; set; }
    public long? TestImages { get; set; }
    public string PackageBlobKey { get; set; } = "";
    public long PackageBytes { get; set; }
    public string? PackageSha256 { get; set; }
    public string? CreatedBy { get; set; }
    public long CreatedAt { get; set; }

    public ModelVersion ToDomain() => new(Guid.Parse(ModelId), (int)Version, (int)Epoch, IsFinal != 0, JobId is null ? null : Guid.Parse(JobId),
        DatasetId is null ? null : Guid.Parse(DatasetId), TrainingRecipe.FromJson(Options),
        L1 is { } l1 ? new QualityMetrics(l1, Psnr ?? 0, Ssim ?? 0, (int)(MetricImages ?? 0)) : null, PackageBlobKey, PackageBytes, Clock.From(CreatedAt))
    {
        Source = Source, DatasetSha256 = DatasetSha256, ImportedFileSha256 = ImportedFileSha256,
        TestMetrics = TestL1 is { } t ? new QualityMetrics(t, TestPsnr ?? 0, TestSsim ?? 0, (int)(TestImages ?? 0)) : null,
        PackageSha256 = PackageSha256, CreatedBy = CreatedBy,
    };

    public static VersionRow From(ModelVersion v) => new()
    {
        ModelId = v.ModelId.ToString(), Version = v.Version, Source = v.Source, Epoch = v.Epoch, IsFinal = v.IsFinal ? 1 : 0, JobId = v.JobId?.ToString(),
        DatasetId = v.DatasetId?.ToString(), DatasetSha256 = v.DatasetSha256, ImportedFileSha256 = v.ImportedFileSha256, Options = v.Recipe.ToJson(),
        L1 = v.Metrics?.L1, Psnr = v.Metrics?.Psnr, Ssim = v.Metrics?.Ssim, MetricImages = v.Metrics?.Images,
        TestL1 = v.TestMetrics?.L1, TestPsnr = v.TestMetrics?.Psnr, TestSsim = v.TestMetrics?.Ssim, TestImages = v.TestMetrics?.Images,
        PackageBlobKey = v.PackageBlobKey, PackageBytes = v.PackageBytes, PackageSha256 = v.PackageSha256, CreatedBy = v.CreatedBy,
        CreatedAt = v.CreatedAt.ToUnixTimeMilliseconds(),
    };
}
