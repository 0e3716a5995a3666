using Pix2Pix.Testing;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace Pix2Pix.Api.Tests;

/// <summary>The API in-process with its own data folder and the given configuration (in-process training worker on).</summary>
public sealed class ApiFactory : WebApplicationFactory<Program>
{
    private readonly Dictionary<string, string?> settings;
    private readonly Action<IServiceCollection>? services;

    public ApiFactory(Dictionary<string, string?>? settings = null, string? dataDirectory = null, Action<IServiceCollection>? services = null)
    {
        this.services = services;
        DataDirectory = dataDirectory ?? Path.Combine(Path.GetTempPath(), "pix2pix-api-tests", Guid.NewGuid().ToString("N"));
        this.settings = new Dictionary<string, string?>
        {
            ["Storage:DataDirectory"] = DataDirectory,
            ["ConnectionStrings:Database"] = "",
            ["Worker:InProcess"] = "true",
            ["Worker:Threads"] = "1",
            ["Logging:LogLevel:Default"] = "Warning",
            ["Auth:BootstrapAdminKey"] = TestKeys.Admin,
            // TestServer has no ports: /metrics is served on the main "port" to admins.
            ["Management:Urls"] = "",
            // The tiny test jobs checkpoint every few iterations to exercise resume.
            ["Training:MinCheckpointEvery"] = "1",
        };
        foreach (var (key, value) in settings ?? []) this.settings[key] = value;
    }

    public string DataDirectory { get; }

    public IReadOnlyDictionary<string, string?> Settings => settings;

    /// <summary>Clients call as the bootstrap admin unless a test says otherwise (<see cref="TestKeys.UseKey"/>).</summary>
    protected override void ConfigureClient(HttpClient client)
    {
        base.ConfigureClient(client);
        client.UseKey(TestKeys.Admin);
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Testing");
        foreach (var (key, value) in settings) builder.UseSetting(key, value);
        if (services is not null) builder.ConfigureTestServices(services);
    }
}
