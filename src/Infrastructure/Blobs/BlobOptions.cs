using System.ComponentModel.DataAnnotations;

namespace Pix2Pix.Infrastructure.Blobs;

public enum BlobProvider { FileSystem, S3 }

/// <summary>Section <c>Blobs</c>.</summary>
public sealed class BlobOptions
{
    public const string Section = "Blobs";

    public BlobProvider Provider { get; set; } = BlobProvider.FileSystem;

    /// <summary>For FileSystem: the folder; empty means <c>{Storage:DataDirectory}/blobs</c>.</summary>
    public string? Directory { get; set; }

    public S3BlobOptions S3 { get; set; } = new();
}

/// <summary>Section <c>Blobs:S3</c>: any S3-compatible service, with path-style addressing.</summary>
public sealed class S3BlobOptions
{
    /// <summary>e.g. <c>http://minio:9000</c>; empty for AWS S3 in <see cref="Region"/>.</summary>
    public string? ServiceUrl { get; set; }

    public string Bucket { get; set; } = "pix2pix";
    public string? AccessKey { get; set; }
    public string? SecretKey { get; set; }
    public string Region { get; set; } = "us-east-1";

    /// <summary>Create the bucket at start when it does not exist.</summary>
    public bool CreateBucket { get; set; } = true;
}
