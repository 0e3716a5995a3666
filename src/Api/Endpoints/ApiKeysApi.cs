using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;
using Pix2Pix.Api.Security;
using Pix2Pix.Infrastructure.Persistence;

namespace Pix2Pix.Api.Endpoints;

/// <summary>Body of <c>POST /apikeys</c>.</summary>
/// <param name="Name">What the key is for (1 to 100 characters).</param>
/// <param name="Scopes">Any of read, translate, train, admin (admin implies the others).</param>
/// <param name="ExpiresAt">When the key stops working; null: never.</param>
public sealed record CreateApiKeyRequest(string? Name, IReadOnlyList<string>? Scopes, DateTimeOffset? ExpiresAt);

/// <summary>A key without its secret.</summary>
public sealed record ApiKeyResponse(Guid Id, string Name, IReadOnlyList<string> Scopes, string Prefix, string? CreatedBy, DateTimeOffset CreatedAt,
    DateTimeOffset? ExpiresAt, DateTimeOffset? LastUsedAt, DateTimeOffset? RevokedAt)
{
    public static ApiKeyResponse From(ApiKey key) =>
        new(key.Id, key.Name, key.Scopes, key.Prefix, key.CreatedBy, key.CreatedAt, key.ExpiresAt, key.LastUsedAt, key.RevokedAt);
}

/// <summary>A new key: <c>Key</c> is the secret, shown only in this answer.</summary>
public sealed record CreatedApiKeyResponse(Guid Id, string Name, IReadOnlyList<string> Scopes, string Prefix, string Key, DateTimeOffset CreatedAt,
    DateTimeOffset? ExpiresAt);

public static class ApiKeysApi
{
    public static RouteGroupBuilder MapApiKeysApi(this IEndpointRouteBuilder app)
    {
        // Key management stays on this service's own pages and scripts: no cross-origin calls.
        var group = app.MapGroup("/apikeys").WithTags("API keys").RequireAuthorization(Scopes.Admin)
            .WithMetadata(new Microsoft.AspNetCore.Cors.DisableCorsAttribute());
        group.MapPost("/", CreateAsync).WithName("CreateApiKey").WithSummary("Create an API key (the secret is in this answer only)")
            .WithDescription("""
                    curl -H "Authorization: Bearer $ADMIN_KEY" -H 'Content-Type: application/json' \
                      -d '{"name":"ci","scopes":["translate"],"expiresAt":null}' http://localhost:5080/apikeys
                """);
        group.MapGet("/", ListAsync).WithName("ListApiKeys").WithSummary("List API keys (never their secrets)");
        group.MapDelete("/{id:guid}", RevokeAsync).WithName("RevokeApiKey").WithSummary("Revoke an API key (at once here, within Auth:KeyCacheDuration elsewhere)")
            .ProducesProblem(404);
        return group;
    }

    private static async Task<Results<Created<CreatedApiKeyResponse>, ValidationProblem>> CreateAsync(
        CreateApiKeyRequest request, ApiKeyStore keys, ClaimsPrincipal user, TimeProvider time, CancellationToken cancellationToken)
    {
        var errors = new Dictionary<string, string[]>();
        var name = request.Name?.Trim();
        if (string.IsNullOrEmpty(name) || name.Length > 100) errors["name"] = ["Give a name of 1 to 100 characters."];
        var scopes = request.Scopes ?? [];
        if (scopes.Count == 0 || scopes.Any(scope => !Scopes.All.Contains(scope)))
            errors["scopes"] = [$"Give one or more of: {string.Join(", ", Scopes.All)}."];
        if (request.ExpiresAt is { } expiresAt && expiresAt <= time.GetUtcNow()) errors["expiresAt"] = ["Give a time in the future, or null for a key that does not expire."];
        if (errors.Count > 0) return TypedResults.ValidationProblem(errors);

        var (key, plaintext) = await keys.CreateAsync(name!, Scopes.Expand(scopes), request.ExpiresAt, user.Subject(), cancellationToken);
        return TypedResults.Created($"/apikeys/{key.Id}",
            new CreatedApiKeyResponse(key.Id, key.Name, key.Scopes, key.Prefix, plaintext, key.CreatedAt, key.ExpiresAt));
    }

    private static async Task<Ok<IReadOnlyList<ApiKeyResponse>>> ListAsync(ApiKeyStore keys, CancellationToken cancellationToken) =>
        TypedResults.Ok<IReadOnlyList<ApiKeyResponse>>((await keys.ListAsync(cancellationToken)).Select(ApiKeyResponse.From).ToList());

    private static async Task<Ok<ApiKeyResponse>> RevokeAsync(Guid id, ApiKeyStore keys, ApiKeyValidator validator, CancellationToken cancellationToken)
    {
        var key = await keys.RevokeAsync(id, cancellationToken);
        validator.Forget(id);
        return TypedResults.Ok(ApiKeyResponse.From(key));
    }
}
