using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Pix2Pix.Api.Security;

namespace Pix2Pix.Api.Endpoints;

/// <summary>The signed-in caller, and the token a browser session sends back in X-XSRF-TOKEN with requests that change state.</summary>
public sealed record SessionResponse(string Subject, IReadOnlyList<string> Scopes, string AuthenticatedBy, string AntiforgeryToken);

/// <summary>Browser sessions: sign in with an API key through a form, an HttpOnly SameSite=Strict cookie, sign out.</summary>
public static class SessionApi
{
    public static RouteGroupBuilder MapSessionApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/", (ClaimsPrincipal user) => user.Identity?.IsAuthenticated == true ? Results.Redirect("/ui/") : Results.Redirect("/auth/signin?returnUrl=%2Fui%2F"))
            .AllowAnonymous().ExcludeFromDescription();
        var group = app.MapGroup("/auth").WithTags("Sessions");
        group.MapGet("/signin", SignInPage).AllowAnonymous().ExcludeFromDescription();
        group.MapPost("/signin", SignInAsync).AllowAnonymous().ExcludeFromDescription();
        group.MapGet("/session", Session).WithName("GetSession").WithSummary("Who is calling, with which scopes, and the antiforgery token for session calls");
        group.MapPost("/signout", (Delegate)SignOutAsync).WithName("SignOut").WithSummary("End the browser session");
        return group;
    }

    private static ContentHttpResult SignInPage(HttpContext context, IAntiforgery antiforgery, [FromQuery] string? key, [FromQuery] string? returnUrl) =>
        Page(context, antiforgery, key, returnUrl, error: null, status: 200);

    private static async Task<IResult> SignInAsync(HttpContext context, IAntiforgery antiforgery, ApiKeyValidator validator,
        [FromForm] string? key, [FromForm] string? returnUrl)
    {
        var caller = string.IsNullOrWhiteSpace(key) ? null : await validator.AuthenticateAsync(key.Trim(), SecurityServices.SessionScheme, context.RequestAborted);
        if (caller is null) return Page(context, antiforgery, null, returnUrl, "That API key is not valid: unknown, expired or revoked.", 401);
        await context.SignInAsync(SecurityServices.SessionScheme, caller);
        return Results.Redirect(IsLocal(returnUrl) ? returnUrl! : "/ui/");
    }

    private static Ok<SessionResponse> Session(HttpContext context, ClaimsPrincipal user, IAntiforgery antiforgery) =>
        TypedResults.Ok(new SessionResponse(user.Subject(), user.GrantedScopes(), user.Identity!.AuthenticationType ?? "",
            antiforgery.GetAndStoreTokens(context).RequestToken!));

    private static async Task<NoContent> SignOutAsync(HttpContext context)
    {
        await context.SignOutAsync(SecurityServices.SessionScheme);
        return TypedResults.NoContent();
    }

    /// <summary>A path on this site: no scheme, no host, no control characters (browsers drop tabs, turning "/\t/x" into "//x").</summary>
    private static bool IsLocal(string? url) =>
        !string.IsNullOrEmpty(url) && url.StartsWith('/') && !url.StartsWith("//", StringComparison.Ordinal) && !url.StartsWith("/\\", StringComparison.Ordinal)
        && !url.Any(c => c < 0x20 || c == 0x7f);

    private static ContentHttpResult Page(HttpContext context, IAntiforgery antiforgery, string? key, string? returnUrl, string? error, int status)
    {
        var tokens = antiforgery.GetAndStoreTokens(context);
        var html = HtmlEncoder.Default;
        var message = error is null ? "" : $"""<p role="alert" class="error">{html.Encode(error)}</p>""";
        return TypedResults.Content($$"""
            <!doctype html>
            <html lang="en">
            <head>
              <meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
              <title>Sign in · Pix2Pix.Service</title>
              <link rel="icon" href="data:,">
              <style>
                body { font: 16px system-ui, sans-serif; max-width: 28rem; margin: 4rem auto; padding: 0 1rem; }
                label, input, button { display: block; width: 100%; box-sizing: border-box; margin-top: .5rem; }
                input, button { padding: .6rem; font: inherit; } .error { color: #b00020; }
              </style>
            </head>
            <body>
              <h1>Pix2Pix.Service</h1>
              {{message}}
              <form method="post" action="/auth/signin">
                <label for="key">API key</label>
                <input id="key" name="key" type="password" autocomplete="current-password" required autofocus value="{{html.Encode(key ?? "")}}">
                <input type="hidden" name="returnUrl" value="{{html.Encode(IsLocal(returnUrl) ? returnUrl! : "/ui/")}}">
                <input type="hidden" name="{{tokens.FormFieldName}}" value="{{html.Encode(tokens.RequestToken!)}}">
                <button type="submit">Sign in</button>
              </form>
              <p>An admin key is in <code>{DataDirectory}/admin.key</code> on a fresh embedded install; admins create others with <code>POST /apikeys</code>.</p>
            </body>
            </html>
            """, "text/html; charset=utf-8", statusCode: status);
    }
}
