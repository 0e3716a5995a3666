using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Pix2Pix.Api.Security;

/// <summary>Reads <c>Authorization: Bearer &lt;key&gt;</c> or <c>X-Api-Key: &lt;key&gt;</c>.</summary>
public sealed class ApiKeyAuthenticationHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder,
    ApiKeyValidator validator) : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey", HeaderName = "X-Api-Key";
    internal const string FailureItem = "pix2pix.authentication-failure";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var key = PresentedKey(Request);
        if (key is null) return AuthenticateResult.NoResult();
        var caller = await validator.AuthenticateAsync(key, SchemeName, Context.RequestAborted);
        if (caller is not null) return AuthenticateResult.Success(new AuthenticationTicket(caller, SchemeName));
        const string failure = "The API key is not valid: unknown, expired or revoked.";
        Context.Items[FailureItem] = failure; // for the 401's detail: the authorization middleware only sees "no caller"
        return AuthenticateResult.Fail(failure);
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.StatusCode = 401;
        Response.Headers.WWWAuthenticate = "Bearer";
        return Task.CompletedTask;
    }

    public static string? PresentedKey(HttpRequest request)
    {
        if (request.Headers[HeaderName].ToString().Trim() is { Length: > 0 } header) return header;
        var authorization = request.Headers.Authorization.ToString();
        return authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) && authorization[7..].Trim() is { Length: > 0 } bearer ? bearer : null;
    }
}
