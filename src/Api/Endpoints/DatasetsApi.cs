using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using Pix2Pix.Domain.Data;
using Pix2Pix.Domain.Service;
using Pix2Pix.Infrastructure;
using Pix2Pix.Infrastructure.Persistence;

namespace Pix2Pix.Api.Endpoints;

public sealed record DatasetSplits(int Train, int Val, int Test);

public sealed record DatasetResponse(Guid Id, string Name, DatasetLayout Layout, DatasetSplits Splits, int? Width, int? Height, long SizeBytes, DateTimeOffset CreatedAt)
{
    public static DatasetResponse From(Dataset d) => new(d.Id, d.Name, d.Layout, new DatasetSplits(d.Train, d.Val, d.Test), d.Width, d.Height, d.SizeBytes, d.CreatedAt);
}

/// <summary>The multipart form of <c>POST /datasets</c>.</summary>
public sealed class DatasetUploadForm
{
    /// <summary>A .zip with train/ (and optionally val/, test/): aligned A|B images, or A/ and B/ folders.</summary>
    public IFormFile? File { get; set; }

    /// <summary>Optional display name (default: the file name).</summary>
    public string? Name { get; set; }
}

public static class DatasetsApi
{
    public static RouteGroupBuilder MapDatasetsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/datasets").WithTags("Datasets");
        group.MapPost("/", UploadAsync)
            .DisableAntiforgery()
            .Accepts<DatasetUploadForm>("multipart/form-data")
            .WithName("UploadDataset")
            .WithSummary("Upload a dataset (.zip)")
            .WithDescription("""
                Multipart form: `file` = a .zip holding `train/` (and optionally `val/`, `test/`) with aligned images (A|B side by side)
                or `A/` and `B/` folders of pairs with the same file names; optional `name`. Every file is checked (format, sizes,
                partners) and decoded before the dataset is accepted.

                    curl -F file=@facades.zip -F name=facades http://localhost:5080/datasets
                """);
        group.MapGet("/", ListAsync).WithName("ListDatasets").WithSummary("List datasets (newest first)");
        group.MapGet("/{id:guid}", GetAsync).WithName("GetDataset").WithSummary("Get a dataset").ProducesProblem(404);
        group.MapDelete("/{id:guid}", DeleteAsync).WithName("DeleteDataset").WithSummary("Delete a dataset (409 while a queued or running job uses it)")
            .ProducesProblem(404).ProducesProblem(409);
        return group;
    }

    private static async Task<Results<Created<DatasetResponse>, ProblemHttpResult, ValidationProblem>> UploadAsync(
        HttpRequest request, DatasetStore datasets, IBlobStore blobs, IOptions<UploadOptions> uploads, IOptions<StorageOptions> storage,
        TimeProvider time, CancellationToken cancellationToken)
    {
        if (!request.HasFormContentType)
            return TypedResults.Problem("Send multipart/form-data with the archive in a field named 'file'.", statusCode: 415, title: "Unsupported media type");
        var limits = uploads.Value;
        if (request.ContentLength > limits.MaxDatasetBytes + MultipartOverhead)
            return TooLarge(limits.MaxDatasetBytes);
        IFormCollection form;
        try
        {
            form = await request.ReadFormAsync(cancellationToken);
        }
        catch (InvalidDataException e) // thrown by the multipart reader: over the length limit (chunked uploads) or malformed
        {
            return e.Message.Contains("limit", StringComparison.OrdinalIgnoreCase)
                ? TooLarge(limits.MaxDatasetBytes)
                : TypedResults.Problem($"The multipart body cannot be read: {e.Message}", statusCode: 400, title: "Bad request");
        }
        var file = form.Files.GetFile("file");
        if (file is null || file.Length == 0)
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["file"] = ["Attach the dataset archive (.zip) in a form field named 'file'."] });
        if (file.Length > limits.MaxDatasetBytes) return TooLarge(limits.MaxDatasetBytes);
        var name = form["name"].ToString() is { Length: > 0 } given ? given.Trim() : Path.GetFileNameWithoutExtension(file.FileName);
        if (name.Length is 0 or > 200)
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["name"] = ["Give a name of 1 to 200 characters."] });

        var id = Guid.NewGuid();
        var staging = Path.Combine(storage.Value.WorkDirectory, "uploads", id.ToString("N"));
        var archive = Path.Combine(staging, "dataset.zip");
        try
        {
            Directory.CreateDirectory(staging);
            await using (var target = File.Create(archive))
                await file.CopyToAsync(target, cancellationToken);
            var archiveLimits = limits.ToArchiveLimits();
            var summary = await Task.Run(() =>
            {
                using var zip = File.OpenRead(archive);
                return DatasetArchive.ExtractAndValidate(zip, Path.Combine(staging, "files"), archiveLimits).Summary;
            }, cancellationToken);

            var dataset = new Dataset(id, name, summary.Layout, summary.Train, summary.Val, summary.Test, summary.Width, summary.Height,
                file.Length, BlobKeys.Dataset(id), time.GetUtcNow());
            await blobs.PutFileAsync(dataset.BlobKey, archive, "application/zip", cancellationToken);
            try
            {
                await datasets.AddAsync(dataset, cancellationToken);
            }
            catch
            {
                await blobs.DeleteAsync(dataset.BlobKey, CancellationToken.None);
                throw;
            }
            return TypedResults.Created($"/datasets/{id}", DatasetResponse.From(dataset));
        }
        finally
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        }
    }

    private static async Task<Ok<Page<DatasetResponse>>> ListAsync(DatasetStore datasets, [FromQuery] int? offset, [FromQuery] int? limit, CancellationToken cancellationToken)
    {
        var (o, l) = Paging.Normalize(offset, limit);
        var page = await datasets.ListAsync(o, l, cancellationToken);
        return TypedResults.Ok(new Page<DatasetResponse>(page.Items.Select(DatasetResponse.From).ToList(), page.Offset, page.Limit, page.Total));
    }

    private static async Task<Ok<DatasetResponse>> GetAsync(Guid id, DatasetStore datasets, CancellationToken cancellationToken) =>
        TypedResults.Ok(DatasetResponse.From(await datasets.GetAsync(id, cancellationToken)));

    private static async Task<NoContent> DeleteAsync(Guid id, DatasetStore datasets, IBlobStore blobs, CancellationToken cancellationToken)
    {
        var dataset = await datasets.DeleteAsync(id, cancellationToken);
        await blobs.DeleteAsync(dataset.BlobKey, CancellationToken.None);
        return TypedResults.NoContent();
    }

    /// <summary>Room for the multipart boundaries and the name field around the archive.</summary>
    internal const long MultipartOverhead = 64 * 1024;

    private static ProblemHttpResult TooLarge(long limit) =>
        TypedResults.Problem($"The archive is larger than the limit of {limit} bytes (Uploads:MaxDatasetBytes).", statusCode: 413, title: "Request too large");
}

public static class Paging
{
    public const int DefaultLimit = 50, MaxLimit = 500;

    public static (int Offset, int Limit) Normalize(int? offset, int? limit) =>
        (Math.Max(0, offset ?? 0), Math.Clamp(limit ?? DefaultLimit, 1, MaxLimit));
}
