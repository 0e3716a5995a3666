using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using System.Security.Claims;
using Pix2Pix.Api.Security;
using Pix2Pix.Domain.Inference;
using Pix2Pix.Domain.Service;
using Pix2Pix.Domain.Training;
using Pix2Pix.Infrastructure;
using Pix2Pix.Infrastructure.Persistence;
using Pix2Pix.Infrastructure.Serving;
using Pix2Pix.Infrastructure.Telemetry;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.PixelFormats;

namespace Pix2Pix.Api.Endpoints;

public sealed record ModelResponse(Guid Id, string Name, int? DefaultVersion, int? LatestVersion, int Versions, DateTimeOffset CreatedAt, string? CreatedBy);

/// <summary>A version with its lineage: where its weights come from and what they scored.</summary>
/// <param name="Version">Its number: from a counter per model, never given twice (not even after a delete).</param>
/// <param name="IsDefault">Whether translate uses it when no version is named.</param>
/// <param name="Source"><c>training</c> (a job's snapshot or final result) or <c>import</c>.</param>
/// <param name="Epoch">The epoch of the weights (0 for imports).</param>
/// <param name="IsFinal">The job's last epoch (or an import).</param>
/// <param name="JobId">The job that trained it (null for imports).</param>
/// <param name="DatasetId">The dataset it was trained on (null for imports).</param>
/// <param name="DatasetSha256">SHA-256 of that dataset's archive as uploaded.</param>
/// <param name="ImportedFileSha256">SHA-256 of the imported weights file.</param>
/// <param name="Options">The recipe (for imports: the manifest given).</param>
/// <param name="Metrics">Validation metrics at this epoch.</param>
/// <param name="TestMetrics">Test metrics (final versions of datasets with a test split).</param>
/// <param name="PackageBytes">Size of the package.</param>
/// <param name="PackageSha256">SHA-256 of the package, checked whenever it is loaded.</param>
/// <param name="PackageUrl">Where to download the package.</param>
/// <param name="CreatedBy">The caller whose job or import made it.</param>
/// <param name="CreatedAt">When it was recorded.</param>
public sealed record VersionResponse(int Version, bool IsDefault, string Source, int Epoch, bool IsFinal, Guid? JobId, Guid? DatasetId, string? DatasetSha256,
    string? ImportedFileSha256, TrainingRecipe Options, QualityMetrics? Metrics, QualityMetrics? TestMetrics, long PackageBytes, string? PackageSha256,
    string PackageUrl, string? CreatedBy, DateTimeOffset CreatedAt)
{
    public static VersionResponse From(ModelVersion v, int? defaultVersion) => new(v.Version, v.Version == defaultVersion, v.Source, v.Epoch, v.IsFinal,
        v.JobId, v.DatasetId, v.DatasetSha256, v.ImportedFileSha256, v.Recipe, v.Metrics, v.TestMetrics, v.PackageBytes, v.PackageSha256,
        $"/models/{v.ModelId}/versions/{v.Version}/package", v.CreatedBy, v.CreatedAt);
}

/// <summary>Answer of <c>POST /models/import</c>.</summary>
public sealed record ImportedVersion(Guid ModelId, int Version, bool IsDefault, string PackageSha256);

/// <summary>The multipart form of <c>POST /models/import</c>.</summary>
public sealed class ModelImportForm
{
    /// <summary>The generator's weights: a .pth as torch.save(net.state_dict(), path) writes it (zip or legacy format), or a .safetensors.</summary>
    public IFormFile? File { get; set; }

    /// <summary>The model the version goes to (created when it does not exist).</summary>
    public string? Name { get; set; }

    /// <summary>
    /// JSON with the architecture and preprocessing, named as in <c>options</c> of <c>POST /jobs/train</c>: generator,
    /// generatorFilters, norm, dropout, inputChannels, outputChannels, direction, loadSize, cropSize, preprocess, inferenceMode.
    /// </summary>
    public string? Manifest { get; set; }

    /// <summary>true: the imported version becomes the default (a new model's first version is anyway).</summary>
    public bool? Promote { get; set; }
}

/// <summary>Body of <c>PUT /models/{id}/default-version</c>.</summary>
public sealed record DefaultVersionRequest(int? Version);

public static class ModelsApi
{
    public static RouteGroupBuilder MapModelsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/models").WithTags("Models");
        group.MapGet("/", ListAsync).WithName("ListModels").WithSummary("List models (newest first)").RequireAuthorization(Scopes.Read);
        group.MapGet("/{id:guid}", GetAsync).WithName("GetModel").WithSummary("Get a model").ProducesProblem(404).RequireAuthorization(Scopes.Read);
        group.MapDelete("/{id:guid}", DeleteAsync).WithName("DeleteModel").WithSummary("Delete a model and its versions (409 while a job trains it)")
            .ProducesProblem(403).ProducesProblem(404).ProducesProblem(409).RequireAuthorization(Scopes.Train);
        group.MapGet("/{id:guid}/versions", VersionsAsync).WithName("ListVersions").WithSummary("Versions of a model: every snapshot and the final result")
            .ProducesProblem(404).RequireAuthorization(Scopes.Read);
        var maxModelBytes = app.ServiceProvider.GetRequiredService<IOptions<UploadOptions>>().Value.MaxModelBytes;
        group.MapPost("/import", ImportAsync).WithName("ImportModel").WithSummary("Import a PyTorch generator as a new version")
            .RequireAuthorization(Scopes.Train)
            .RequireRateLimiting(SecurityServices.TrainRate)
            .WithMetadata(new RequestSizeLimitAttribute(maxModelBytes + MultipartOverhead))
            .DisableAntiforgery()
            .Accepts<ModelImportForm>("multipart/form-data")
            .ProducesValidationProblem().ProducesProblem(403).ProducesProblem(413).ProducesProblem(415).ProducesProblem(429)
            .WithDescription("""
                Multipart: `file` = the generator's state_dict as `torch.save(net.state_dict(), path)` writes it (the reference's
                `latest_net_G.pth`; zip or legacy format) or a `.safetensors`; `name` = the model (created if missing); `manifest` =
                JSON naming the architecture and preprocessing as `options` of `POST /jobs/train` does; optional `promote`.
                Weights that do not fit the manifest answer 400 naming the first missing, unexpected or misshapen key. The
                pickle is read without running it: one that names anything but tensors and dictionaries is refused.

                    curl -H "Authorization: Bearer $KEY" -F file=@latest_net_G.pth -F name=facades-reference \
                      -F 'manifest={"generator":"unet_256","norm":"batch","direction":"BtoA"}' http://localhost:5080/models/import
                """);
        group.MapPut("/{id:guid}/default-version", SetDefaultAsync).WithName("SetDefaultVersion").WithSummary("Choose the version translate uses by default")
            .WithDescription("""    curl -X PUT -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' -d '{"version":3}' http://localhost:5080/models/<id>/default-version""")
            .ProducesProblem(403).ProducesProblem(404).RequireAuthorization(Scopes.Train);
        group.MapDelete("/{id:guid}/versions/{version:int}", DeleteVersionAsync).WithName("DeleteVersion")
            .WithSummary("Delete a version (its number is never given again; the default only as the last version)")
            .ProducesProblem(403).ProducesProblem(404).ProducesProblem(409).RequireAuthorization(Scopes.Train);
        group.MapGet("/{id:guid}/versions/{version:int}/package", PackageAsync).WithName("DownloadPackage")
            .WithSummary("Download a version's model package (.safetensors with the manifest in its metadata)")
            .Produces(200, contentType: ModelPackage.MediaType).ProducesProblem(404).RequireAuthorization(Scopes.Read);
        var maxImageBytes = app.ServiceProvider.GetRequiredService<IOptions<UploadOptions>>().Value.MaxImageBytes;
        group.MapPost("/{id:guid}/translate", TranslateAsync)
            .RequireAuthorization(Scopes.Translate)
            .RequireRateLimiting(SecurityServices.TranslateRate)
            .WithMetadata(new RequestSizeLimitAttribute(maxImageBytes + MultipartOverhead))
            .DisableAntiforgery()
            // One Accepts: the endpoint's content-type filter takes the last one declared.
            .Accepts<Stream>("image/png", "image/jpeg", "multipart/form-data")
            .Produces(200, contentType: "image/png", additionalContentTypes: ["image/jpeg"])
            .ProducesValidationProblem().ProducesProblem(404).ProducesProblem(413).ProducesProblem(415).ProducesProblem(429).ProducesProblem(503)
            .WithName("Translate").WithSummary("Translate an image with a model")
            .WithDescription("""
                The body is the image: raw `image/png` or `image/jpeg`, or multipart with the image in `file`. Query: `version`
                (default: the model's default version) and `mode`: `resize` (to the training size and back) or `pad` (reflect-pad,
                translate at full resolution, crop back). Answers PNG, or JPEG when `Accept: image/jpeg`.

                    curl -H "Authorization: Bearer $KEY" --data-binary @labels.png -H 'Content-Type: image/png' -o photo.png \
                      'http://localhost:5080/models/<id>/translate?mode=pad'
                """);
        return group;
    }

    /// <summary>Room for the multipart boundaries around an image.</summary>
    private const long MultipartOverhead = 64 * 1024;

    private static async Task<Ok<Page<ModelResponse>>> ListAsync(ModelStore models, [FromQuery] int? offset, [FromQuery] int? limit, CancellationToken cancellationToken)
    {
        var (o, l) = Paging.Normalize(offset, limit);
        var page = await models.ListAsync(o, l, cancellationToken);
        var items = new List<ModelResponse>();
        foreach (var model in page.Items) items.Add(await ToResponseAsync(model, models, cancellationToken));
        return TypedResults.Ok(new Page<ModelResponse>(items, page.Offset, page.Limit, page.Total));
    }

    private static async Task<Ok<ModelResponse>> GetAsync(Guid id, ModelStore models, CancellationToken cancellationToken) =>
        TypedResults.Ok(await ToResponseAsync(await models.GetAsync(id, cancellationToken), models, cancellationToken));

    private static async Task<NoContent> DeleteAsync(Guid id, ModelStore models, IBlobStore blobs, TranslatorCache cache, ClaimsPrincipal user,
        CancellationToken cancellationToken)
    {
        await EnsureMayChangeAsync(user, id, models, cancellationToken);
        await models.DeleteAsync(id, cancellationToken);
        cache.Remove(id);
        await blobs.DeletePrefixAsync(BlobKeys.ModelPrefix(id), CancellationToken.None);
        return TypedResults.NoContent();
    }

    private static async Task<Ok<IReadOnlyList<VersionResponse>>> VersionsAsync(Guid id, ModelStore models, CancellationToken cancellationToken)
    {
        var model = await models.GetAsync(id, cancellationToken);
        var versions = await models.VersionsAsync(id, cancellationToken);
        return TypedResults.Ok<IReadOnlyList<VersionResponse>>(versions.Select(v => VersionResponse.From(v, model.DefaultVersion)).ToList());
    }

    private static async Task<Results<Created<ImportedVersion>, ValidationProblem, ProblemHttpResult>> ImportAsync(
        HttpRequest request, ModelStore models, IBlobStore blobs, UploadSlots slots, IOptions<UploadOptions> uploads, ClaimsPrincipal user, TimeProvider time,
        CancellationToken cancellationToken)
    {
        if (!request.HasFormContentType)
            return TypedResults.Problem("Send multipart/form-data with the weights in a field named 'file'.", statusCode: 415, title: "Unsupported media type");
        using var slot = slots.TryEnter();
        if (slot is null) return UploadSlots.Busy(request.HttpContext, uploads.Value);
        var limit = uploads.Value.MaxModelBytes;
        IFormCollection form;
        try
        {
            form = await request.ReadFormAsync(new Microsoft.AspNetCore.Http.Features.FormOptions { MultipartBodyLengthLimit = limit + MultipartOverhead }, cancellationToken);
        }
        catch (InvalidDataException e)
        {
            return e.Message.Contains("limit", StringComparison.OrdinalIgnoreCase)
                ? TypedResults.Problem($"The weights file is larger than the limit of {limit} bytes (Uploads:MaxModelBytes).", statusCode: 413, title: "Request too large")
                : TypedResults.Problem($"The multipart body cannot be read: {e.Message}", statusCode: 400, title: "Bad request");
        }
        var errors = new Dictionary<string, string[]>();
        var file = form.Files.GetFile("file");
        if (file is null || file.Length == 0) errors["file"] = ["Attach the weights (.pth or .safetensors) in a form field named 'file'."];
        else if (file.Length > limit) errors["file"] = [$"The weights file is larger than the limit of {limit} bytes (Uploads:MaxModelBytes)."];
        var name = form["name"].ToString().Trim();
        if (!JobsApi.IsModelName(name)) errors["name"] = ["Give a model name of 1 to 100 letters, digits, '.', '-' or '_'."];
        TrainingRecipe? recipe = null;
        try
        {
            recipe = TrainingRecipe.FromJson(form["manifest"] is { Count: > 0 } manifest && !string.IsNullOrWhiteSpace(manifest) ? manifest.ToString() : "{}");
            foreach (var (field, message) in recipe.Validate()) errors[$"manifest.{field}"] = [message];
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidJobException)
        {
            errors["manifest"] = [$"The manifest is not a JSON object with the names of the training options: {e.Message}"];
        }
        bool promote = false;
        if (form["promote"] is { Count: > 0 } promoteValue && !bool.TryParse(promoteValue, out promote))
            errors["promote"] = ["Give true or false."];
        if (errors.Count > 0) return TypedResults.ValidationProblem(errors);

        byte[] weights;
        using (var buffer = new MemoryStream((int)file!.Length))
        {
            await using (var upload = file.OpenReadStream()) await upload.CopyToAsync(buffer, cancellationToken);
            weights = buffer.ToArray();
        }
        var fileSha256 = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(weights));
        var manifestForPackage = ModelManifest.From(recipe!, epoch: 0);
        using var plain = new MemoryStream();
        try
        {
            await Task.Run(() => ModelPackage.Import(weights, manifestForPackage, plain, maxBytes: 2 * limit), cancellationToken);
        }
        catch (ModelImportException e)
        {
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["file"] = [e.Message] }, title: "The weights cannot be imported");
        }

        var model = await models.GetOrCreateAsync(name, user.Subject(), cancellationToken);
        user.EnsureMayChange(model.CreatedBy, $"Model '{model.Name}'");
        var createdAt = time.GetUtcNow();
        var lineage = new System.Text.Json.Nodes.JsonObject
        {
            ["source"] = ModelVersion.FromImport, ["fileName"] = file.FileName, ["fileSha256"] = fileSha256, ["manifest"] = System.Text.Json.Nodes.JsonNode.Parse(recipe!.ToJson()),
            ["createdBy"] = user.Subject(), ["createdAt"] = createdAt.ToString("O"),
        };
        plain.Position = 0;
        using var package = new MemoryStream();
        ModelPackage.WithLineage(plain, lineage, package);
        var packageSha256 = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(package.ToArray()));
        var key = BlobKeys.ImportedPackage(model.Id, Guid.NewGuid());
        package.Position = 0;
        await blobs.PutAsync(key, package, ModelPackage.MediaType, cancellationToken);
        ModelVersion version;
        try
        {
            version = await models.AddImportedVersionAsync(new ModelVersion(model.Id, 0, 0, true, null, null, recipe, null, key, package.Length, createdAt)
            {
                ImportedFileSha256 = fileSha256, PackageSha256 = packageSha256, CreatedBy = user.Subject(),
            }, promote, cancellationToken);
        }
        catch
        {
            await blobs.DeleteAsync(key, CancellationToken.None);
            throw;
        }
        var isDefault = (await models.GetAsync(model.Id, cancellationToken)).DefaultVersion == version.Version;
        return TypedResults.Created($"/models/{model.Id}/versions/{version.Version}", new ImportedVersion(model.Id, version.Version, isDefault, packageSha256));
    }

    private static async Task<Results<Ok<ModelResponse>, ValidationProblem>> SetDefaultAsync(Guid id, DefaultVersionRequest request, ModelStore models,
        ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        await EnsureMayChangeAsync(user, id, models, cancellationToken);
        if (request.Version is not { } version || version < 1)
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["version"] = ["Give the number of an existing version."] });
        await models.SetDefaultVersionAsync(id, version, cancellationToken);
        return TypedResults.Ok(await ToResponseAsync(await models.GetAsync(id, cancellationToken), models, cancellationToken));
    }

    private static async Task<NoContent> DeleteVersionAsync(Guid id, int version, ModelStore models, IBlobStore blobs, TranslatorCache cache, ClaimsPrincipal user,
        CancellationToken cancellationToken)
    {
        await EnsureMayChangeAsync(user, id, models, cancellationToken);
        var key = await models.DeleteVersionAsync(id, version, cancellationToken);
        cache.Remove(id, version);
        await blobs.DeleteAsync(key, CancellationToken.None);
        return TypedResults.NoContent();
    }

    private static async Task<FileStreamHttpResult> PackageAsync(Guid id, int version, ModelStore models, IBlobStore blobs, CancellationToken cancellationToken)
    {
        var resolved = await models.ResolveVersionAsync(id, version, cancellationToken);
        var model = await models.GetAsync(id, cancellationToken);
        var stream = await blobs.OpenReadAsync(resolved.PackageBlobKey, cancellationToken)
            ?? throw new NotFoundException($"The package of version {version} is missing from blob storage.");
        return TypedResults.Stream(stream, ModelPackage.MediaType, $"{model.Name}-v{version}{ModelPackage.FileExtension}");
    }

    private static async Task<IResult> TranslateAsync(
        Guid id, HttpRequest request, [FromQuery] int? version, [FromQuery] string? mode, ModelStore models, TranslatorCache cache,
        InferenceExecutor executor, ServiceMetrics metrics, IOptions<UploadOptions> uploads, IOptions<InferenceOptions> inference,
        CancellationToken cancellationToken)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        if (ParseMode(mode) is not { } fit)
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["mode"] = [$"Unknown mode '{mode}': use resize or pad."] });

        var resolved = await models.ResolveVersionAsync(id, version, cancellationToken);
        using var arrival = executor.Arrive();
        var limits = uploads.Value;
        byte[] bytes;
        switch (await ReadImageBytesAsync(request, limits.MaxImageBytes, cancellationToken))
        {
            case (null, var problem): return problem!;
            case (var read, _): bytes = read!; break;
        }

        var decoded = Decode(bytes, limits);
        if (decoded.Problem is { } undecodable) return undecodable;
        using var input = decoded.Image!;
        using var lease = await cache.AcquireAsync(resolved, cancellationToken);
        using var output = await executor.TranslateAsync(lease.Translator, input, fit, cancellationToken, arrival);
        var jpeg = request.GetTypedHeaders().Accept.Any(a => a.MediaType.Equals("image/jpeg", StringComparison.OrdinalIgnoreCase))
            && !request.GetTypedHeaders().Accept.Any(a => a.MediaType.Equals("image/png", StringComparison.OrdinalIgnoreCase));
        var encoded = new MemoryStream();
        if (jpeg) await output.SaveAsJpegAsync(encoded, new JpegEncoder { Quality = 92 }, cancellationToken);
        else await output.SaveAsPngAsync(encoded, PngEncoderFor(inference.Value.PngCompression), cancellationToken);
        encoded.Position = 0;
        var precision = lease.Translator.Precision.ToString().ToLowerInvariant();
        request.HttpContext.Response.Headers[PrecisionHeader] = precision;
        metrics.Translated(clock.Elapsed.TotalSeconds, fit.ToString().ToLowerInvariant(), precision);
        return TypedResults.Stream(encoded, jpeg ? "image/jpeg" : "image/png");
    }

    /// <summary>The <c>mode</c> query of translate: <c>resize</c> (the default) or <c>pad</c>; null for anything else.</summary>
    internal static FitMode? ParseMode(string? mode) =>
        mode is null || mode.Equals("resize", StringComparison.OrdinalIgnoreCase) ? FitMode.Resize
        : mode.Equals("pad", StringComparison.OrdinalIgnoreCase) ? FitMode.Pad
        : null;

    /// <summary>The precision the output was computed in (<c>float32</c> or <c>bfloat16</c>), on every translation.</summary>
    public const string PrecisionHeader = "X-Inference-Precision";

    /// <summary>Without compression, row filters only cost time: they exist to make rows compress better.</summary>
    private static PngEncoder PngEncoderFor(PngCompressionLevel level) => level == PngCompressionLevel.NoCompression
        ? new PngEncoder { CompressionLevel = level, FilterMethod = PngFilterMethod.None }
        : new PngEncoder { CompressionLevel = level };

    /// <summary>Only the formats translate accepts: a body in any other format is never handed to another decoder.</summary>
    private static readonly Configuration PngAndJpeg = new(new PngConfigurationModule(), new JpegConfigurationModule());

    /// <summary>The decoded image, or the 4xx to answer: whatever the bytes are, a caller's image never causes a 5xx.</summary>
    private static (Image<Rgb24>? Image, IResult? Problem) Decode(byte[] bytes, UploadOptions limits)
    {
        static IResult Unsupported(string detail) => TypedResults.Problem(detail, statusCode: 415, title: "Unsupported media type");
        try
        {
            var info = Image.Identify(PngAndJpeg, bytes, out var format);
            if (info is null || format is not (PngFormat or JpegFormat)) return (null, Unsupported("The body is not a PNG or JPEG image."));
            if (info.Width > limits.MaxImageSide || info.Height > limits.MaxImageSide || (long)info.Width * info.Height > limits.MaxImagePixels)
                return (null, TypedResults.Problem($"The image is {info.Width}×{info.Height}; the limit is {limits.MaxImageSide} pixels a side and {limits.MaxImagePixels} in all.",
                    statusCode: 413, title: "Image too large"));
            return (Image.Load<Rgb24>(PngAndJpeg, bytes), null);
        }
        // Decoders meet hostile and truncated input: any failure to read the caller's bytes is about those bytes.
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return (null, Unsupported($"The image cannot be decoded: {e.Message}"));
        }
    }

    /// <summary>The image bytes from a raw image body or a multipart <c>file</c>, or the 4xx to answer.</summary>
    private static async Task<(byte[]? Bytes, IResult? Problem)> ReadImageBytesAsync(HttpRequest request, long maxBytes, CancellationToken cancellationToken)
    {
        var tooLarge = TypedResults.Problem($"The image is larger than the limit of {maxBytes} bytes (Uploads:MaxImageBytes).", statusCode: 413, title: "Request too large");
        if (request.ContentLength > maxBytes + MultipartOverhead) return (null, tooLarge);
        Stream source;
        if (request.HasFormContentType)
        {
            var form = await request.ReadFormAsync(cancellationToken);
            var file = form.Files.GetFile("file");
            if (file is null || file.Length == 0)
                return (null, TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["file"] = ["Attach the image in a form field named 'file'."] }));
            if (file.Length > maxBytes) return (null, tooLarge);
            source = file.OpenReadStream();
        }
        else if (request.ContentType is { } type && (type.StartsWith("image/png", StringComparison.OrdinalIgnoreCase) || type.StartsWith("image/jpeg", StringComparison.OrdinalIgnoreCase)))
        {
            source = request.Body;
        }
        else
        {
            return (null, TypedResults.Problem($"Send the image as image/png or image/jpeg, or as multipart/form-data with a 'file' field (got '{request.ContentType}').",
                statusCode: 415, title: "Unsupported media type"));
        }
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await source.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > maxBytes) return (null, tooLarge);
            buffer.Write(chunk, 0, read);
        }
        if (buffer.Length == 0)
            return (null, TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["body"] = ["The request has no image."] }));
        return (buffer.ToArray(), null);
    }

    private static async Task<ModelResponse> ToResponseAsync(Model model, ModelStore models, CancellationToken cancellationToken)
    {
        var versions = await models.VersionsAsync(model.Id, cancellationToken);
        return new ModelResponse(model.Id, model.Name, model.DefaultVersion, versions.LastOrDefault()?.Version, versions.Count, model.CreatedAt, model.CreatedBy);
    }

    /// <summary>A model changes (deleted, default moved, a version removed) only by the caller that created it, or an admin.</summary>
    private static async Task EnsureMayChangeAsync(ClaimsPrincipal user, Guid id, ModelStore models, CancellationToken cancellationToken) =>
        user.EnsureMayChange((await models.GetAsync(id, cancellationToken)).CreatedBy, $"Model {id}");
}
