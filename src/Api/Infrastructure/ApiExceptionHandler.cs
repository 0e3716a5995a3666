using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;
using Pix2Pix.Infrastructure.Serving;
using Pix2Pix.Domain.Data;
using Pix2Pix.Domain.Service;

namespace Pix2Pix.Api.Infrastructure;

/// <summary>Maps the caller's mistakes to 4xx ProblemDetails, and a full translate queue to 503 with Retry-After; anything else stays a 500.</summary>
public sealed partial class ApiExceptionHandler(
    IProblemDetailsService problemDetails, Microsoft.Extensions.Options.IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions> jsonOptions,
    ILogger<ApiExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        ProblemDetails? problem = exception switch
        {
            NotFoundException e => new ProblemDetails { Status = 404, Title = "Not found", Detail = e.Message },
            ServiceBusyException e => new ProblemDetails { Status = 503, Title = "Busy", Detail = e.Message },
            ConflictException e => new ProblemDetails { Status = 409, Title = "Conflict", Detail = e.Message },
            Security.ForbiddenException e => new ProblemDetails { Status = 403, Title = "Forbidden", Detail = e.Message },
            DatasetException e => new ValidationProblemDetails(new Dictionary<string, string[]> { [e.File ?? "file"] = [e.Message] })
            {
                Status = 400, Title = "The dataset is not valid", Detail = e.Message,
            },
            BadHttpRequestException { InnerException: JsonException json } => InvalidJson(json),
            BadHttpRequestException e => new ProblemDetails
            {
                Status = e.StatusCode, Title = e.StatusCode == 413 ? "Request too large" : "Bad request", Detail = e.Message,
            },
            _ => null,
        };
        if (problem is null) return false;
        if (exception is ServiceBusyException)
            context.Response.Headers.RetryAfter = ((int)ServiceBusyException.RetryAfter.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture);
        else if (problem.Status >= 500) return false;
        logger.LogInformation("{Method} {Path} answered {Status}: {Detail}", context.Request.Method, context.Request.Path, problem.Status, problem.Detail);
        context.Response.StatusCode = problem.Status!.Value;
        return await problemDetails.TryWriteAsync(new ProblemDetailsContext { HttpContext = context, ProblemDetails = problem, Exception = exception });
    }

    private ValidationProblemDetails InvalidJson(JsonException json)
    {
        var detail = Describe(json);
        return new ValidationProblemDetails(new Dictionary<string, string[]> { [JsonField(json.Path)] = [detail] })
        {
            Status = 400, Title = "The request body is not valid JSON for this endpoint", Detail = detail,
        };
    }

    /// <summary>For a value that is not one of an enum's names, the names it accepts (the serializer names only the .NET type).</summary>
    private string Describe(JsonException json)
    {
        var type = EnumType().Match(json.Message) is { Success: true } match
            ? typeof(Pix2Pix.Domain.Training.TrainingRecipe).Assembly.GetType(match.Groups[1].Value.TrimEnd('.'))
            : null;
        if (type is not { IsEnum: true }) return json.Message;
        var names = Enum.GetValues(type).Cast<object>().Select(value => JsonSerializer.Serialize(value, type, jsonOptions.Value.SerializerOptions).Trim('"'));
        return $"{JsonField(json.Path)}: use one of {string.Join(", ", names)}.";
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"could not be converted to ([\w.]+)")]
    private static partial System.Text.RegularExpressions.Regex EnumType();

    // "$.options.cropSize" → "options.cropSize"
    private static string JsonField(string? path) => string.IsNullOrEmpty(path) || path == "$" ? "body" : path.TrimStart('$', '.');
}
