using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;

namespace Pix2Pix.Infrastructure;

/// <summary>
/// Management:Urls: extra listening addresses that serve only /metrics and the probes, so that the port clients reach
/// (Service, Ingress, published compose port) never serves metrics and the metrics port serves nothing else.
/// </summary>
public static class ManagementPort
{
    /// <summary>Adds the management URLs to the ones Kestrel listens on (--urls, ASPNETCORE_URLS or ASPNETCORE_HTTP_PORTS).</summary>
    public static WebApplicationBuilder AddManagementUrls(this WebApplicationBuilder builder)
    {
        var management = Urls(builder.Configuration);
        if (management.Count == 0) return builder;
        var urls = Split(builder.Configuration[WebHostDefaults.ServerUrlsKey]);
        if (urls.Count == 0) urls = Split(builder.Configuration[WebHostDefaults.HttpPortsKey]).Select(port => $"http://*:{port}").ToList();
        if (urls.Count == 0) urls = ["http://localhost:5000"];
        builder.WebHost.UseUrls([.. urls, .. management]);
        return builder;
    }

    /// <summary>Whether a separate management port is configured (else /metrics is on the main port, for admins).</summary>
    public static bool IsConfigured(IConfiguration configuration) => Urls(configuration).Count > 0;

    /// <summary>On a management port only /metrics and /healthz/*; /metrics only there.</summary>
    public static WebApplication UseManagementPort(this WebApplication app)
    {
        var ports = Urls(app.Configuration).Select(Port).ToHashSet();
        if (ports.Count == 0) return app;
        app.Use(async (context, next) =>
        {
            var path = context.Request.Path;
            bool operational = path.StartsWithSegments("/metrics") || path.StartsWithSegments("/healthz");
            bool onManagementPort = ports.Contains(context.Connection.LocalPort);
            bool refused = onManagementPort ? !operational : path.StartsWithSegments("/metrics");
            if (refused)
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return;
            }
            await next(context);
        });
        return app;
    }

    private static List<string> Urls(IConfiguration configuration) =>
        Split(configuration[ConfigurationPath.Combine(ManagementOptions.Section, nameof(ManagementOptions.Urls))] ?? new ManagementOptions().Urls);

    private static List<string> Split(string? value) =>
        (value ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();

    private static int Port(string url) =>
        new Uri(url.Replace("://*", "://localhost").Replace("://+", "://localhost").Replace("://[::]", "://localhost")).Port;
}
