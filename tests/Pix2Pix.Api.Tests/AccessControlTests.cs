using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Pix2Pix.Infrastructure.Persistence;

namespace Pix2Pix.Api.Tests;

/// <summary>Keys, owners, sessions and caps, against each database: the embedded SQLite file and PostgreSQL.</summary>
public abstract class AccessControlBehaviour : AppTests
{
    internal static async Task<(Guid Id, string Key)> CreateKeyAsync(HttpClient admin, string name, params string[] scopes)
    {
        var response = await admin.PostAsJsonAsync("/apikeys", new { name, scopes, expiresAt = (DateTimeOffset?)null });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var created = (await response.Content.ReadFromJsonAsync<JsonObject>())!;
        return (created["id"]!.GetValue<Guid>(), created["key"]!.GetValue<string>());
    }

    internal static HttpClient ClientWith(ApiFactory app, string? key, WebApplicationFactoryClientOptions? options = null)
    {
        var client = options is null ? app.CreateClient() : app.CreateClient(options);
        client.UseKey(key);
        return client;
    }

    [Fact]
    public async Task ApiKey_CreatedByAdmin_WorksForItsScopesOnlyAndIsStoredOnlyAsAHash()
    {
        var app = App();
        var admin = app.CreateClient();

        var response = await admin.PostAsJsonAsync("/apikeys", new { name = "ci", scopes = new[] { "translate", "read" }, expiresAt = (DateTimeOffset?)null });

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var created = (await response.Content.ReadFromJsonAsync<JsonObject>())!;
        var key = created["key"]!.GetValue<string>();
        Assert.StartsWith($"p2p_{created["prefix"]}_", key);
        Assert.True(key.Length >= 4 + 10 + 1 + 43, key); // 256 random bits, base64url
        Assert.Equal(["read", "translate"], created["scopes"]!.AsArray().Select(s => s!.GetValue<string>()).Order());
        var client = ClientWith(app, key);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/datasets")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await WithXApiKey(app, key).GetAsync("/datasets")).StatusCode);
        var forbidden = await ProblemAsync(await client.PostAsJsonAsync("/jobs/train", new { }), HttpStatusCode.Forbidden);
        Assert.Contains("'train' scope", forbidden["detail"]!.GetValue<string>());

        var listed = await admin.GetFromJsonAsync<JsonArray>("/apikeys");
        var entry = listed!.Single(k => k!["id"]!.GetValue<Guid>() == created["id"]!.GetValue<Guid>())!.AsObject();
        Assert.False(entry.ContainsKey("key"));
        Assert.NotNull(entry["lastUsedAt"]);
        Assert.Equal("bootstrap", entry["createdBy"]!.GetValue<string>());
        await using var connection = await app.Services.GetRequiredService<Database>().OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT * FROM api_keys";
        var stored = new StringBuilder();
        await using (var rows = await command.ExecuteReaderAsync())
            while (await rows.ReadAsync())
                for (int column = 0; column < rows.FieldCount; column++) stored.Append(rows.GetValue(column)).Append('|');
        var secret = key[$"p2p_{created["prefix"]}_".Length..]; // base64url: the secret itself may contain '_'
        Assert.DoesNotContain(secret, stored.ToString());
        Assert.Contains(ApiKeyStore.Hash(key), stored.ToString());
        if (!app.Services.GetRequiredService<Database>().IsPostgreSql)
            foreach (var file in Directory.EnumerateFiles(app.DataDirectory, "*", SearchOption.AllDirectories))
                Assert.False(File.ReadAllBytes(file).AsSpan().IndexOf(Encoding.UTF8.GetBytes(secret)) >= 0, $"{file} holds the key's secret");
    }

    private static HttpClient WithXApiKey(ApiFactory app, string key)
    {
        var client = ClientWith(app, null);
        client.DefaultRequestHeaders.Add("X-Api-Key", key);
        return client;
    }

    [Fact]
    public async Task ApiKey_Revoked_StopsAtOnceHereAndWithinTheCacheTimeInAnotherProcess()
    {
        var settings = new Dictionary<string, string?> { ["Auth:KeyCacheDuration"] = "00:00:01" };
        var first = App(settings);
        var (id, key) = await CreateKeyAsync(first.CreateClient(), "revoked", "read");
        var second = App(settings, dataDirectory: first.DataDirectory); // a second replica on the same database
        var here = ClientWith(first, key);
        var there = ClientWith(second, key);
        Assert.Equal(HttpStatusCode.OK, (await here.GetAsync("/models")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await there.GetAsync("/models")).StatusCode);

        var revoked = await first.CreateClient().DeleteAsync($"/apikeys/{id}");

        Assert.Equal(HttpStatusCode.OK, revoked.StatusCode);
        Assert.NotNull((await revoked.Content.ReadFromJsonAsync<JsonObject>())!["revokedAt"]);
        var problem = await ProblemAsync(await here.GetAsync("/models"), HttpStatusCode.Unauthorized);
        Assert.Contains("revoked", problem["detail"]!.GetValue<string>());
        await Task.Delay(TimeSpan.FromSeconds(1.2));
        await ProblemAsync(await there.GetAsync("/models"), HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task ApiKey_PastItsExpiry_IsRefused()
    {
        var app = App();
        var admin = app.CreateClient();
        var expiresAt = DateTimeOffset.UtcNow.AddSeconds(1.5);
        var response = await admin.PostAsJsonAsync("/apikeys", new { name = "short", scopes = new[] { "read" }, expiresAt });
        var key = (await response.Content.ReadFromJsonAsync<JsonObject>())!["key"]!.GetValue<string>();
        var client = ClientWith(app, key);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/jobs")).StatusCode);

        await Task.Delay(expiresAt - DateTimeOffset.UtcNow + TimeSpan.FromMilliseconds(200));

        await ProblemAsync(await client.GetAsync("/jobs"), HttpStatusCode.Unauthorized);
    }

    [Theory]
    [InlineData("""{"name":"","scopes":["read"]}""", "name")]
    [InlineData("""{"name":"x","scopes":[]}""", "scopes")]
    [InlineData("""{"name":"x","scopes":["root"]}""", "scopes")]
    [InlineData("""{"name":"x","scopes":["read"],"expiresAt":"2001-01-01T00:00:00Z"}""", "expiresAt")]
    public async Task ApiKey_BadRequest_400NamingTheField(string body, string field)
    {
        var response = await App().CreateClient().PostAsync("/apikeys", new StringContent(body, Encoding.UTF8, "application/json"));

        var problem = await ProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.True(problem["errors"]!.AsObject().ContainsKey(field), problem.ToJsonString());
    }

    [Fact]
    public async Task Owners_ATrainKeyChangesOnlyWhatItCreated_AdminAnything_ReadSeesAll()
    {
        var app = App(new() { ["Worker:InProcess"] = "false" }); // jobs stay queued
        var admin = app.CreateClient();
        var (aliceId, aliceKey) = await CreateKeyAsync(admin, "alice", "train", "read");
        var (_, bobKey) = await CreateKeyAsync(admin, "bob", "train", "read");
        var (_, readerKey) = await CreateKeyAsync(admin, "reader", "read");
        var alice = ClientWith(app, aliceKey);
        var bob = ClientWith(app, bobKey);

        var datasetId = await alice.UploadOkAsync(TestArchives.Dataset(train: 2, val: 1));
        var train = await alice.TrainAsync(datasetId, "alices-model", ApiClient.TinyOptions());
        Assert.Equal(HttpStatusCode.Accepted, train.StatusCode);
        var accepted = (await train.Content.ReadFromJsonAsync<JsonObject>())!;
        var jobId = accepted["id"]!.GetValue<Guid>();
        var modelId = accepted["modelId"]!.GetValue<Guid>();

        var owner = $"key:{aliceId}";
        var reader = ClientWith(app, readerKey);
        Assert.Equal(owner, (await reader.GetJsonAsync($"/datasets/{datasetId}"))["createdBy"]!.GetValue<string>());
        Assert.Equal(owner, (await reader.GetJsonAsync($"/jobs/{jobId}"))["createdBy"]!.GetValue<string>());
        Assert.Equal(owner, (await reader.GetJsonAsync($"/models/{modelId}"))["createdBy"]!.GetValue<string>());
        await ProblemAsync(await bob.PostAsync($"/jobs/{jobId}/cancel", null), HttpStatusCode.Forbidden);
        await ProblemAsync(await bob.DeleteAsync($"/datasets/{datasetId}"), HttpStatusCode.Forbidden);
        await ProblemAsync(await bob.DeleteAsync($"/models/{modelId}"), HttpStatusCode.Forbidden);
        await ProblemAsync(await bob.PutAsJsonAsync($"/models/{modelId}/default-version", new { version = 1 }), HttpStatusCode.Forbidden);
        var intoAlicesModel = await ProblemAsync(await bob.TrainAsync(datasetId, "alices-model", ApiClient.TinyOptions()), HttpStatusCode.Forbidden);
        Assert.Contains("alices-model", intoAlicesModel["detail"]!.GetValue<string>());
        await ProblemAsync(await reader.PostAsync($"/jobs/{jobId}/cancel", null), HttpStatusCode.Forbidden);

        Assert.Equal(HttpStatusCode.Accepted, (await alice.PostAsync($"/jobs/{jobId}/cancel", null)).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync($"/jobs/{jobId}")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await alice.DeleteAsync($"/datasets/{datasetId}")).StatusCode);
    }

    [Fact]
    public async Task Caps_RecipeBeyondThemIs400NamingTheField_TooManyQueuedJobsIs429()
    {
        var app = App(new()
        {
            ["Worker:InProcess"] = "false", ["Training:MaxEpochs"] = "50", ["Training:MinCheckpointEvery"] = "100", ["Training:MaxQueuedJobsPerKey"] = "1",
        });
        var client = app.CreateClient();
        var datasetId = await client.UploadOkAsync(TestArchives.Dataset(train: 2, val: 0));
        var options = ApiClient.TinyOptions();
        options["checkpointEvery"] = 100;

        var tooLong = ApiClient.TinyOptions(epochs: 40, decayEpochs: 20);
        tooLong["checkpointEvery"] = 100;
        var epochs = await ProblemAsync(await client.TrainAsync(datasetId, "capped", tooLong), HttpStatusCode.BadRequest);
        Assert.Contains("Training:MaxEpochs", epochs["errors"]!["options.epochs"]![0]!.GetValue<string>());
        var checkpoints = await ProblemAsync(await client.TrainAsync(datasetId, "capped", ApiClient.TinyOptions()), HttpStatusCode.BadRequest);
        Assert.Contains("Training:MinCheckpointEvery", checkpoints["errors"]!["options.checkpointEvery"]![0]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.Accepted, (await client.TrainAsync(datasetId, "capped", options.DeepClone().AsObject())).StatusCode);
        var queued = await client.TrainAsync(datasetId, "capped", options.DeepClone().AsObject());
        var problem = await ProblemAsync(queued, HttpStatusCode.TooManyRequests);
        Assert.Contains("Training:MaxQueuedJobsPerKey", problem["detail"]!.GetValue<string>());
        Assert.NotNull(queued.Headers.RetryAfter);
    }

    [Fact]
    public async Task Session_SignInWithAKey_CookieWorks_ChangesNeedTheAntiforgeryToken_SignOutEndsIt()
    {
        var app = App();
        var (keyId, key) = await CreateKeyAsync(app.CreateClient(), "browser", "read", "train");
        var browser = ClientWith(app, null, new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });

        var page = await browser.GetAsync("/auth/signin?returnUrl=%2Fjobs");
        var html = await page.Content.ReadAsStringAsync();
        Assert.Contains("<label for=\"key\">API key</label>", html);
        var formToken = Regex.Match(html, "name=\"__RequestVerificationToken\" value=\"([^\"]+)\"").Groups[1].Value;
        var other = ClientWith(app, null, new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });
        var otherToken = Regex.Match(await other.GetStringAsync("/auth/signin"), "name=\"__RequestVerificationToken\" value=\"([^\"]+)\"").Groups[1].Value;
        var elsewhere = await other.PostAsync("/auth/signin", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["key"] = key, ["returnUrl"] = "/\t/evil.example", ["__RequestVerificationToken"] = otherToken,
        }));
        Assert.Equal("/ui/", elsewhere.Headers.Location?.OriginalString); // not "/\t/evil.example", which browsers read as //evil.example
        var wrong = await browser.PostAsync("/auth/signin", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["key"] = "p2p_0123456789_not-a-key", ["returnUrl"] = "/jobs", ["__RequestVerificationToken"] = formToken,
        }));
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        Assert.Contains("not valid", await wrong.Content.ReadAsStringAsync());
        var signIn = await browser.PostAsync("/auth/signin", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["key"] = key, ["returnUrl"] = "/jobs", ["__RequestVerificationToken"] = formToken,
        }));

        Assert.Equal(HttpStatusCode.Redirect, signIn.StatusCode);
        Assert.Equal("/jobs", signIn.Headers.Location!.OriginalString);
        var cookie = signIn.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("pix2pix.session=", StringComparison.Ordinal));
        Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(HttpStatusCode.OK, (await browser.GetAsync("/jobs")).StatusCode);
        var session = await browser.GetJsonAsync("/auth/session");
        Assert.Equal($"key:{keyId}", session["subject"]!.GetValue<string>());

        var withoutToken = await ProblemAsync(await browser.PostAsJsonAsync("/jobs/train", new { }), HttpStatusCode.BadRequest);
        Assert.Contains("X-XSRF-TOKEN", withoutToken["detail"]!.GetValue<string>());
        browser.DefaultRequestHeaders.Add("X-XSRF-TOKEN", session["antiforgeryToken"]!.GetValue<string>());
        var withToken = await ProblemAsync(await browser.PostAsJsonAsync("/jobs/train", new { }), HttpStatusCode.BadRequest);
        Assert.True(withToken["errors"]!.AsObject().ContainsKey("datasetId"), withToken.ToJsonString()); // past the antiforgery check
        Assert.Equal(HttpStatusCode.Forbidden, (await browser.GetAsync("/hangfire")).StatusCode); // not an admin session

        Assert.Equal(HttpStatusCode.NoContent, (await browser.PostAsync("/auth/signout", null)).StatusCode);
        await ProblemAsync(await browser.GetAsync("/jobs"), HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Session_OfARevokedKey_Ends()
    {
        var app = App(new() { ["Auth:KeyCacheDuration"] = "00:00:00" });
        var (keyId, key) = await CreateKeyAsync(app.CreateClient(), "browser", "read");
        var (browser, _) = await SignedInBrowserAsync(app, key);
        Assert.Equal(HttpStatusCode.OK, (await browser.GetAsync("/models")).StatusCode);

        await app.CreateClient().DeleteAsync($"/apikeys/{keyId}");

        await ProblemAsync(await browser.GetAsync("/models"), HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Hangfire_NeedsAnAdminSession_BrowsersAreSentToSignIn()
    {
        var app = App();
        var anonymous = ClientWith(app, null, new WebApplicationFactoryClientOptions { AllowAutoRedirect = false });
        var request = new HttpRequestMessage(HttpMethod.Get, "/hangfire");
        request.Headers.Accept.ParseAdd("text/html");
        var redirect = await anonymous.SendAsync(request);
        Assert.Equal(HttpStatusCode.Redirect, redirect.StatusCode);
        Assert.Equal("/auth/signin?returnUrl=%2Fhangfire", redirect.Headers.Location!.OriginalString);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/hangfire")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await app.CreateClient().GetAsync("/hangfire")).StatusCode); // a key is not a session

        var (admin, _) = await SignedInBrowserAsync(app, TestKeys.Admin);

        var dashboard = await admin.GetAsync("/hangfire");
        Assert.Equal(HttpStatusCode.OK, dashboard.StatusCode);
        Assert.Contains("Hangfire", await dashboard.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Session_MadeByOneReplica_IsValidOnAnother()
    {
        var first = App();
        var second = App(dataDirectory: first.DataDirectory); // the same database: the key ring is shared through it
        var (_, cookie) = await SignedInBrowserAsync(first, TestKeys.Admin);
        var other = ClientWith(second, null);
        other.DefaultRequestHeaders.Add("Cookie", cookie);

        Assert.Equal(HttpStatusCode.OK, (await other.GetAsync("/models")).StatusCode);
    }

    /// <summary>A browser signed in through the form, and its session cookie ("name=value").</summary>
    internal static async Task<(HttpClient Browser, string Cookie)> SignedInBrowserAsync(ApiFactory app, string key)
    {
        var browser = ClientWith(app, null, new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });
        var html = await browser.GetStringAsync("/auth/signin");
        var formToken = Regex.Match(html, "name=\"__RequestVerificationToken\" value=\"([^\"]+)\"").Groups[1].Value;
        var signIn = await browser.PostAsync("/auth/signin", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["key"] = key, ["__RequestVerificationToken"] = formToken,
        }));
        Assert.Equal(HttpStatusCode.Redirect, signIn.StatusCode);
        var cookie = signIn.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("pix2pix.session=", StringComparison.Ordinal));
        return (browser, cookie[..cookie.IndexOf(';')]);
    }
}

public sealed class EmbeddedAccessControlTests : AccessControlBehaviour
{
    protected override Task<Dictionary<string, string?>> StorageSettingsAsync() => Task.FromResult(new Dictionary<string, string?>());
}

[Collection(ServersCollection.Name)]
public sealed class PostgresAccessControlTests(PostgresServer postgres) : AccessControlBehaviour
{
    protected override async Task<Dictionary<string, string?>> StorageSettingsAsync() => new()
    {
        ["ConnectionStrings:Database"] = await postgres.CreateDatabaseAsync(),
    };

    [Fact]
    public void Start_WithPostgresButNoBootstrapKey_RefusesNamingTheSetting()
    {
        var app = App(new() { ["Auth:BootstrapAdminKey"] = "" });

        var error = Assert.ThrowsAny<Exception>(() => app.CreateClient());

        Assert.Contains("Auth:BootstrapAdminKey is required with PostgreSQL", error.ToString());
    }
}
