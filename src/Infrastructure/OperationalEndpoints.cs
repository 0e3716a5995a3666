using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Pix2Pix.Domain.Runtime;

namespace Pix2Pix.Infrastructure;

/// <summary>What every process serves for its operators: probes and metrics.</summary>
public static class OperationalEndpoints
{
    /// <summary>
    /// /healthz/live (the process answers) and /healthz/ready (database, blob store, queue), anonymous; /metrics
    /// (Prometheus), anonymous on the management port, or on the main port behind <paramref name="secureMetrics"/>.
    /// </summary>
    public static WebApplication MapOperationalEndpoints(this WebApplication app, Action<IEndpointConventionBuilder>? secureMetrics = null)
    {
        if (NativeMemory.EnsureConfigured() != "jemalloc")
            app.Logger.LogWarning("jemalloc is not preloaded (set LD_PRELOAD=libjemalloc.so.2): training and inference run slower on glibc malloc");
        app.MapHealthChecks("/healthz/live", new HealthCheckOptions { Predicate = _ => false }).WithTags("Health").AllowAnonymous();
        app.MapHealthChecks("/healthz/ready", new HealthCheckOptions { Predicate = check => check.Tags.Contains("ready") }).WithTags("Health").AllowAnonymous();
        var metrics = app.MapPrometheusScrapingEndpoint();
        if (ManagementPort.IsConfigured(app.Configuration) || secureMetrics is null) metrics.AllowAnonymous();
        else secureMetrics(metrics);
        return app;
    }
}
