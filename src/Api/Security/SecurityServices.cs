using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Policy;
using Microsoft.AspNetCore.Cors.Infrastructure;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;
using Pix2Pix.Infrastructure;
using Pix2Pix.Infrastructure.Persistence;

namespace Pix2Pix.Api.Security;

/// <summary>
/// Who may call what: API keys, browser sessions, optional OIDC tokens, deny by default, scopes per endpoint, CORS,
/// body limits, rate limits per caller, and the proxies whose forwarded headers are believed.
/// </summary>
public static class SecurityServices
{
    public const string SessionScheme = "Session", JwtScheme = "Jwt";
    public const string TranslateRate = "translate-rate", TrainRate = "train-rate";
    public const string AntiforgeryHeader = "X-XSRF-TOKEN";
    private const string SelectorScheme = "Caller";

    public static WebApplicationBuilder AddApiSecurity(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<AuthOptions>().BindConfiguration(AuthOptions.Section)
            .Validate(o => string.IsNullOrEmpty(o.BootstrapAdminKey) || o.BootstrapAdminKey.Length >= 32, "Auth:BootstrapAdminKey must be at least 32 characters.")
            .Validate<Database>((o, database) => !string.IsNullOrWhiteSpace(o.BootstrapAdminKey) || !database.IsPostgreSql,
                "Auth:BootstrapAdminKey is required with PostgreSQL (ConnectionStrings:Database): every replica must accept the same admin key; give it from a secret.")
            .Validate(o => o.KeyCacheDuration >= TimeSpan.Zero && o.KeyCacheDuration <= TimeSpan.FromMinutes(5), "Auth:KeyCacheDuration must be between 0 and 5 minutes.")
            .Validate(o => o.SessionLifetime > TimeSpan.Zero, "Auth:SessionLifetime must be positive.")
            .Validate(o => string.IsNullOrWhiteSpace(o.Jwt.Authority) || !string.IsNullOrWhiteSpace(o.Jwt.Audience), "Auth:Jwt:Audience is required with Auth:Jwt:Authority.")
            .ValidateOnStart();
        services.AddOptions<CorsSettings>().BindConfiguration(CorsSettings.Section)
            .Validate(o => o.AllowedOrigins.All(origin => Uri.TryCreate(origin, UriKind.Absolute, out var uri) && uri.AbsolutePath == "/"),
                "Cors:AllowedOrigins must be origins like https://app.example.com (scheme, host, optional port; no path).")
            .ValidateOnStart();
        services.AddOptions<RateLimitOptions>().BindConfiguration(RateLimitOptions.Section)
            .Validate(o => o.TranslatePerMinute >= 1 && o.TrainPerMinute >= 1, "RateLimits values must be at least 1.").ValidateOnStart();
        services.AddOptions<RequestOptions>().BindConfiguration(RequestOptions.Section)
            .Validate(o => o.MaxBodyBytes >= 1024, "Requests:MaxBodyBytes must be at least 1024.").ValidateOnStart();
        services.AddOptions<TrainingLimitsOptions>().BindConfiguration(TrainingLimitsOptions.Section)
            .Validate(o => o.MaxEpochs >= 1 && o.MinCheckpointEvery >= 1 && o.MaxQueuedJobsPerKey >= 1, "Training limits must be at least 1.").ValidateOnStart();

        services.AddSingleton<ApiKeyStore>();
        services.AddSingleton<BootstrapAdminKey>();
        services.AddSingleton<ApiKeyValidator>();
        services.AddHostedService<BootstrapKeyAnnouncer>();

        var jwt = builder.Configuration.GetSection($"{AuthOptions.Section}:Jwt").Get<JwtOptions>() ?? new JwtOptions();
        bool jwtEnabled = !string.IsNullOrWhiteSpace(jwt.Authority);
        var authentication = services.AddAuthentication(SelectorScheme)
            .AddPolicyScheme(SelectorScheme, null, o => o.ForwardDefaultSelector = context => SchemeFor(context.Request, jwtEnabled))
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null)
            .AddCookie(SessionScheme);
        services.AddOptions<CookieAuthenticationOptions>(SessionScheme).Configure<IOptions<AuthOptions>>((cookie, auth) =>
        {
            cookie.Cookie.Name = "pix2pix.session";
            cookie.Cookie.HttpOnly = true;
            cookie.Cookie.SameSite = SameSiteMode.Strict;
            cookie.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            cookie.ExpireTimeSpan = auth.Value.SessionLifetime;
            cookie.SlidingExpiration = true;
            cookie.LoginPath = "/auth/signin";
            // The authorization result handler answers 401/403 (or sends browsers to the sign-in page) itself.
            cookie.Events.OnRedirectToLogin = context => { context.Response.StatusCode = 401; return Task.CompletedTask; };
            cookie.Events.OnRedirectToAccessDenied = context => { context.Response.StatusCode = 403; return Task.CompletedTask; };
            cookie.Events.OnValidatePrincipal = ValidateSessionAsync;
        });
        if (jwtEnabled)
            authentication.AddJwtBearer(JwtScheme, o =>
            {
                o.Authority = jwt.Authority;
                o.Audience = jwt.Audience;
                o.RequireHttpsMetadata = jwt.RequireHttpsMetadata;
                o.MapInboundClaims = false;
                o.Events = new JwtBearerEvents
                {
                    OnTokenValidated = context =>
                    {
                        // A token without a subject could not own what it creates, nor have limits of its own.
                        if (context.Principal!.FindFirst("sub") is null && context.Principal.FindFirst("client_id") is null)
                            context.Fail("The token names no subject (sub or client_id).");
                        else context.Principal = FromToken(context.Principal, jwt);
                        return Task.CompletedTask;
                    },
                };
            });

        services.AddAuthorizationBuilder()
            .SetFallbackPolicy(new AuthorizationPolicyBuilder().RequireAuthenticatedUser().Build())
            .AddPolicy(Scopes.Read, policy => policy.RequireAuthenticatedUser().RequireClaim(Caller.ScopeClaim, Scopes.Read))
            .AddPolicy(Scopes.Translate, policy => policy.RequireAuthenticatedUser().RequireClaim(Caller.ScopeClaim, Scopes.Translate))
            .AddPolicy(Scopes.Train, policy => policy.RequireAuthenticatedUser().RequireClaim(Caller.ScopeClaim, Scopes.Train))
            .AddPolicy(Scopes.Admin, policy => policy.RequireAuthenticatedUser().RequireClaim(Caller.ScopeClaim, Scopes.Admin));
        services.AddSingleton<IAuthorizationMiddlewareResultHandler, ProblemAuthorizationResultHandler>();

        // Sessions and antiforgery tokens are signed with keys every replica shares, kept in the database.
        services.AddDataProtection().SetApplicationName("Pix2Pix.Service");
        services.AddOptions<Microsoft.AspNetCore.DataProtection.KeyManagement.KeyManagementOptions>().Configure<Database>((keys, database) =>
            keys.XmlRepository = new DataProtectionKeyStore(database));
        services.AddAntiforgery(o =>
        {
            o.HeaderName = AntiforgeryHeader;
            o.Cookie.Name = "pix2pix.antiforgery";
            o.Cookie.SameSite = SameSiteMode.Strict;
        });

        services.AddCors();
        services.AddOptions<CorsOptions>().Configure<IOptions<CorsSettings>>((cors, settings) => cors.AddDefaultPolicy(policy => policy
            .WithOrigins([.. settings.Value.AllowedOrigins])
            .WithMethods("GET", "POST", "PUT", "DELETE")
            .WithHeaders("Authorization", ApiKeyAuthenticationHandler.HeaderName, "Content-Type", "Accept")
            .WithExposedHeaders("Location", "Retry-After", "X-Inference-Precision")
            .SetPreflightMaxAge(TimeSpan.FromMinutes(10))));

        services.AddRateLimiter(_ => { });
        services.AddOptions<RateLimiterOptions>().Configure<IOptions<RateLimitOptions>>((limiter, limits) =>
        {
            limiter.AddPolicy(TranslateRate, context => PerCaller(context, limits.Value.TranslatePerMinute));
            limiter.AddPolicy(TrainRate, context => PerCaller(context, limits.Value.TrainPerMinute));
            limiter.OnRejected = async (rejected, cancellationToken) =>
            {
                var retryAfter = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : TimeSpan.FromMinutes(1);
                var seconds = (int)Math.Ceiling(Math.Max(1, retryAfter.TotalSeconds));
                await WriteProblemAsync(rejected.HttpContext, 429, "Too many requests",
                    $"This caller's rate limit for this endpoint is used up (RateLimits); retry in {seconds} s.", seconds);
            };
        });

        services.AddOptions<ForwardedHeadersOptions>().Configure<IOptions<ManagementOptions>>((forwarded, management) =>
        {
            forwarded.ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto;
            forwarded.KnownProxies.Clear();
            forwarded.KnownIPNetworks.Clear();
            foreach (var proxy in management.Value.KnownProxies) forwarded.KnownProxies.Add(System.Net.IPAddress.Parse(proxy));
            foreach (var network in management.Value.KnownNetworks) forwarded.KnownIPNetworks.Add(System.Net.IPNetwork.Parse(network));
        });
        return builder;
    }

    /// <summary>
    /// In pipeline order: forwarded headers from trusted proxies, routing, CORS (preflights end here), authentication,
    /// body limits, antiforgery for session calls, authorization (deny by default), rate limits.
    /// </summary>
    public static WebApplication UseApiSecurity(this WebApplication app)
    {
        app.UseRouting();
        app.UseCors();
        app.UseAuthentication();
        app.Use(LimitRequestBody);
        app.Use(RequireAntiforgeryForSessions);
        app.UseAuthorization();
        app.UseRateLimiter();
        app.UseAntiforgery();
        return app;
    }

    /// <summary>A key in a header wins over the session cookie; a bearer that looks like a JWT goes to the OIDC handler.</summary>
    private static string SchemeFor(HttpRequest request, bool jwtEnabled)
    {
        if (request.Headers.ContainsKey(ApiKeyAuthenticationHandler.HeaderName)) return ApiKeyAuthenticationHandler.SchemeName;
        if (ApiKeyAuthenticationHandler.PresentedKey(request) is { } bearer)
            return jwtEnabled && !bearer.StartsWith(ApiKeyStore.KeyStart, StringComparison.Ordinal) && bearer.Count(c => c == '.') == 2
                ? JwtScheme
                : ApiKeyAuthenticationHandler.SchemeName;
        return SessionScheme;
    }

    /// <summary>A session lasts only as long as the key it was made with.</summary>
    private static async Task ValidateSessionAsync(CookieValidatePrincipalContext context)
    {
        var validator = context.HttpContext.RequestServices.GetRequiredService<ApiKeyValidator>();
        var principal = context.Principal!;
        bool valid = principal.FindFirst(Caller.KeyIdClaim)?.Value is { } keyId && Guid.TryParse(keyId, out var id)
            ? await validator.IsUsableAsync(id, context.HttpContext.RequestAborted)
            : principal.FindFirst(Caller.BootstrapClaim)?.Value is { } fingerprint && validator.IsBootstrapFingerprint(fingerprint);
        if (valid) return;
        context.RejectPrincipal();
        await context.HttpContext.SignOutAsync(SessionScheme);
    }

    /// <summary>The token's subject and the scopes named in its scope and role claims, as an API caller.</summary>
    private static System.Security.Claims.ClaimsPrincipal FromToken(System.Security.Claims.ClaimsPrincipal token, JwtOptions jwt)
    {
        var granted = token.FindAll(jwt.ScopeClaim).Concat(token.FindAll(jwt.RoleClaim))
            .SelectMany(claim => claim.Value.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(value => value.StartsWith(jwt.ScopePrefix, StringComparison.Ordinal))
            .Select(value => value[jwt.ScopePrefix.Length..]);
        var subject = token.FindFirst("sub")?.Value ?? token.FindFirst("client_id")!.Value;
        return Caller.Create($"oidc:{subject}", granted, JwtScheme);
    }

    private static RateLimitPartition<string> PerCaller(HttpContext context, int perMinute) =>
        RateLimitPartition.GetTokenBucketLimiter(context.User.FindFirst(Caller.SubjectClaim)?.Value ?? "anonymous", _ => new TokenBucketRateLimiterOptions
        {
            TokenLimit = perMinute,
            TokensPerPeriod = 1,
            ReplenishmentPeriod = TimeSpan.FromMinutes(1) / perMinute,
            QueueLimit = 0,
            AutoReplenishment = true,
        });

    /// <summary>Requests.MaxBodyBytes unless the endpoint declares its own limit (dataset upload, translate).</summary>
    private static async Task LimitRequestBody(HttpContext context, RequestDelegate next)
    {
        var limit = context.GetEndpoint()?.Metadata.GetMetadata<Microsoft.AspNetCore.Http.Metadata.IRequestSizeLimitMetadata>()?.MaxRequestBodySize
            ?? context.RequestServices.GetRequiredService<IOptions<RequestOptions>>().Value.MaxBodyBytes;
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } feature) feature.MaxRequestBodySize = limit;
        if (context.Request.ContentLength > limit)
        {
            await WriteProblemAsync(context, 413, "Request too large", $"The body is larger than this endpoint's limit of {limit} bytes.");
            return;
        }
        await next(context);
    }

    /// <summary>
    /// A browser sends its session cookie with any request, so a request that changes state on the strength of the
    /// cookie must also carry the antiforgery token (header X-XSRF-TOKEN, from GET /auth/session). Keys in headers need none.
    /// </summary>
    private static async Task RequireAntiforgeryForSessions(HttpContext context, RequestDelegate next)
    {
        var method = context.Request.Method;
        bool changesState = !(HttpMethods.IsGet(method) || HttpMethods.IsHead(method) || HttpMethods.IsOptions(method) || HttpMethods.IsTrace(method));
        if (changesState && context.User.Identity is { IsAuthenticated: true, AuthenticationType: SessionScheme }
            && !context.Request.Path.StartsWithSegments("/auth/signin"))
        {
            var antiforgery = context.RequestServices.GetRequiredService<IAntiforgery>();
            bool valid = context.Request.Headers.ContainsKey(AntiforgeryHeader) && await antiforgery.IsRequestValidAsync(context);
            if (!valid)
            {
                await WriteProblemAsync(context, 400, "Antiforgery token missing or invalid",
                    $"A request signed in by the browser session that changes state needs the {AntiforgeryHeader} header from GET /auth/session.");
                return;
            }
        }
        await next(context);
    }

    internal static async Task WriteProblemAsync(HttpContext context, int status, string title, string detail, int? retryAfterSeconds = null)
    {
        context.Response.StatusCode = status;
        if (retryAfterSeconds is { } seconds) context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        await context.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails = new ProblemDetails { Status = status, Title = title, Detail = detail },
        });
    }
}

/// <summary>401 and 403 as ProblemDetails naming what is missing; browsers asking for a page go to the sign-in form instead.</summary>
internal sealed class ProblemAuthorizationResultHandler : IAuthorizationMiddlewareResultHandler
{
    public async Task HandleAsync(RequestDelegate next, HttpContext context, AuthorizationPolicy policy, PolicyAuthorizationResult authorizeResult)
    {
        if (authorizeResult.Succeeded)
        {
            await next(context);
            return;
        }
        if (authorizeResult.Challenged)
        {
            if (HttpMethods.IsGet(context.Request.Method) && context.Request.Headers.Accept.ToString().Contains("text/html", StringComparison.OrdinalIgnoreCase))
            {
                context.Response.Redirect($"/auth/signin?returnUrl={Uri.EscapeDataString(context.Request.PathBase + context.Request.Path + context.Request.QueryString)}");
                return;
            }
            var failure = context.Items[ApiKeyAuthenticationHandler.FailureItem] as string;
            context.Response.Headers.WWWAuthenticate = "Bearer";
            await SecurityServices.WriteProblemAsync(context, 401, "Unauthorized",
                failure ?? $"Send an API key: 'Authorization: Bearer <key>' or '{ApiKeyAuthenticationHandler.HeaderName}: <key>'.");
            return;
        }
        var needed = policy.Requirements.OfType<Microsoft.AspNetCore.Authorization.Infrastructure.ClaimsAuthorizationRequirement>()
            .SelectMany(requirement => requirement.AllowedValues ?? []).ToList();
        var granted = context.User.GrantedScopes();
        var detail = needed.Count > 0
            ? $"This endpoint needs the '{string.Join("' or '", needed)}' scope; this caller has {(granted.Count == 0 ? "none" : string.Join(", ", granted))}."
            : "This caller may not do this.";
        await SecurityServices.WriteProblemAsync(context, 403, "Forbidden", detail);
    }
}
