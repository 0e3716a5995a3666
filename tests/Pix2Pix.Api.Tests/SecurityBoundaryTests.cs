using System.Net;
using System.Net.Http.Json;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Protocols;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;
using Microsoft.IdentityModel.Tokens;

namespace Pix2Pix.Api.Tests;

/// <summary>What answers whom: the endpoint walk, OIDC tokens, CORS, body and rate limits, uploads (embedded mode).</summary>
public sealed class SecurityBoundaryTests : AppTests
{
    protected override Task<Dictionary<string, string?>> StorageSettingsAsync() => Task.FromResult(new Dictionary<string, string?>());

    [Fact]
    public async Task EveryEndpoint_WithoutCredentials401_WithAKeyLackingItsScope403()
    {
        var app = App();
        var admin = app.CreateClient();
        var lacking = new Dictionary<string, string>();
        foreach (var scope in new[] { "read", "translate", "train", "admin" })
            lacking[scope] = (await AccessControlBehaviour.CreateKeyAsync(admin, $"all but {scope}",
                new[] { "read", "translate", "train" }.Where(s => s != scope).ToArray())).Key;
        var anonymous = AccessControlBehaviour.ClientWith(app, null);
        var document = await admin.GetJsonAsync("/swagger/v1/swagger.json");

        int walked = 0;
        foreach (var (path, item) in document["paths"]!.AsObject())
            foreach (var (method, operation) in item!.AsObject())
            {
                var name = $"{method.ToUpperInvariant()} {path}";
                var security = operation!["security"]?.AsArray();
                Assert.True(security is { Count: 1 }, $"{name} declares no security requirement");
                var scopes = security[0]!["Bearer"]!.AsArray().Select(s => s!.GetValue<string>()).ToList();
                var url = Regex.Replace(path, @"\{(\w+)\}", m => m.Groups[1].Value is "version" or "epoch" or "index" ? "1" : Guid.NewGuid().ToString());

                var unauthenticated = await anonymous.SendAsync(new HttpRequestMessage(new HttpMethod(method.ToUpperInvariant()), url));
                Assert.True(unauthenticated.StatusCode == HttpStatusCode.Unauthorized, $"{name} without credentials: {(int)unauthenticated.StatusCode}");
                Assert.Equal("Bearer", unauthenticated.Headers.WwwAuthenticate.Single().Scheme);
                if (scopes.Count > 0)
                {
                    Assert.True(scopes.Count == 1 && lacking.ContainsKey(scopes[0]), $"{name} declares scopes {string.Join(",", scopes)}");
                    var other = AccessControlBehaviour.ClientWith(app, lacking[scopes[0]]);
                    var forbidden = await other.SendAsync(new HttpRequestMessage(new HttpMethod(method.ToUpperInvariant()), url));
                    Assert.True(forbidden.StatusCode == HttpStatusCode.Forbidden, $"{name} with a key lacking '{scopes[0]}': {(int)forbidden.StatusCode}");
                    Assert.Contains($"'{scopes[0]}' scope", (await ProblemAsync(forbidden, HttpStatusCode.Forbidden))["detail"]!.GetValue<string>());
                }
                else Assert.StartsWith("/auth/", path); // the session's own endpoints need only a signed-in caller
                walked++;
            }

        Assert.True(walked >= 25, $"only {walked} operations in the document");
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/swagger/v1/swagger.json")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/swagger/index.html")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/healthz/live")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/healthz/ready")).StatusCode);
        // Without a management port (none here), /metrics is for admins only.
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/metrics")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await AccessControlBehaviour.ClientWith(app, lacking["admin"]).GetAsync("/metrics")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/metrics")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await AccessControlBehaviour.ClientWith(app, "p2p_0123456789_forged").GetAsync("/models")).StatusCode);
    }

    private const string Issuer = "https://issuer.test", Audience = "pix2pix";

    [Fact]
    public async Task Jwt_FromTheConfiguredIssuer_MapsItsScopes_OthersAre401()
    {
        var signing = new RsaSecurityKey(RSA.Create(2048)) { KeyId = "test" };
        var configuration = new OpenIdConnectConfiguration { Issuer = Issuer };
        configuration.SigningKeys.Add(signing);
        var app = App(new() { ["Auth:Jwt:Authority"] = Issuer, ["Auth:Jwt:Audience"] = Audience, ["Auth:Jwt:ScopePrefix"] = "pix2pix." }, services: services =>
            services.PostConfigure<JwtBearerOptions>("Jwt", options =>
            {
                // The issuer's metadata, as if fetched from its /.well-known/openid-configuration.
                options.Configuration = configuration;
                options.ConfigurationManager = new StaticConfigurationManager<OpenIdConnectConfiguration>(configuration);
            }));
        HttpClient With(string token) => AccessControlBehaviour.ClientWith(app, token);

        var reader = With(Token(signing, "alice", "openid pix2pix.read"));
        Assert.Equal(HttpStatusCode.OK, (await reader.GetAsync("/models")).StatusCode);
        Assert.Equal("oidc:alice", (await reader.GetJsonAsync("/auth/session"))["subject"]!.GetValue<string>());
        await ProblemAsync(await reader.PostAsJsonAsync("/jobs/train", new { }), HttpStatusCode.Forbidden);
        var trainer = With(Token(signing, "bob", "pix2pix.train pix2pix.read"));
        var datasetId = await trainer.UploadOkAsync(TestArchives.Dataset(train: 2, val: 0));
        Assert.Equal("oidc:bob", (await reader.GetJsonAsync($"/datasets/{datasetId}"))["createdBy"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.OK, (await With(Token(signing, "carol", null, roles: "pix2pix.admin")).GetAsync("/apikeys")).StatusCode);

        await ProblemAsync(await With(Token(new RsaSecurityKey(RSA.Create(2048)), "mallory", "pix2pix.admin")).GetAsync("/models"), HttpStatusCode.Unauthorized);
        await ProblemAsync(await With(Token(signing, "alice", "pix2pix.read", audience: "another-api")).GetAsync("/models"), HttpStatusCode.Unauthorized);
        await ProblemAsync(await With(Token(signing, "alice", "pix2pix.read", expires: DateTime.UtcNow.AddMinutes(-10))).GetAsync("/models"), HttpStatusCode.Unauthorized);
        await ProblemAsync(await With(Token(signing, "alice", "read")).GetAsync("/models"), HttpStatusCode.Forbidden); // no prefix: not our scope
    }

    private static string Token(SecurityKey key, string subject, string? scope, string audience = Audience, DateTime? expires = null, string? roles = null)
    {
        var claims = new List<Claim> { new("sub", subject) };
        if (scope is not null) claims.Add(new Claim("scope", scope));
        if (roles is not null) claims.Add(new Claim("roles", roles));
        var expiry = expires ?? DateTime.UtcNow.AddMinutes(10);
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = Issuer, Audience = audience, Subject = new ClaimsIdentity(claims), NotBefore = expiry.AddMinutes(-20), Expires = expiry,
            SigningCredentials = new SigningCredentials(key, SecurityAlgorithms.RsaSha256),
        });
    }

    [Fact]
    public async Task Cors_PreflightFromAListedOriginAllowed_FromAnyOtherRefused_KeysNeverCrossOrigin()
    {
        var app = App(new() { ["Cors:AllowedOrigins:0"] = "https://app.example.com" });
        var client = AccessControlBehaviour.ClientWith(app, null);
        HttpRequestMessage Preflight(string origin, string url)
        {
            var request = new HttpRequestMessage(HttpMethod.Options, url);
            request.Headers.Add("Origin", origin);
            request.Headers.Add("Access-Control-Request-Method", "POST");
            request.Headers.Add("Access-Control-Request-Headers", "authorization,content-type");
            return request;
        }

        var allowed = await client.SendAsync(Preflight("https://app.example.com", $"/models/{Guid.NewGuid()}/translate"));
        var refused = await client.SendAsync(Preflight("https://evil.example.com", $"/models/{Guid.NewGuid()}/translate"));
        var keys = await client.SendAsync(Preflight("https://app.example.com", "/apikeys"));

        Assert.Equal(HttpStatusCode.NoContent, allowed.StatusCode);
        Assert.Equal("https://app.example.com", allowed.Headers.GetValues("Access-Control-Allow-Origin").Single());
        Assert.Contains("authorization", allowed.Headers.GetValues("Access-Control-Allow-Headers").Single(), StringComparison.OrdinalIgnoreCase);
        Assert.False(refused.Headers.Contains("Access-Control-Allow-Origin"));
        Assert.False(keys.Headers.Contains("Access-Control-Allow-Origin"));
        var get = new HttpRequestMessage(HttpMethod.Get, "/models");
        get.Headers.Add("Origin", "https://app.example.com");
        get.Headers.Authorization = new("Bearer", TestKeys.Admin);
        var read = await client.SendAsync(get);
        Assert.Equal(HttpStatusCode.OK, read.StatusCode);
        Assert.Equal("https://app.example.com", read.Headers.GetValues("Access-Control-Allow-Origin").Single());
    }

    [Fact]
    public async Task Bodies_AboveTheDefaultLimitAre413_UploadAndTranslateKeepTheirOwn()
    {
        var app = App(new() { ["Requests:MaxBodyBytes"] = "1024" });
        var client = app.CreateClient();
        var big = new StringContent($$"""{"datasetId":null,"modelName":"{{new string('x', 2000)}}"}""", Encoding.UTF8, "application/json");

        var problem = await ProblemAsync(await client.PostAsync("/jobs/train", big), HttpStatusCode.RequestEntityTooLarge);
        await ProblemAsync(await client.PostAsync("/apikeys", new StringContent(new string(' ', 2000), Encoding.UTF8, "application/json")), HttpStatusCode.RequestEntityTooLarge);

        Assert.Contains("1024", problem["detail"]!.GetValue<string>());
        var archive = TestArchives.Dataset(train: 8, val: 2, size: 64);
        Assert.True(archive.Length > 1024, $"{archive.Length} bytes");
        Assert.Equal(HttpStatusCode.Created, (await client.UploadAsync(archive)).StatusCode);
        var translate = await client.PostAsync($"/models/{Guid.NewGuid()}/translate", new ByteArrayContent(new byte[8192]) { Headers = { ContentType = new("image/png") } });
        Assert.Equal(HttpStatusCode.NotFound, translate.StatusCode); // past the body limit: the model does not exist
    }

    [Fact]
    public async Task RateLimits_PerCaller_429WithRetryAfter()
    {
        var app = App(new() { ["RateLimits:TrainPerMinute"] = "2", ["RateLimits:TranslatePerMinute"] = "2" });
        var admin = app.CreateClient();
        var other = AccessControlBehaviour.ClientWith(app, (await AccessControlBehaviour.CreateKeyAsync(admin, "other", "train", "translate")).Key);

        for (int i = 0; i < 2; i++) await ProblemAsync(await admin.PostAsJsonAsync("/jobs/train", new { }), HttpStatusCode.BadRequest);
        var limited = await admin.PostAsJsonAsync("/jobs/train", new { });
        var translate = Enumerable.Range(0, 3).Select(_ => admin.PostAsync($"/models/{Guid.NewGuid()}/translate", null)).ToList();

        var problem = await ProblemAsync(limited, HttpStatusCode.TooManyRequests);
        Assert.Contains("rate limit", problem["detail"]!.GetValue<string>());
        Assert.True(limited.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1), limited.Headers.RetryAfter?.ToString());
        Assert.Equal(1, (await Task.WhenAll(translate)).Count(r => r.StatusCode == HttpStatusCode.TooManyRequests));
        await ProblemAsync(await other.PostAsJsonAsync("/jobs/train", new { }), HttpStatusCode.BadRequest); // another caller's own budget
    }

    [Fact]
    public async Task Upload_StreamsToDiskAsItArrives_AndConcurrentUploadsAreBounded()
    {
        var app = App(new() { ["Uploads:MaxConcurrent"] = "1" });
        // Without the redirect handler, which buffers a request's whole body before sending it.
        var client = AccessControlBehaviour.ClientWith(app, TestKeys.Admin, new Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactoryClientOptions { AllowAutoRedirect = false });
        var archive = TestArchives.Dataset(train: 12, val: 2, size: 64);
        var release = new TaskCompletionSource();
        var first = client.PostAsync("/datasets", new HeldMultipart(archive, release.Task));

        var staged = Path.Combine(app.DataDirectory, "work", "uploads");
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        long received = 0;
        while (DateTime.UtcNow < deadline && received == 0)
        {
            received = Directory.Exists(staged) ? Directory.EnumerateFiles(staged, "dataset.zip", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length) : 0;
            await Task.Delay(50);
        }
        Assert.False(first.IsCompleted);
        Assert.InRange(received, 1, archive.Length / 2); // on disk while the rest is not even sent
        var second = await client.UploadAsync(TestArchives.Dataset(train: 2, val: 0));
        await ProblemAsync(second, HttpStatusCode.ServiceUnavailable);
        Assert.NotNull(second.Headers.RetryAfter);

        release.SetResult();

        Assert.Equal(HttpStatusCode.Created, (await first).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await client.UploadAsync(TestArchives.Dataset(train: 2, val: 0))).StatusCode);
    }

    /// <summary>A chunked multipart upload that sends the first half of the archive, then waits before sending the rest.</summary>
    private sealed class HeldMultipart : HttpContent
    {
        private readonly byte[] archive;
        private readonly Task release;

        public HeldMultipart(byte[] archive, Task release)
        {
            this.archive = archive;
            this.release = release;
            Headers.ContentType = System.Net.Http.Headers.MediaTypeHeaderValue.Parse("multipart/form-data; boundary=held");
        }

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            await stream.WriteAsync("--held\r\nContent-Disposition: form-data; name=\"file\"; filename=\"held.zip\"\r\nContent-Type: application/zip\r\n\r\n"u8.ToArray());
            await stream.WriteAsync(archive.AsMemory(0, archive.Length / 2));
            await stream.FlushAsync();
            await release;
            await stream.WriteAsync(archive.AsMemory(archive.Length / 2));
            await stream.WriteAsync("\r\n--held--\r\n"u8.ToArray());
        }

        protected override bool TryComputeLength(out long length)
        {
            length = -1;
            return false;
        }
    }
}
