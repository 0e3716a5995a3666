using System.IO.Compression;
using Hangfire;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Pix2Pix.Domain.Data;
using Pix2Pix.Domain.Inference;
using Pix2Pix.Domain.Service;
using Pix2Pix.Infrastructure.Persistence;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.PixelFormats;

namespace Pix2Pix.Infrastructure.Serving;

/// <summary>
/// Runs a batch translation from its own Hangfire queue, one batch at a time per process: on the workers in cluster
/// mode, in the API process in the embedded default. It goes through the process's executor: in the API its forwards
/// batch with live requests', and when the executor is full it waits its turn (Retry-After) instead of crowding out
/// interactive callers. A batch restarted after a crash starts over (its result
/// is written only at the end).
/// </summary>
public sealed class BatchTranslationRunner(
    BatchStore batches, ModelStore models, IBlobStore blobs, TranslatorCache cache, InferenceExecutor executor, IOptions<StorageOptions> storage,
    IOptions<UploadOptions> uploads, TimeProvider time, ILogger<BatchTranslationRunner> logger)
{
    public const string Queue = "translate-batch";
    private static readonly TimeSpan ProgressInterval = TimeSpan.FromSeconds(1);
    private static readonly PngEncoder Png = new() { CompressionLevel = PngCompressionLevel.BestSpeed };

    [Queue(Queue)]
    [AutomaticRetry(Attempts = 0)] // a batch that fails ends Failed with the reason; only an interrupted one runs again
    [JobDisplayName("Translate batch {0}")]
    public async Task RunAsync(Guid batchId, CancellationToken shutdown)
    {
        var batch = await batches.FindAsync(batchId, shutdown);
        if (batch is null || batch.IsFinished) return;
        if (!await batches.StartAsync(batchId, shutdown))
        {
            // Cancelled while it ran, then delivered again (a restart): it ends here.
            if (batch.CancelRequested) await batches.FinishAsync(batchId, JobStatus.Cancelled, null, null, CancellationToken.None);
            return;
        }
        var work = Path.Combine(storage.Value.WorkDirectory, "batches", batchId.ToString("N"));
        try
        {
            var images = await UnpackAsync(batch, work, shutdown);
            var version = await models.ResolveVersionAsync(batch.ModelId, batch.Version, shutdown);
            using var lease = await cache.AcquireAsync(version, shutdown);
            var resultPath = Path.Combine(work, "result.zip");
            int done = 0;
            long lastReport = time.GetTimestamp();
            await using (var result = File.Create(resultPath))
            using (var zip = new ZipArchive(result, ZipArchiveMode.Create))
                foreach (var name in images)
                {
                    using var input = await Image.LoadAsync<Rgb24>(Path.Combine(work, "images", name), shutdown);
                    using var output = await TranslateWhenThereIsRoomAsync(lease.Translator, input, batch.Mode, shutdown);
                    await using (var entry = zip.CreateEntry(Path.ChangeExtension(name, ".png"), CompressionLevel.NoCompression).Open())
                        await output.SaveAsPngAsync(entry, Png, shutdown);
                    done++;
                    if (time.GetElapsedTime(lastReport) < ProgressInterval && done < images.Count) continue;
                    lastReport = time.GetTimestamp();
                    if (await batches.ReportProgressAsync(batchId, done, shutdown))
                    {
                        await batches.FinishAsync(batchId, JobStatus.Cancelled, null, null, CancellationToken.None);
                        logger.LogInformation("Batch {BatchId} cancelled after {Done} of {Total} images", batchId, done, images.Count);
                        return;
                    }
                }
            var key = BlobKeys.BatchResult(batchId);
            await blobs.PutFileAsync(key, resultPath, "application/zip", shutdown);
            await batches.FinishAsync(batchId, JobStatus.Succeeded, null, key, CancellationToken.None);
            logger.LogInformation("Batch {BatchId}: {Total} images translated by model {ModelId} version {Version}", batchId, images.Count, batch.ModelId, batch.Version);
        }
        catch (Exception e) when (!(e is OperationCanceledException && shutdown.IsCancellationRequested))
        {
            // Its version deleted, its package refused, the blob store down: the batch ends Failed with the reason
            // (a stopping process leaves it Running instead, to be delivered again).
            await batches.FinishAsync(batchId, JobStatus.Failed, e.Message, null, CancellationToken.None);
            logger.LogWarning(e, "Batch {BatchId} failed: {Error}", batchId, e.Message);
        }
        finally
        {
            if (Directory.Exists(work)) Directory.Delete(work, recursive: true);
        }
    }

    private async Task<IReadOnlyList<string>> UnpackAsync(BatchJob batch, string work, CancellationToken cancellationToken)
    {
        if (Directory.Exists(work)) Directory.Delete(work, recursive: true);
        Directory.CreateDirectory(work);
        var archive = Path.Combine(work, "input.zip");
        await using (var source = await blobs.OpenReadAsync(batch.InputBlobKey, cancellationToken)
            ?? throw new NotFoundException($"The images of batch {batch.Id} are missing from blob storage."))
        await using (var target = File.Create(archive))
            await source.CopyToAsync(target, cancellationToken);
        var limits = uploads.Value.ToArchiveLimits();
        await using (var zip = File.OpenRead(archive)) DatasetArchive.Extract(zip, Path.Combine(work, "images"), limits);
        return DatasetArchive.ImagesToTranslate(Path.Combine(work, "images"), limits.Images, checkImages: false);
    }

    private async Task<Image<Rgb24>> TranslateWhenThereIsRoomAsync(Pix2PixTranslator translator, Image<Rgb24> image, FitMode mode, CancellationToken cancellationToken)
    {
        while (true)
        {
            try
            {
                return await executor.TranslateAsync(translator, image, mode, cancellationToken);
            }
            catch (ServiceBusyException)
            {
                await Task.Delay(ServiceBusyException.RetryAfter, time, cancellationToken);
            }
        }
    }
}
