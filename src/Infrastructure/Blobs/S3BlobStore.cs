using System.Net;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Amazon.S3.Transfer;
using Pix2Pix.Domain.Runtime;
using Pix2Pix.Domain.Service;

namespace Pix2Pix.Infrastructure.Blobs;

/// <summary>Blobs in an S3-compatible bucket (AWS S3, MinIO, Ceph RADOS Gateway), addressed path-style.</summary>
public sealed class S3BlobStore : IBlobStore, IDisposable
{
    private readonly AmazonS3Client client;
    private readonly string bucket;

    public S3BlobStore(S3BlobOptions options)
    {
        var config = new AmazonS3Config
        {
            ForcePathStyle = true,
            // Checksums only where S3 requires them: S3-compatible servers (Ceph RGW among them) reject the others.
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
            AuthenticationRegion = options.Region,
        };
        if (!string.IsNullOrWhiteSpace(options.ServiceUrl)) config.ServiceURL = options.ServiceUrl;
        else config.RegionEndpoint = Amazon.RegionEndpoint.GetBySystemName(options.Region);
        client = string.IsNullOrEmpty(options.AccessKey)
            ? new AmazonS3Client(config)
            : new AmazonS3Client(new BasicAWSCredentials(options.AccessKey, options.SecretKey), config);
        bucket = options.Bucket;
    }

    public async Task EnsureBucketAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            await client.PutBucketAsync(new PutBucketRequest { BucketName = bucket }, cancellationToken);
        }
        catch (AmazonS3Exception e) when (e.ErrorCode is "BucketAlreadyOwnedByYou" or "BucketAlreadyExists")
        {
        }
    }

    public async Task PutAsync(string key, Stream content, string contentType, CancellationToken cancellationToken = default)
    {
        // S3 PUTs are atomic: a reader sees the old object or the new one. Large files go up in parts.
        using var transfer = new TransferUtility(client);
        await transfer.UploadAsync(new TransferUtilityUploadRequest
        {
            BucketName = bucket, Key = key, InputStream = content, ContentType = contentType, AutoCloseStream = false,
        }, cancellationToken);
    }

    public async Task PutFileAsync(string key, string path, string contentType, CancellationToken cancellationToken = default)
    {
        using var transfer = new TransferUtility(client);
        await transfer.UploadAsync(new TransferUtilityUploadRequest { BucketName = bucket, Key = key, FilePath = path, ContentType = contentType }, cancellationToken);
    }

    public async Task<Stream?> OpenReadAsync(string key, CancellationToken cancellationToken = default)
    {
        try
        {
            var response = await client.GetObjectAsync(bucket, key, cancellationToken);
            return response.ResponseStream;
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    public async Task<bool> DownloadToFileAsync(string key, string path, CancellationToken cancellationToken = default)
    {
        await using var source = await OpenReadAsync(key, cancellationToken);
        if (source is null) return false;
        await AtomicFile.WriteAsync(path, source.CopyToAsync, cancellationToken);
        return true;
    }

    public async Task<bool> ExistsAsync(string key, CancellationToken cancellationToken = default)
    {
        try
        {
            await client.GetObjectMetadataAsync(bucket, key, cancellationToken);
            return true;
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            return false;
        }
    }

    public Task DeleteAsync(string key, CancellationToken cancellationToken = default) => client.DeleteObjectAsync(bucket, key, cancellationToken);

    public async Task DeletePrefixAsync(string prefix, CancellationToken cancellationToken = default)
    {
        var request = new ListObjectsV2Request { BucketName = bucket, Prefix = prefix };
        ListObjectsV2Response response;
        do
        {
            response = await client.ListObjectsV2Async(request, cancellationToken);
            foreach (var item in response.S3Objects ?? []) await client.DeleteObjectAsync(bucket, item.Key, cancellationToken);
            request.ContinuationToken = response.NextContinuationToken;
        }
        while (response.IsTruncated == true);
    }

    public async Task<IReadOnlyList<BlobItem>> ListAsync(string prefix, CancellationToken cancellationToken = default)
    {
        var items = new List<BlobItem>();
        var request = new ListObjectsV2Request { BucketName = bucket, Prefix = prefix };
        ListObjectsV2Response response;
        do
        {
            response = await client.ListObjectsV2Async(request, cancellationToken);
            items.AddRange((response.S3Objects ?? []).Select(o => new BlobItem(o.Key, o.LastModified is { } at ? new DateTimeOffset(at.ToUniversalTime()) : DateTimeOffset.MinValue)));
            request.ContinuationToken = response.NextContinuationToken;
        }
        while (response.IsTruncated == true);
        return items;
    }

    public Task CheckAsync(CancellationToken cancellationToken = default) =>
        client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket, MaxKeys = 1 }, cancellationToken);

    public void Dispose() => client.Dispose();
}
