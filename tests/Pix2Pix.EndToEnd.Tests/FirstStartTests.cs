using System.Net;
using System.Net.Http.Headers;

namespace Pix2Pix.EndToEnd.Tests;

/// <summary>The README's run command as a new user meets it: the embedded API as its own process, nothing configured.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class FirstStartTests
{
    [Fact]
    public async Task EmbeddedFirstStart_GeneratesAnAdminKeyFileOnlyItsUserReads_MetricsOnlyOnTheManagementPort()
    {
        var data = Path.Combine(Path.GetTempPath(), "pix2pix-e2e", Guid.NewGuid().ToString("N"));
        using var api = await ServiceProcess.StartAsync("Api", "api", new Dictionary<string, string>
        {
            ["Storage__DataDirectory"] = data, ["Auth__BootstrapAdminKey"] = "", ["Worker__InProcess"] = "false",
        });
        using var http = new HttpClient();

        var keyFile = Path.Combine(data, "admin.key");
        var key = (await File.ReadAllTextAsync(keyFile)).Trim();
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(keyFile));
        Assert.Contains(api.Log, line => line.Contains($"/auth/signin?key={key}", StringComparison.Ordinal));
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync($"{api.BaseUrl}/datasets")).StatusCode);
        var request = new HttpRequestMessage(HttpMethod.Get, $"{api.BaseUrl}/datasets") { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", key) } };
        Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(request)).StatusCode);

        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"{api.BaseUrl}/metrics")).StatusCode);
        var metrics = await http.GetAsync($"{api.ManagementUrl}/metrics");
        Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
        Assert.Contains("http_server_request_duration", await metrics.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync($"{api.ManagementUrl}/healthz/ready")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"{api.ManagementUrl}/datasets")).StatusCode);

        api.Kill();
        using var again = await ServiceProcess.StartAsync("Api", "api", new Dictionary<string, string>
        {
            ["Storage__DataDirectory"] = data, ["Auth__BootstrapAdminKey"] = "", ["Worker__InProcess"] = "false",
        });
        Assert.Equal(key, (await File.ReadAllTextAsync(keyFile)).Trim()); // kept, and not announced again
        Assert.DoesNotContain(again.Log, line => line.Contains("/auth/signin?key=", StringComparison.Ordinal));
    }
}
