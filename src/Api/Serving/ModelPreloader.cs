using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Pix2Pix.Infrastructure.Serving;
using Pix2Pix.Api.Infrastructure;
using Pix2Pix.Infrastructure.Persistence;

namespace Pix2Pix.Api.Serving;

/// <summary>
/// Loads (and warms up) the default version of each model in <c>Inference:Preload</c> when the process starts; until it
/// is done, <c>/healthz/ready</c> answers 503, so a replica gets traffic only once its models are in memory. A model
/// that cannot be loaded is logged and skipped: the replica still serves the others.
/// </summary>
public sealed class ModelPreloader(ModelStore models, TranslatorCache cache, IOptions<InferenceOptions> options, ILogger<ModelPreloader> logger)
    : BackgroundService, IHealthCheck
{
    private volatile bool done;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        foreach (var modelId in options.Value.Preload)
        {
            try
            {
                var version = await models.ResolveVersionAsync(modelId, null, stoppingToken);
                using var lease = await cache.AcquireAsync(version, stoppingToken);
                logger.LogInformation("Preloaded model {ModelId} version {Version}", modelId, version.Version);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogError("Inference:Preload: model {ModelId} could not be loaded: {Error}", modelId, e.Message);
            }
        }
        done = true;
    }

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(done
            ? HealthCheckResult.Healthy($"{options.Value.Preload.Count} model(s) in Inference:Preload")
            : HealthCheckResult.Unhealthy("Loading the models of Inference:Preload"));
}
