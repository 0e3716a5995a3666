using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;

namespace Pix2Pix.Api.Tests;

/// <summary>Tests that start apps against one deployment shape's storage (fresh per test) and dispose them after.</summary>
public abstract class AppTests : IAsyncLifetime
{
    private readonly List<ApiFactory> factories = [];
    private Dictionary<string, string?> storage = [];

    /// <summary>Settings that point a new app at this suite's database and blob store (fresh per test).</summary>
    protected abstract Task<Dictionary<string, string?>> StorageSettingsAsync();

    public async Task InitializeAsync() => storage = await StorageSettingsAsync();

    public Task DisposeAsync()
    {
        foreach (var factory in factories) factory.Dispose();
        // Every test has a database of its own, so its pooled connections would only idle on, filling the server's
        // max_connections as the tests go on (each app also holds Hangfire's): close them now.
        Npgsql.NpgsqlConnection.ClearAllPools();
        return Task.CompletedTask;
    }

    protected ApiFactory App(Dictionary<string, string?>? settings = null, string? dataDirectory = null, Action<IServiceCollection>? services = null)
    {
        var all = new Dictionary<string, string?>(storage);
        foreach (var (key, value) in settings ?? []) all[key] = value;
        var factory = new ApiFactory(all, dataDirectory, services);
        factories.Add(factory);
        return factory;
    }

    /// <summary>Cluster storage: a fresh database on the real PostgreSQL and a fresh bucket on the real S3 server.</summary>
    protected static async Task<Dictionary<string, string?>> ClusterStorageAsync(PostgresServer postgres, S3Server s3) => new()
    {
        ["ConnectionStrings:Database"] = await postgres.CreateDatabaseAsync(),
        ["Blobs:Provider"] = "S3",
        ["Blobs:S3:ServiceUrl"] = s3.ServiceUrl,
        ["Blobs:S3:Bucket"] = $"test-{Guid.NewGuid():N}",
        ["Blobs:S3:AccessKey"] = s3.AccessKey,
        ["Blobs:S3:SecretKey"] = s3.SecretKey,
    };

    protected static async Task<JsonObject> ProblemAsync(HttpResponseMessage response, HttpStatusCode expected)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(expected == response.StatusCode, $"expected {(int)expected}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        return JsonNode.Parse(body)!.AsObject();
    }
}
