using System.Diagnostics.Metrics;
using Dapper;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Pix2Pix.Domain.Service;
using Pix2Pix.Infrastructure.Persistence;

namespace Pix2Pix.Infrastructure.Telemetry;

/// <summary>The service's own metrics (meter <c>Pix2Pix.Service</c>), exported in Prometheus format at /metrics.</summary>
public sealed class ServiceMetrics : IDisposable
{
    public const string MeterName = "Pix2Pix.Service";
    private readonly Meter meter;
    private readonly Histogram<double> translateDuration;
    private readonly Counter<long> translations;
    private readonly Counter<long> cacheHits;
    private readonly Counter<long> cacheMisses;
    private readonly Histogram<double> trainingImagesPerSecond;
    private readonly Histogram<double> checkpointDuration;
    private readonly Histogram<double> translateQueueWait;
    private readonly Histogram<double> translateCompute;
    private readonly Histogram<long> translateBatchSize;
    private readonly Counter<long> translateRejected;
    private readonly Counter<long> packageDigestMismatches;
    private volatile IReadOnlyDictionary<JobStatus, long> jobsByStatus = new Dictionary<JobStatus, long>();

    public ServiceMetrics(IMeterFactory meters)
    {
        meter = meters.Create(MeterName);
        translateDuration = meter.CreateHistogram("pix2pix.translate.duration", "s", "Time to translate one image, model load included.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] });
        translations = meter.CreateCounter<long>("pix2pix.translations", "{image}", "Images translated.");
        cacheHits = meter.CreateCounter<long>("pix2pix.model_cache.hits", "{request}", "Translate requests served by an already loaded model.");
        cacheMisses = meter.CreateCounter<long>("pix2pix.model_cache.misses", "{request}", "Translate requests that loaded a model.");
        trainingImagesPerSecond = meter.CreateHistogram("pix2pix.training.throughput", "{image}/s", "Training images per second, per iteration.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500] });
        checkpointDuration = meter.CreateHistogram("pix2pix.checkpoint.duration", "s", "Time to write and store a training checkpoint.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120] });
        translateQueueWait = meter.CreateHistogram("pix2pix.translate.queue_wait", "s", "Time a translate request waited for its forward pass.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5] });
        translateCompute = meter.CreateHistogram("pix2pix.translate.compute", "s", "Time of one forward pass (a batch).",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] });
        translateBatchSize = meter.CreateHistogram<long>("pix2pix.translate.batch_size", "{image}", "Images that shared a forward pass.",
            advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = [1, 2, 4, 8, 16, 32] });
        translateRejected = meter.CreateCounter<long>("pix2pix.translate.rejected", "{request}", "Translate requests answered 503, by reason.");
        packageDigestMismatches = meter.CreateCounter<long>("pix2pix.package.digest_mismatches", "{load}",
            "Model packages refused because their bytes no longer match the SHA-256 recorded with their version.");
        meter.CreateObservableGauge("pix2pix.jobs", () => jobsByStatus.Select(p => new Measurement<long>(p.Value, new KeyValuePair<string, object?>("status", p.Key.ToString()))),
            "{job}", "Training jobs by status.");
        meter.CreateObservableGauge("pix2pix.queue.depth", () => jobsByStatus.GetValueOrDefault(JobStatus.Queued), "{job}", "Jobs waiting for a worker.");
    }

    public void Translated(double seconds, string mode, string precision)
    {
        translateDuration.Record(seconds, new KeyValuePair<string, object?>("mode", mode), new KeyValuePair<string, object?>("precision", precision));
        translations.Add(1);
    }

    public void ModelCache(bool hit) => (hit ? cacheHits : cacheMisses).Add(1);

    public void TranslateQueueWait(double seconds) => translateQueueWait.Record(seconds);

    public void TranslateCompute(double seconds, int batchSize)
    {
        translateCompute.Record(seconds);
        translateBatchSize.Record(batchSize);
    }

    public void TranslateRejected(string reason) => translateRejected.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public void PackageDigestMismatch() => packageDigestMismatches.Add(1);

    public void TrainingIteration(double imagesPerSecond) => trainingImagesPerSecond.Record(imagesPerSecond);

    public void Checkpoint(double seconds) => checkpointDuration.Record(seconds);

    internal void SetJobCounts(IReadOnlyDictionary<JobStatus, long> counts) => jobsByStatus = counts;

    public void Dispose() => meter.Dispose();
}

/// <summary>Counts jobs by status every 15 s, so a scrape never waits on the database.</summary>
internal sealed class JobCountsRefresher(Database database, ServiceMetrics metrics, ILogger<JobCountsRefresher> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(15));
        do
        {
            try
            {
                await using var connection = await database.OpenAsync(stoppingToken);
                var rows = await connection.QueryAsync<(string Status, long Count)>("SELECT status, COUNT(*) FROM jobs GROUP BY status");
                var counts = Enum.GetValues<JobStatus>().ToDictionary(s => s, _ => 0L);
                foreach (var (status, count) in rows) counts[Enum.Parse<JobStatus>(status)] = count;
                metrics.SetJobCounts(counts);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogDebug("Counting jobs for metrics failed: {Error}", e.Message);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }
}
