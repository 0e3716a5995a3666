using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Pix2Pix.Domain.Inference;
using Pix2Pix.Domain.Service;
using Pix2Pix.Infrastructure.Telemetry;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace Pix2Pix.Infrastructure.Serving;

/// <summary>
/// Loaded model versions, shared by concurrent translate requests; concurrent misses for a version share one load.
/// Holds at most <c>Inference:CachedModels</c> versions and <c>Inference:CachedModelBytes</c> of packages, evicting the
/// least recently used among those no request is using: a version in use is never evicted, so the cache can run over
/// its bounds while every cached version is busy, and comes back under them as requests finish. An evicted translator
/// is disposed once the last request using it returns its lease.
/// </summary>
public sealed class TranslatorCache(IBlobStore blobs, IOptions<InferenceOptions> options, ServiceMetrics metrics, ILogger<TranslatorCache> logger)
    : IDisposable
{
    private readonly Lock gate = new();
    private readonly Dictionary<(Guid, int), Entry> entries = [];
    private long clock;

    public async Task<Lease> AcquireAsync(ModelVersion version, CancellationToken cancellationToken)
    {
        Entry entry;
        lock (gate)
        {
            var key = (version.ModelId, version.Version);
            if (entries.TryGetValue(key, out var existing) && !existing.Loading.IsFaulted)
            {
                entry = existing;
                metrics.ModelCache(hit: true);
            }
            else
            {
                entry = new Entry(LoadAsync(version), version.PackageBytes);
                entries[key] = entry;
                metrics.ModelCache(hit: false);
            }
            entry.Users++;
            entry.LastUsed = ++clock;
            EvictOverflow();
        }
        try
        {
            return new Lease(await entry.Loading.WaitAsync(cancellationToken), () => Release(entry));
        }
        catch
        {
            Release(entry);
            throw;
        }
    }

    /// <summary>Forget a version (deleted, or its model deleted).</summary>
    public void Remove(Guid modelId, int? version = null)
    {
        lock (gate)
            foreach (var key in entries.Keys.Where(k => k.Item1 == modelId && (version is null || k.Item2 == version)).ToList())
                Evict(key);
    }

    private async Task<Pix2PixTranslator> LoadAsync(ModelVersion version)
    {
        await using var stream = await blobs.OpenReadAsync(version.PackageBlobKey)
            ?? throw new NotFoundException($"The package of model version {version.Version} is missing from blob storage.");
        // Read the blob asynchronously; the package loader then reads the buffer without copying it again.
        using var buffer = new MemoryStream();
        await stream.CopyToAsync(buffer);
        if (version.PackageSha256 is { } recorded
            && Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(buffer.GetBuffer().AsSpan(0, (int)buffer.Length))) != recorded)
        {
            metrics.PackageDigestMismatch();
            logger.LogError("Model {ModelId} version {Version}: the package's SHA-256 is not the one recorded ({Recorded}); it is not served",
                version.ModelId, version.Version, recorded);
            throw new ConflictException($"Version {version.Version}'s package no longer matches the SHA-256 recorded when it was published ({recorded}); "
                + "it is not served. Restore the blob or delete the version.");
        }
        buffer.Position = 0;
        var settings = options.Value;
        logger.LogInformation("Loading model {ModelId} version {Version} ({Precision} on {Device})", version.ModelId, version.Version, settings.Precision, settings.Device);
        var translator = Pix2PixTranslator.Load(buffer, new TranslatorOptions { Device = settings.Device, Precision = settings.Precision, MaxPadPixels = settings.MaxPadPixels });
        // One forward as part of the load, before the first request: libtorch's first pass at a size allocates and picks
        // its kernels (several times slower than the next ones).
        using (var warmUp = new Image<Rgb24>(translator.Manifest.TrainingWidth, translator.Manifest.TrainingHeight))
            translator.Translate(warmUp).Dispose();
        return translator;
    }

    private void EvictOverflow()
    {
        var settings = options.Value;
        while (entries.Count > settings.CachedModels || entries.Values.Sum(e => e.Bytes) > settings.CachedModelBytes)
        {
            var idle = entries.Where(e => e.Value.Users == 0).ToList();
            if (idle.Count == 0) return;
            Evict(idle.MinBy(e => e.Value.LastUsed).Key);
        }
    }

    private void Evict((Guid, int) key)
    {
        var entry = entries[key];
        entries.Remove(key);
        entry.Evicted = true;
        if (entry.Users == 0) DisposeLoaded(entry);
    }

    private void Release(Entry entry)
    {
        lock (gate)
        {
            entry.Users--;
            if (entry.Users > 0) return;
            if (entry.Evicted) DisposeLoaded(entry);
            else EvictOverflow();
        }
    }

    private static void DisposeLoaded(Entry entry) =>
        entry.Loading.ContinueWith(t => { if (t.IsCompletedSuccessfully) t.Result.Dispose(); }, TaskScheduler.Default);

    public void Dispose()
    {
        lock (gate)
            foreach (var key in entries.Keys.ToList()) Evict(key);
    }

    private sealed class Entry(Task<Pix2PixTranslator> loading, long bytes)
    {
        public Task<Pix2PixTranslator> Loading { get; } = loading;
        public long Bytes { get; } = bytes;
        public int Users { get; set; }
        public long LastUsed { get; set; }
        public bool Evicted { get; set; }
    }

    /// <summary>A translator in use; dispose it when the request is done with it.</summary>
    public sealed class Lease(Pix2PixTranslator translator, Action release) : IDisposable
    {
        private int released;
        public Pix2PixTranslator Translator { get; } = translator;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref released, 1) == 0) release();
        }
    }
}
