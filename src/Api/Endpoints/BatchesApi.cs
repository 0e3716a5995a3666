using System.Security.Claims;
using Hangfire;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using Pix2Pix.Api.Security;
using Pix2Pix.Domain.Data;
using Pix2Pix.Domain.Service;
using Pix2Pix.Infrastructure;
using Pix2Pix.Infrastructure.Persistence;
using Pix2Pix.Infrastructure.Serving;

namespace Pix2Pix.Api.Endpoints;

/// <summary>A batch translation and where its result is once it has succeeded.</summary>
public sealed record BatchResponse(Guid Id, Guid ModelId, int Version, string Mode, JobStatus Status, int Total, int Done, double Progress,
    bool CancelRequested, string? Error, string? ResultUrl, string? CreatedBy, DateTimeOffset CreatedAt, DateTimeOffset? StartedAt, DateTimeOffset? FinishedAt)
{
    public static BatchResponse From(BatchJob b) => new(b.Id, b.ModelId, b.Version, b.Mode.ToString().ToLowerInvariant(), b.Status, b.Total, b.Done,
        b.Total == 0 ? 0 : (double)b.Done / b.Total, b.CancelRequested, b.Error, b.ResultBlobKey is null ? null : $"/batches/{b.Id}/result", b.CreatedBy,
        b.CreatedAt, b.StartedAt, b.FinishedAt);
}

public static class BatchesApi
{
    public static IEndpointRouteBuilder MapBatchesApi(this IEndpointRouteBuilder app)
    {
        var maxArchiveBytes = app.ServiceProvider.GetRequiredService<IOptions<UploadOptions>>().Value.MaxDatasetBytes;
        app.MapPost("/models/{id:guid}/translate-batch", SubmitAsync).WithTags("Batches").WithName("TranslateBatch")
            .WithSummary("Translate a .zip of images in the background; the result is a .zip of PNGs under the same names")
            .RequireAuthorization(Scopes.Translate)
            // An archive of up to Uploads:MaxDatasetBytes, extracted and decoded here: counted with uploads, not single images.
            .RequireRateLimiting(SecurityServices.TrainRate)
            .WithMetadata(new RequestSizeLimitAttribute(maxArchiveBytes + DatasetsApi.MultipartOverhead))
            .DisableAntiforgery()
            .Accepts<DatasetUploadForm>("multipart/form-data")
            .ProducesValidationProblem().ProducesProblem(404).ProducesProblem(413).ProducesProblem(415).ProducesProblem(429).ProducesProblem(503)
            .WithDescription("""
                Multipart with the .zip in `file` (images in any folders; the dataset archive's rules apply: no entry outside the
                archive, entry and size limits, each image checked and decoded, errors naming the file). Query: `version`
                (default: the model's default, fixed when the batch is submitted) and `mode` (`resize` or `pad`). Answers 202
                with `Location: /batches/{id}`; the result is `GET /batches/{id}/result` once it has succeeded.

                    curl -H "Authorization: Bearer $KEY" -F file=@labels.zip 'http://localhost:5080/models/<id>/translate-batch?mode=pad'
                """);
        var group = app.MapGroup("/batches").WithTags("Batches").RequireAuthorization(Scopes.Translate);
        group.MapGet("/{id:guid}", GetAsync).WithName("GetBatch").WithSummary("Status and progress of a batch translation").ProducesProblem(404);
        group.MapPost("/{id:guid}/cancel", CancelAsync).WithName("CancelBatch").WithSummary("Cancel a batch translation")
            .ProducesProblem(403).ProducesProblem(404).ProducesProblem(409);
        group.MapDelete("/{id:guid}", DeleteAsync).WithName("DeleteBatch").WithSummary("Delete a finished batch with its images and result (409 while queued or running)")
            .ProducesProblem(403).ProducesProblem(404).ProducesProblem(409);
        group.MapGet("/{id:guid}/result", ResultAsync).WithName("GetBatchResult").WithSummary("The translated images as a .zip of PNGs")
            .Produces(200, contentType: "application/zip").ProducesProblem(404).ProducesProblem(409);
        return app;
    }

    private static async Task<Results<AcceptedAtRoute<BatchResponse>, ValidationProblem, ProblemHttpResult>> SubmitAsync(
        Guid id, HttpRequest request, [FromQuery] int? version, [FromQuery] string? mode, ModelStore models, BatchStore batches, IBlobStore blobs,
        IBackgroundJobClient queue, UploadSlots slots, IOptions<UploadOptions> uploads, IOptions<StorageOptions> storage, ClaimsPrincipal user,
        CancellationToken cancellationToken)
    {
        if (ModelsApi.ParseMode(mode) is not { } fit)
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["mode"] = [$"Unknown mode '{mode}': use resize or pad."] });
        var resolved = await models.ResolveVersionAsync(id, version, cancellationToken);
        if (StreamedUpload.Boundary(request) is not { } boundary)
            return TypedResults.Problem("Send multipart/form-data with the .zip of images in a field named 'file'.", statusCode: 415, title: "Unsupported media type");

        var limits = uploads.Value;
        using var slot = slots.TryEnter();
        if (slot is null) return UploadSlots.Busy(request.HttpContext, limits);
        var batchId = Guid.NewGuid();
        var staging = Path.Combine(storage.Value.WorkDirectory, "uploads", batchId.ToString("N"));
        var archive = Path.Combine(staging, "input.zip");
        try
        {
            Directory.CreateDirectory(staging);
            var (upload, problem) = await StreamedUpload.ReceiveAsync(request, boundary, archive, limits.MaxDatasetBytes, "Uploads:MaxDatasetBytes", cancellationToken);
            if (problem is not null) return problem;
            if (upload!.Size == 0)
                return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["file"] = ["Attach a .zip of PNG or JPEG images in a form field named 'file'."] });

            var archiveLimits = limits.ToArchiveLimits();
            var images = await Task.Run(() =>
            {
                using (var zip = File.OpenRead(archive)) DatasetArchive.Extract(zip, Path.Combine(staging, "images"), archiveLimits);
                return DatasetArchive.ImagesToTranslate(Path.Combine(staging, "images"), archiveLimits.Images);
            }, cancellationToken);

            var key = BlobKeys.BatchInput(batchId);
            await blobs.PutFileAsync(key, archive, "application/zip", cancellationToken);
            var batch = await batches.CreateAsync(batchId, id, resolved.Version, fit, images.Count, key, user.Subject(), cancellationToken);
            queue.Enqueue<BatchTranslationRunner>(runner => runner.RunAsync(batchId, CancellationToken.None));
            return TypedResults.AcceptedAtRoute(BatchResponse.From(batch), "GetBatch", new { id = batchId });
        }
        finally
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        }
    }

    private static async Task<Ok<BatchResponse>> GetAsync(Guid id, BatchStore batches, CancellationToken cancellationToken) =>
        TypedResults.Ok(BatchResponse.From(await batches.GetAsync(id, cancellationToken)));

    private static async Task<Accepted<BatchResponse>> CancelAsync(Guid id, BatchStore batches, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        user.EnsureMayChange((await batches.GetAsync(id, cancellationToken)).CreatedBy, $"Batch {id}");
        return TypedResults.Accepted($"/batches/{id}", BatchResponse.From(await batches.RequestCancelAsync(id, cancellationToken)));
    }

    private static async Task<NoContent> DeleteAsync(Guid id, BatchStore batches, IBlobStore blobs, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        user.EnsureMayChange((await batches.GetAsync(id, cancellationToken)).CreatedBy, $"Batch {id}");
        await batches.DeleteAsync(id, cancellationToken);
        // If this fails, the storage sweep removes them later (no row refers to them).
        await blobs.DeletePrefixAsync($"batches/{id:N}/", CancellationToken.None);
        return TypedResults.NoContent();
    }

    private static async Task<FileStreamHttpResult> ResultAsync(Guid id, BatchStore batches, IBlobStore blobs, CancellationToken cancellationToken)
    {
        var batch = await batches.GetAsync(id, cancellationToken);
        if (batch.Status != JobStatus.Succeeded || batch.ResultBlobKey is not { } key)
            throw new ConflictException($"Batch {id} is {batch.Status}; its result exists once it has Succeeded.");
        var stream = await blobs.OpenReadAsync(key, cancellationToken) ?? throw new NotFoundException($"The result of batch {id} is missing from blob storage.");
        return TypedResults.Stream(stream, "application/zip", $"batch-{id:N}.zip");
    }
}
