using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Pix2Pix.Domain.Runtime;
using Pix2Pix.Infrastructure;

// A training worker: a Hangfire server on the "training" queue, one job at a time, configured with the same
// ConnectionStrings:Database and Blobs:* keys as the API, plus Worker:* (device, threads, leases, shutdown).
var builder = WebApplication.CreateBuilder(args);
builder.AddPix2PixInfrastructure();
builder.AddTrainingWorker();

var app = builder.Build();
if (NativeMemory.EnsureConfigured() != "jemalloc")
    app.Logger.LogWarning("jemalloc is not preloaded (set LD_PRELOAD=libjemalloc.so.2): training runs slower and its memory may grow");
app.MapHealthChecks("/healthz/live", new HealthCheckOptions { Predicate = _ => false });
app.MapHealthChecks("/healthz/ready", new HealthCheckOptions { Predicate = check => check.Tags.Contains("ready") });
app.MapPrometheusScrapingEndpoint(); // /metrics
app.Run();
