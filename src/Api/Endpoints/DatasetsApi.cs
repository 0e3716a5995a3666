using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using Pix2Pix.Api.Security;
using Pix2Pix.Domain.Data;
using Pix2Pix.Domain.Service;
using Pix2Pix.Infrastructure;
using Pix2Pix.Infrastructure.Persistence;

namespace Pix2Pix.Api.Endpoints;

public sealed record DatasetSplits(int Train, int Val, int Test);

public sealed record DatasetResponse(Guid Id, string Name, DatasetLayout Layout, DatasetSplits Splits, int? Width, int? Height, long SizeBytes, string? Sha256,
    int PreviewCount, DateTimeOffset CreatedAt, string? CreatedBy)
{
    public static DatasetResponse From(Dataset d) => new(d.Id, d.Name, d.Layout, new DatasetSplits(d.Train, d.Val, d.Test), d.Width, d.Height, d.SizeBytes,
        d.Sha256, d.Previews, d.CreatedAt, d.CreatedBy);
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
        var maxDatasetBytes = app.ServiceProvider.GetRequiredService<IOptions<UploadOptions>>().Value.MaxDatasetBytes;
        group.MapPost("/", UploadAsync)
            .RequireAuthorization(Scopes.Train)
            .RequireRateLimiting(SecurityServices.TrainRate)
            .WithMetadata(new RequestSizeLimitAttribute(maxDatasetBytes + MultipartOverhead))
            .ProducesProblem(413).ProducesProblem(415).ProducesProblem(429).ProducesProblem(503)
            .DisableAntiforgery()
            .Accepts<DatasetUploadForm>("multipart/form-data")
            .WithName("UploadDataset")
            .WithSummary("Upload a dataset (.zip)")
            .WithDescription("""
                Multipart form: `file` = a .zip holding `train/` (and optionally `val/`, `test/`) with aligned images (A|B side by side)
                or `A/` and `B/` folders of pairs with the same file names; optional `name`. Every file is checked (format, sizes,
                partners) and decoded before the dataset is accepted. The archive streams to disk as it arrives; at most
                `Uploads:MaxConcurrent` uploads run at once in a process (503 with Retry-After beyond).

                    curl -H "Authorization: Bearer $KEY" -F file=@facades.zip -F name=facades http://localhost:5080/datasets
                """);
        group.MapGet("/", ListAsync).WithName("ListDatasets").WithSummary("List datasets (newest first)").RequireAuthorization(Scopes.Read);
        group.MapGet("/{id:guid}", GetAsync).WithName("GetDataset").WithSummary("Get a dataset").ProducesProblem(404).RequireAuthorization(Scopes.Read);
        group.MapGet("/{id:guid}/previews/{index:int}", PreviewAsync).WithName("GetDatasetPreview")
            .WithSummary("A small picture of one of the dataset's first training pairs (A | B), as PNG; previewCount says how many there are")
            .Produces(200, contentType: "image/png").ProducesProblem(404).RequireAuthorization(Scopes.Read);
        group.MapDelete("/{id:guid}", DeleteAsync).WithName("DeleteDataset").WithSummary("Delete a dataset (409 while a queued or running job uses it)")
            .ProducesProblem(403).ProducesProblem(404).ProducesProblem(409).RequireAuthorization(Scopes.Train);
        return group;
    }

    private static async Task<Results<Created<DatasetResponse>, ProblemHttpResult, ValidationProblem>> UploadAsync(
        HttpRequest request, DatasetStore datasets, IBlobStore blobs, UploadSlots slots, IOptions<UploadOptions> uploads, IOptions<StorageOptions> storage,
        ClaimsPrincipal user, TimeProvider time, CancellationToken cancellationToken)
    {
        if (StreamedUpload.Boundary(request) is not { } boundary)
            return TypedResults.Problem("Send multipart/form-data with the archive in a field named 'file'.", statusCode: 415, title: "Unsupported media type");
        var limits = uploads.Value;
        if (request.ContentLength > limits.MaxDatasetBytes + MultipartOverhead)
            return StreamedUpload.TooLarge(limits.MaxDatasetBytes, "Uploads:MaxDatasetBytes");
        using var slot = slots.TryEnter();
        if (slot is null) return UploadSlots.Busy(request.HttpContext, limits);

        var id = Guid.NewGuid();
        var staging = Path.Combine(storage.Value.WorkDirectory, "uploads", id.ToString("N"));
        var archive = Path.Combine(staging, "dataset.zip");
        try
        {
            Directory.CreateDirectory(staging);
            var (upload, problem) = await StreamedUpload.ReceiveAsync(request, boundary, archive, limits.MaxDatasetBytes, "Uploads:MaxDatasetBytes", cancellationToken);
            if (problem is not null) return problem;
            if (upload!.Size == 0)
                return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["file"] = ["Attach the dataset archive (.zip) in a form field named 'file'."] });
            var name = upload.Fields.GetValueOrDefault("name");
            var size = upload.Size;
            var sha256 = upload.Sha256;
            var fileName = upload.FileName;
            name = name is { Length: > 0 } given ? given.Trim() : Path.GetFileNameWithoutExtension(fileName ?? "dataset");
            if (name.Length is 0 or > MaxNameLength)
                return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["name"] = [$"Give a name of 1 to {MaxNameLength} characters."] });

            var archiveLimits = limits.ToArchiveLimits();
            var (root, summary) = await Task.Run(() =>
            {
                using var zip = File.OpenRead(archive);
                return DatasetArchive.ExtractAndValidate(zip, Path.Combine(staging, "files"), archiveLimits);
            }, cancellationToken);
            var previews = await Task.Run(() => DatasetPreviews.Make(root, limits.ToImageLimits()), cancellationToken);

            var dataset = new Dataset(id, name, summary.Layout, summary.Train, summary.Val, summary.Test, summary.Width, summary.Height,
                size, BlobKeys.Dataset(id), time.GetUtcNow(), user.Subject(), sha256, previews.Count);
            for (int i = 0; i < previews.Count; i++)
                await blobs.PutAsync(BlobKeys.DatasetPreview(id, i), new MemoryStream(previews[i]), "image/png", cancellationToken);
            await blobs.PutFileAsync(dataset.BlobKey, archive, "application/zip", cancellationToken);
            try
            {
                await datasets.AddAsync(dataset, cancellationToken);
            }
            catch
            {
                await blobs.DeletePrefixAsync(BlobKeys.DatasetPrefix(id), CancellationToken.None);
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

    private static async Task<FileStreamHttpResult> PreviewAsync(Guid id, int index, DatasetStore datasets, IBlobStore blobs, CancellationToken cancellationToken)
    {
        var dataset = await datasets.GetAsync(id, cancellationToken);
        var stream = index >= 0 && index < dataset.Previews ? await blobs.OpenReadAsync(BlobKeys.DatasetPreview(id, index), cancellationToken) : null;
        return stream is null
            ? throw new NotFoundException($"Dataset {id} has {dataset.Previews} previews; there is no preview {index}.")
            : TypedResults.Stream(stream, "image/png");
    }

    private static async Task<NoContent> DeleteAsync(Guid id, DatasetStore datasets, IBlobStore blobs, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        user.EnsureMayChange((await datasets.GetAsync(id, cancellationToken)).CreatedBy, $"Dataset {id}");
        await datasets.DeleteAsync(id, cancellationToken);
        await blobs.DeletePrefixAsync(BlobKeys.DatasetPrefix(id), CancellationToken.None);
        return TypedResults.NoContent();
    }

    /// <summary>Room for the multipart boundaries and the name field around the archive.</summary>
    internal const long MultipartOverhead = 64 * 1024;

    private const int MaxNameLength = 200;
}

/// <summary>
/// Bounds the large uploads one process receives at once (datasets, batch archives, imported weights): each holds a
/// connection, disk or memory while it arrives and is checked.
/// </summary>
public sealed class UploadSlots(IOptions<UploadOptions> options)
{
    public const int RetryAfterSeconds = 10;
    private readonly SemaphoreSlim slots = new(options.Value.MaxConcurrent);

    /// <summary>A slot to release by disposing, or null when all are taken.</summary>
    public IDisposable? TryEnter() => slots.Wait(0) ? new Slot(slots) : null;

    /// <summary>503 with Retry-After: every slot is taken.</summary>
    public static ProblemHttpResult Busy(HttpContext context, UploadOptions limits)
    {
        context.Response.Headers.RetryAfter = RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return TypedResults.Problem($"{limits.MaxConcurrent} uploads are already being received here (Uploads:MaxConcurrent); retry shortly.",
            statusCode: 503, title: "Busy");
    }

    private sealed class Slot(SemaphoreSlim slots) : IDisposable
    {
        private int released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref released, 1) == 0) slots.Release();
        }
    }
}

public static class Paging
{
    public const int DefaultLimit = 50, MaxLimit = 500;

    public static (int Offset, int Limit) Normalize(int? offset, int? limit) =>
        (Math.Max(0, offset ?? 0), Math.Clamp(limit ?? DefaultLimit, 1, MaxLimit));
}
