using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Pix2Pix.Domain.Inference;
using Pix2Pix.Infrastructure.Telemetry;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace Pix2Pix.Infrastructure.Serving;

/// <summary>The request was not run: the queue was full, or it waited too long. Answered 503 with Retry-After.</summary>
public sealed class ServiceBusyException(string reason, string message) : Exception(message)
{
    /// <summary><c>queue_full</c> or <c>timeout</c> (the metric's label).</summary>
    public string Reason { get; } = reason;

    public static readonly TimeSpan RetryAfter = TimeSpan.FromSeconds(1);
}

/// <summary>
/// Runs every forward pass of the process, one at a time, on a thread of its own (libtorch already uses every core
/// within one forward; concurrent forwards only compete for them). Requests for the same model version that reach the
/// generator at the same size and wait together are gathered into one batch of up to <c>Inference:MaxBatch</c>; when
/// the executor is idle a request waits at most <c>Inference:MaxBatchDelay</c> for company, and only while other
/// requests are on their way (admitted by <see cref="Arrive"/>, still reading or preparing their images): a lone request
/// never waits. The queue is bounded (<c>Inference:MaxQueue</c>): beyond it, and for requests that waited longer than
/// <c>Inference:QueueTimeout</c>, <see cref="ServiceBusyException"/>. A request whose caller has gone is dropped before
/// its forward. Decoding, resizing and encoding stay on the request threads.
/// </summary>
public sealed class InferenceExecutor : IDisposable
{
    private readonly Channel<Work> incoming = Channel.CreateUnbounded<Work>(new UnboundedChannelOptions { SingleReader = true });
    private readonly InferenceOptions settings;
    private readonly ServiceMetrics metrics;
    private readonly TimeProvider time;
    private readonly ILogger<InferenceExecutor> logger;
    private readonly Thread loop;
    private int queued;
    private int arriving;

    public InferenceExecutor(IOptions<InferenceOptions> options, ServiceMetrics metrics, TimeProvider time, ILogger<InferenceExecutor> logger)
    {
        settings = options.Value;
        this.metrics = metrics;
        this.time = time;
        this.logger = logger;
        loop = new Thread(Run) { IsBackground = true, Name = "inference executor" };
        loop.Start();
    }

    /// <summary>
    /// Admits a request before it reads and decodes its body, refusing at once while the queue is full: under a flood,
    /// rejecting must cost less than serving (<see cref="RunAsync"/> checks again, so a race only lets a request be
    /// refused later). Until the arrival is handed to <see cref="TranslateAsync"/> or disposed, the request is on its way,
    /// and an idle executor may wait for it to batch with.
    /// </summary>
    public Arrival Arrive()
    {
        if (Volatile.Read(ref queued) >= settings.MaxQueue)
        {
            metrics.TranslateRejected("queue_full");
            throw QueueFull();
        }
        Interlocked.Increment(ref arriving);
        return new Arrival(this);
    }

    /// <summary>A request on its way to the queue (<see cref="Arrive"/>); disposing it, more than once too, ends that.</summary>
    public sealed class Arrival(InferenceExecutor executor) : IDisposable
    {
        private int ended;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref ended, 1) == 0) Interlocked.Decrement(ref executor.arriving);
        }
    }

    private ServiceBusyException QueueFull() =>
        new("queue_full", $"The translate queue is full ({settings.MaxQueue} requests waiting, Inference:MaxQueue); retry shortly.");

    /// <summary>
    /// Translates on the executor: the image is prepared (resized, converted) and finished (converted back, resized,
    /// left to encode) on the caller's thread, so those stages overlap other requests' forward passes; only the
    /// generator runs here. Requests that reach the generator at the same size share a batch, whatever their fit mode.
    /// An image translated tile by tile runs whole and alone.
    /// </summary>
    public async Task<Image<Rgb24>> TranslateAsync(Pix2PixTranslator translator, Image<Rgb24> image, FitMode fit, CancellationToken cancellationToken,
        Arrival? arrival = null)
    {
        if (translator.RunsTiled(image, fit))
            return (Image<Rgb24>)await RunAsync(new object(), image,
                inputs => translator.TranslateBatch([(Image<Rgb24>)inputs[0]], fit).Cast<object>().ToList(), cancellationToken, arrival);
        var prepared = translator.Prepare(image, fit);
        var output = (float[])await RunAsync((translator, prepared.NetworkSize), prepared,
            inputs => translator.Forward(inputs.Cast<PreparedImage>().ToList()).Cast<object>().ToList(), cancellationToken, arrival);
        return translator.Finish(prepared, output);
    }

    /// <summary>
    /// Queues <paramref name="input"/>; requests with an equal <paramref name="key"/> may share one call of the
    /// <paramref name="forward"/> of the first of them, which maps a batch of inputs to their outputs in order.
    /// </summary>
    public Task<object> RunAsync(object key, object input, Func<IReadOnlyList<object>, IReadOnlyList<object>> forward, CancellationToken cancellationToken,
        Arrival? arrival = null)
    {
        arrival?.Dispose();
        if (Interlocked.Increment(ref queued) > settings.MaxQueue)
        {
            Interlocked.Decrement(ref queued);
            metrics.TranslateRejected("queue_full");
            throw QueueFull();
        }
        // Cancellation is seen by the executor, not here: the caller keeps its model lease until the executor is done with it.
        var work = new Work(key, input, forward, cancellationToken, time.GetTimestamp());
        if (!incoming.Writer.TryWrite(work))
        {
            Interlocked.Decrement(ref queued);
            throw new ObjectDisposedException(nameof(InferenceExecutor));
        }
        return work.Completion.Task;
    }

    private void Run()
    {
        var waiting = new List<Work>();
        while (true)
        {
            if (waiting.Count == 0 && !WaitForWork(Timeout.InfiniteTimeSpan)) break;
            Drain(waiting);
            DropStale(waiting);
            if (waiting.Count == 0) continue;

            var first = waiting[0];
            var batch = Gather(waiting, first);
            var delayLeft = settings.MaxBatchDelay - time.GetElapsedTime(first.EnqueuedAt);
            while (batch.Count < settings.MaxBatch && delayLeft > TimeSpan.Zero && Volatile.Read(ref arriving) > 0 && WaitForWork(delayLeft))
            {
                Drain(waiting);
                batch = Gather(waiting, first);
                delayLeft = settings.MaxBatchDelay - time.GetElapsedTime(first.EnqueuedAt);
            }
            foreach (var work in batch) waiting.Remove(work);
            Interlocked.Add(ref queued, -batch.Count);
            Execute(batch);
        }
        foreach (var work in waiting) work.Completion.TrySetException(new ObjectDisposedException(nameof(InferenceExecutor)));
    }

    /// <returns>False once the executor is disposed and nothing is left to read.</returns>
    private bool WaitForWork(TimeSpan timeout)
    {
        var ready = incoming.Reader.WaitToReadAsync().AsTask();
        return ready.Wait(timeout) ? ready.Result : true;
    }

    private void Drain(List<Work> waiting)
    {
        while (incoming.Reader.TryRead(out var work)) waiting.Add(work);
    }

    /// <summary>Requests whose callers have gone or that waited too long never reach a forward.</summary>
    private void DropStale(List<Work> waiting)
    {
        int dropped = waiting.RemoveAll(work =>
        {
            if (work.Cancellation.IsCancellationRequested)
            {
                work.Completion.TrySetCanceled(work.Cancellation);
                return true;
            }
            if (time.GetElapsedTime(work.EnqueuedAt) <= settings.QueueTimeout) return false;
            metrics.TranslateRejected("timeout");
            work.Completion.TrySetException(new ServiceBusyException("timeout",
                $"The request waited longer than {settings.QueueTimeout.TotalSeconds:0.#} s for its turn (Inference:QueueTimeout); retry shortly."));
            return true;
        });
        Interlocked.Add(ref queued, -dropped);
    }

    private List<Work> Gather(List<Work> waiting, Work first) =>
        waiting.Where(w => Equals(w.Key, first.Key)).Take(settings.MaxBatch).ToList();

    private void Execute(List<Work> batch)
    {
        foreach (var work in batch) metrics.TranslateQueueWait(time.GetElapsedTime(work.EnqueuedAt).TotalSeconds);
        var started = time.GetTimestamp();
        try
        {
            var outputs = batch[0].Forward(batch.Select(w => w.Input).ToList());
            for (int i = 0; i < batch.Count; i++)
                batch[i].Completion.TrySetResult(outputs[i]);
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "A forward pass of {Count} image(s) failed", batch.Count);
            foreach (var work in batch) work.Completion.TrySetException(e);
        }
        finally
        {
            metrics.TranslateCompute(time.GetElapsedTime(started).TotalSeconds, batch.Count);
        }
    }

    public void Dispose()
    {
        incoming.Writer.TryComplete();
        loop.Join(TimeSpan.FromSeconds(30));
    }

    private sealed class Work(object key, object input, Func<IReadOnlyList<object>, IReadOnlyList<object>> forward, CancellationToken cancellation, long enqueuedAt)
    {
        public object Key { get; } = key;
        public object Input { get; } = input;
        public Func<IReadOnlyList<object>, IReadOnlyList<object>> Forward { get; } = forward;
        public CancellationToken Cancellation { get; } = cancellation;
        public long EnqueuedAt { get; } = enqueuedAt;
        public TaskCompletionSource<object> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
