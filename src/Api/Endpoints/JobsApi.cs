using System.Security.Claims;
using System.Text.RegularExpressions;
using Hangfire;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using Pix2Pix.Api.Security;
using Pix2Pix.Domain.Data;
using Pix2Pix.Domain.Service;
using Pix2Pix.Domain.Training;
using Pix2Pix.Infrastructure.Jobs;
using Pix2Pix.Infrastructure.Persistence;

namespace Pix2Pix.Api.Endpoints;

/// <summary>Body of <c>POST /jobs/train</c>.</summary>
/// <param name="DatasetId">The dataset to train on.</param>
/// <param name="ModelName">The model the versions go to; created when it does not exist.</param>
/// <param name="Options">The recipe; every field optional, defaults are the paper's.</param>
/// <param name="Promote">Make the job's final version the model's default (a model's first version is its default anyway).</param>
public sealed record TrainJobRequest(Guid? DatasetId, string? ModelName, TrainingRecipe? Options, bool? Promote = null);

public sealed record JobAccepted(Guid Id, JobStatus Status, Guid ModelId);

public sealed record LossesResponse(double GGan, double GL1, double DReal, double DFake);

public sealed record JobResponse(
    Guid Id, JobStatus Status, Guid ModelId, Guid DatasetId, int Epoch, int TotalEpochs, long Iteration, long TotalIterations,
    double Progress, double? EtaSeconds, double? LearningRate, LossesResponse? Losses, double? ImagesPerSecond, bool CancelRequested,
    string? Error, int Attempts, DateTimeOffset CreatedAt, DateTimeOffset? StartedAt, DateTimeOffset? FinishedAt, string? CreatedBy, bool Promote,
    TrainingRecipe Options)
{
    public static JobResponse From(TrainingJob job)
    {
        double? eta = job.Status == JobStatus.Running && job.ImagesPerSecond is > 0 && job.TotalIterations > 0
            ? (job.TotalIterations - job.Iteration) * job.Recipe.BatchSize / job.ImagesPerSecond.Value
            : null;
        return new JobResponse(job.Id, job.Status, job.ModelId, job.DatasetId, job.Epoch, job.TotalEpochs, job.Iteration, job.TotalIterations,
            job.Progress, eta, job.LearningRate,
            job.Losses is { } l ? new LossesResponse(l.GeneratorGan, l.GeneratorL1, l.DiscriminatorReal, l.DiscriminatorFake) : null,
            job.ImagesPerSecond, job.CancelRequested, job.Error, job.Attempts, job.CreatedAt, job.StartedAt, job.FinishedAt, job.CreatedBy, job.Promote, job.Recipe);
    }
}

public sealed record IterationResponse(long Iteration, int Epoch, double LearningRate, double GGan, double GL1, double DReal, double DFake, double ImagesPerSecond);

public sealed record SnapshotResponse(int Epoch, bool IsFinal, QualityMetrics? Val, QualityMetrics? Test, string? ImageUrl, DateTimeOffset CreatedAt);

public sealed record JobMetricsResponse(IReadOnlyList<IterationResponse> Losses, IReadOnlyList<SnapshotResponse> Snapshots, long? NextAfter);

public static partial class JobsApi
{
    public static RouteGroupBuilder MapJobsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/jobs").WithTags("Jobs");
        group.MapPost("/train", StartAsync).WithName("StartTraining").WithSummary("Start a training job")
            .RequireAuthorization(Scopes.Train).RequireRateLimiting(SecurityServices.TrainRate).ProducesProblem(403).ProducesProblem(429)
            .WithDescription("""
                Queues a training job and answers 202 with `Location: /jobs/{id}`. `options` is the recipe (the `TrainingRecipe`
                schema: every field optional, with the paper's defaults and what it means). Impossible combinations answer 400
                naming the field (`options.cropSize`, ...), as do recipes beyond this service's caps (`Training:MaxEpochs`,
                `Training:MinCheckpointEvery`); more than `Training:MaxQueuedJobsPerKey` queued or running jobs of one caller
                answer 429. Training into a model another caller created needs an admin key (403).

                    curl -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
                      -d '{"datasetId":"<id>","modelName":"facades","options":{"direction":"BtoA","epochs":100,"decayEpochs":100}}' \
                      http://localhost:5080/jobs/train
                """);
        group.MapGet("/", ListAsync).WithName("ListJobs").WithSummary("List jobs (newest first)").RequireAuthorization(Scopes.Read);
        group.MapGet("/{id:guid}", GetAsync).WithName("GetJob").WithSummary("Status and progress of a job")
            .WithDescription("""    curl -H "Authorization: Bearer $KEY" http://localhost:5080/jobs/<id>""").ProducesProblem(404).RequireAuthorization(Scopes.Read);
        group.MapDelete("/{id:guid}", DeleteAsync).WithName("DeleteJob")
            .WithSummary("Delete a finished job: its checkpoints, snapshots and loss series go, the versions it made stay (409 while queued or running)")
            .ProducesProblem(403).ProducesProblem(404).ProducesProblem(409).RequireAuthorization(Scopes.Train);
        group.MapPost("/{id:guid}/cancel", CancelAsync).WithName("CancelJob").WithSummary("Cancel a job (it stops within seconds and keeps its checkpoint)")
            .ProducesProblem(403).ProducesProblem(404).ProducesProblem(409).RequireAuthorization(Scopes.Train);
        group.MapGet("/{id:guid}/metrics", MetricsAsync).WithName("GetJobMetrics").WithSummary("Loss series and val metrics per snapshot")
            .WithDescription("Losses per iteration, paged with `after` (the last iteration you have) and `limit`.").ProducesProblem(404)
            .RequireAuthorization(Scopes.Read);
        group.MapGet("/{id:guid}/events", EventsAsync).WithName("StreamJobEvents")
            .WithSummary("The job live, as Server-Sent Events: job (status and progress), losses, snapshot, end")
            .WithDescription("""
                Events, read from the job's rows once a second: `job` (as `GET /jobs/{id}` answers, on connect and on every change),
                `losses` (the iterations logged since the previous event; its id is the last iteration), `snapshot` (each once),
                and `end` once the job has finished, after which the stream closes. Reconnect with `Last-Event-ID` (or `?after=`)
                to resume the losses where they stopped.

                    curl -N -H "Authorization: Bearer $KEY" http://localhost:5080/jobs/<id>/events
                """)
            .Produces(200, contentType: "text/event-stream").ProducesProblem(404).RequireAuthorization(Scopes.Read);
        group.MapGet("/{id:guid}/snapshots", SnapshotsAsync).WithName("ListSnapshots").WithSummary("Snapshots of a job").ProducesProblem(404)
            .RequireAuthorization(Scopes.Read);
        group.MapGet("/{id:guid}/snapshots/{epoch:int}", SnapshotImageAsync).WithName("GetSnapshotImage")
            .WithSummary("Snapshot grid (input | output | target) as PNG").Produces(200, contentType: "image/png").ProducesProblem(404)
            .WithDescription("""    curl -H "Authorization: Bearer $KEY" -o epoch-0010.png http://localhost:5080/jobs/<id>/snapshots/10""")
            .RequireAuthorization(Scopes.Read);
        return group;
    }

    private static async Task<Results<AcceptedAtRoute<JobAccepted>, ValidationProblem, ProblemHttpResult>> StartAsync(
        TrainJobRequest request, DatasetStore datasets, ModelStore models, JobStore jobs, IBackgroundJobClient queue, ClaimsPrincipal user,
        IOptions<TrainingLimitsOptions> limits, HttpContext http, CancellationToken cancellationToken)
    {
        var errors = new Dictionary<string, string[]>();
        if (request.DatasetId is null) errors["datasetId"] = ["Give the id of an uploaded dataset."];
        if (string.IsNullOrWhiteSpace(request.ModelName) || !ModelName().IsMatch(request.ModelName))
            errors["modelName"] = ["Give a model name of 1 to 100 letters, digits, '.', '-' or '_'."];
        var options = request.Options ?? new TrainingRecipe();
        foreach (var (field, message) in options.Validate()) errors[$"options.{field}"] = [message];
        var caps = limits.Value;
        if (options.TotalEpochs > caps.MaxEpochs && !errors.ContainsKey("options.epochs"))
            errors["options.epochs"] = [$"epochs + decayEpochs is {options.TotalEpochs}; this service trains at most {caps.MaxEpochs} (Training:MaxEpochs)."];
        if (options.CheckpointEvery < caps.MinCheckpointEvery && !errors.ContainsKey("options.checkpointEvery"))
            errors["options.checkpointEvery"] = [$"Must be at least {caps.MinCheckpointEvery} iterations here (Training:MinCheckpointEvery): each checkpoint writes every weight and optimizer state."];
        Dataset? dataset = request.DatasetId is { } datasetId ? await datasets.FindAsync(datasetId, cancellationToken) : null;
        if (request.DatasetId is not null && dataset is null) errors["datasetId"] = [$"Dataset {request.DatasetId} does not exist."];
        if (dataset is { Width: { } width, Height: { } height } && options.Preprocess == Preprocess.Crop && (width < options.CropSize || height < options.CropSize))
            errors["options.cropSize"] = [$"Preprocess 'crop' needs images of at least {options.CropSize}×{options.CropSize}; this dataset's are {width}×{height}."];
        if (errors.Count > 0) return TypedResults.ValidationProblem(errors);

        var caller = user.Subject();
        var active = await jobs.CountActiveAsync(caller, cancellationToken);
        if (active >= caps.MaxQueuedJobsPerKey)
        {
            http.Response.Headers.RetryAfter = QueueFullRetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return TypedResults.Problem(
                $"This caller has {active} queued or running jobs; the limit is {caps.MaxQueuedJobsPerKey} (Training:MaxQueuedJobsPerKey). Wait for one to finish or cancel one.",
                statusCode: 429, title: "Too many queued jobs");
        }
        var model = await models.GetOrCreateAsync(request.ModelName!, caller, cancellationToken);
        user.EnsureMayChange(model.CreatedBy, $"Model '{model.Name}'");
        TrainingJob job;
        try
        {
            job = await jobs.CreateAsync(model.Id, dataset!.Id, options, caller, request.Promote == true, cancellationToken);
        }
        catch (NotFoundException e) // deleted between the check and the insert
        {
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["datasetId"] = [e.Message] });
        }
        try
        {
            queue.EnqueueTraining(job.Id);
        }
        catch
        {
            await jobs.FinishAsync(job.Id, JobStatus.Failed, "The job could not be queued.", CancellationToken.None);
            throw;
        }
        // Should this process stop before the next line, the lease watchdog queues the job (never twice: it claims it).
        await jobs.MarkEnqueuedAsync(job.Id, CancellationToken.None);
        return TypedResults.AcceptedAtRoute(new JobAccepted(job.Id, job.Status, model.Id), "GetJob", new { id = job.Id });
    }

    private static async Task<Ok<Page<JobResponse>>> ListAsync(JobStore jobs, [FromQuery] int? offset, [FromQuery] int? limit, CancellationToken cancellationToken)
    {
        var (o, l) = Paging.Normalize(offset, limit);
        var page = await jobs.ListAsync(o, l, cancellationToken);
        return TypedResults.Ok(new Page<JobResponse>(page.Items.Select(JobResponse.From).ToList(), page.Offset, page.Limit, page.Total));
    }

    private static async Task<Ok<JobResponse>> GetAsync(Guid id, JobStore jobs, CancellationToken cancellationToken) =>
        TypedResults.Ok(JobResponse.From(await jobs.GetAsync(id, cancellationToken)));

    private static async Task<NoContent> DeleteAsync(Guid id, JobStore jobs, IBlobStore blobs, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        user.EnsureMayChange((await jobs.GetAsync(id, cancellationToken)).CreatedBy, $"Job {id}");
        await jobs.DeleteAsync(id, cancellationToken);
        // Checkpoints and snapshot images; if this fails, the storage sweep removes them later (no row refers to them).
        await blobs.DeletePrefixAsync(BlobKeys.JobPrefix(id), CancellationToken.None);
        return TypedResults.NoContent();
    }

    private static async Task<Accepted<JobResponse>> CancelAsync(Guid id, JobStore jobs, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        user.EnsureMayChange((await jobs.GetAsync(id, cancellationToken)).CreatedBy, $"Job {id}");
        var job = await jobs.RequestCancelAsync(id, cancellationToken);
        return TypedResults.Accepted($"/jobs/{id}", JobResponse.From(job));
    }

    private static async Task<Ok<JobMetricsResponse>> MetricsAsync(Guid id, JobStore jobs, [FromQuery] long? after, [FromQuery] int? limit, CancellationToken cancellationToken)
    {
        await jobs.GetAsync(id, cancellationToken);
        int take = Math.Clamp(limit ?? 10_000, 1, 100_000);
        var iterations = await jobs.IterationsAsync(id, after ?? 0, take, cancellationToken);
        var snapshots = await jobs.SnapshotsAsync(id, cancellationToken);
        return TypedResults.Ok(new JobMetricsResponse(
            iterations.Select(ToResponse).ToList(),
            snapshots.Select(s => ToResponse(id, s)).ToList(),
            iterations.Count == take ? iterations[^1].Iteration : null));
    }

    private static async Task<ServerSentEventsResult<object>> EventsAsync(Guid id, HttpRequest request, JobStore jobs, TimeProvider time,
        [FromQuery] long? after, CancellationToken cancellationToken)
    {
        await jobs.GetAsync(id, cancellationToken); // 404 before the stream starts
        long resumeAfter = after ?? (long.TryParse(request.Headers["Last-Event-ID"], out var last) ? last : 0);
        return TypedResults.ServerSentEvents(JobEvents.StreamAsync(id, resumeAfter, jobs, time, EventsInterval, cancellationToken));
    }

    private static readonly TimeSpan EventsInterval = TimeSpan.FromSeconds(1);

    private static async Task<Ok<IReadOnlyList<SnapshotResponse>>> SnapshotsAsync(Guid id, JobStore jobs, CancellationToken cancellationToken)
    {
        await jobs.GetAsync(id, cancellationToken);
        var snapshots = await jobs.SnapshotsAsync(id, cancellationToken);
        return TypedResults.Ok<IReadOnlyList<SnapshotResponse>>(snapshots.Select(s => ToResponse(id, s)).ToList());
    }

    private static async Task<FileStreamHttpResult> SnapshotImageAsync(Guid id, int epoch, JobStore jobs, IBlobStore blobs, CancellationToken cancellationToken)
    {
        var snapshot = (await jobs.SnapshotsAsync(id, cancellationToken)).FirstOrDefault(s => s.Epoch == epoch)
            ?? throw new NotFoundException($"Job {id} has no snapshot at epoch {epoch}.");
        var stream = snapshot.ImageBlobKey is { } key ? await blobs.OpenReadAsync(key, cancellationToken) : null;
        return stream is null
            ? throw new NotFoundException($"The snapshot of job {id} at epoch {epoch} has no image (the dataset has no val/ split).")
            : TypedResults.Stream(stream, "image/png", $"job-{id:N}-epoch-{epoch:D4}.png");
    }

    internal static IterationResponse ToResponse(IterationRecord i) =>
        new(i.Iteration, i.Epoch, i.LearningRate, i.GeneratorGan, i.GeneratorL1, i.DiscriminatorReal, i.DiscriminatorFake, i.ImagesPerSecond);

    internal static SnapshotResponse ToResponse(Guid jobId, JobSnapshot s) =>
        new(s.Epoch, s.IsFinal, s.Val, s.Test, s.ImageBlobKey is null ? null : $"/jobs/{jobId}/snapshots/{s.Epoch}", s.CreatedAt);

    private const int QueueFullRetryAfterSeconds = 60;

    internal static bool IsModelName(string? name) => !string.IsNullOrWhiteSpace(name) && ModelName().IsMatch(name);

    [GeneratedRegex("^[A-Za-z0-9._-]{1,100}$")]
    private static partial Regex ModelName();
}
