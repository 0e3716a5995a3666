using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Pix2Pix.Infrastructure.Serving;

using Pix2Pix.Infrastructure.Telemetry;

namespace Pix2Pix.Api.Tests;

/// <summary>The batcher on a fake model whose forward the test holds and releases.</summary>
public sealed class InferenceExecutorTests : IDisposable
{
    private readonly ServiceMetrics metrics = new(new TestMeterFactory());
    private readonly ConcurrentQueue<IReadOnlyList<object>> batches = new();
    private readonly SemaphoreSlim forwardMayRun = new(0);
    private readonly SemaphoreSlim forwardStarted = new(0);
    private InferenceExecutor? executor;

    private InferenceExecutor Start(int maxBatch = 8, int maxQueue = 32, TimeSpan? delay = null, TimeSpan? timeout = null) =>
        executor = new InferenceExecutor(Options.Create(new InferenceOptions
        {
            MaxBatch = maxBatch, MaxQueue = maxQueue, MaxBatchDelay = delay ?? TimeSpan.Zero, QueueTimeout = timeout ?? TimeSpan.FromSeconds(30),
        }), metrics, TimeProvider.System, NullLogger<InferenceExecutor>.Instance);

    /// <summary>Doubles each input, after the test lets it.</summary>
    private IReadOnlyList<object> HeldForward(IReadOnlyList<object> inputs)
    {
        batches.Enqueue(inputs);
        forwardStarted.Release();
        Assert.True(forwardMayRun.Wait(TimeSpan.FromSeconds(30)));
        return inputs.Select(i => (object)((int)i * 2)).ToList();
    }

    private Task<object> Submit(object key, int input, CancellationToken cancellationToken = default, InferenceExecutor.Arrival? arrival = null) =>
        executor!.RunAsync(key, input, HeldForward, cancellationToken, arrival);

    [Fact]
    public async Task RequestsWaitingTogether_ForTheSameKey_ShareOneForwardInOrder()
    {
        Start(maxBatch: 3);
        var first = Submit("model-a", 1);
        Assert.True(await forwardStarted.WaitAsync(TimeSpan.FromSeconds(10)));
        var waiting = new[] { Submit("model-a", 2), Submit("model-b", 3), Submit("model-a", 4), Submit("model-a", 5), Submit("model-a", 6) };

        forwardMayRun.Release(10);
        var results = await Task.WhenAll(waiting.Prepend(first));

        Assert.Equal([2, 4, 6, 8, 10, 12], results.Cast<int>());
        Assert.Equal([[1], [2, 4, 5], [3], [6]], batches.Select(b => b.Cast<int>().ToArray()));
    }

    [Fact]
    public async Task IdleExecutor_WaitsForARequestOnItsWayWithinTheBatchDelay()
    {
        Start(maxBatch: 2, delay: TimeSpan.FromSeconds(30));
        forwardMayRun.Release(10);
        var onItsWay = executor!.Arrive(); // still reading its body
        var first = Submit("model-a", 1);
        await Task.Delay(100);
        var second = Submit("model-a", 2, arrival: onItsWay); // fills the batch: it runs at once, long before the delay is over

        Assert.Equal([2, 4], (await Task.WhenAll(first, second).WaitAsync(TimeSpan.FromSeconds(20))).Cast<int>());
        Assert.Equal([[1, 2]], batches.Select(b => b.Cast<int>().ToArray()));
    }

    [Fact]
    public async Task LoneRequest_NobodyOnTheWay_RunsWithoutWaitingOutTheBatchDelay()
    {
        Start(delay: TimeSpan.FromSeconds(60));
        forwardMayRun.Release(10);

        Assert.Equal(2, await Submit("model-a", 1).WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.Equal([[1]], batches.Select(b => b.Cast<int>().ToArray()));
    }

    [Fact]
    public async Task LoneRequest_ACompanionThatNeverComes_RunsAloneOnceTheBatchDelayIsOver()
    {
        Start(delay: TimeSpan.FromMilliseconds(300));
        forwardMayRun.Release(10);
        using var failsToDecode = executor!.Arrive();
        var started = DateTime.UtcNow;

        Assert.Equal(2, await Submit("model-a", 1).WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.True(DateTime.UtcNow - started >= TimeSpan.FromMilliseconds(250), "it did not wait for the request on its way");
        Assert.Equal([[1]], batches.Select(b => b.Cast<int>().ToArray()));
    }

    [Fact]
    public void Arrive_QueueFull_RefusedBeforeTheBodyIsRead()
    {
        Start(maxQueue: 1);
        _ = Submit("model-a", 1); // held in its forward or waiting: the queue counts it until the forward starts
        if (!forwardStarted.Wait(TimeSpan.FromSeconds(10))) throw new TimeoutException();
        _ = Submit("model-a", 2);

        Assert.Equal("queue_full", Assert.Throws<ServiceBusyException>(() => executor!.Arrive()).Reason);
    }

    [Fact]
    public async Task QueueFull_RefusedAtOnce()
    {
        Start(maxQueue: 2);
        var running = Submit("model-a", 1);
        Assert.True(await forwardStarted.WaitAsync(TimeSpan.FromSeconds(10)));
        var queued = new[] { Submit("model-a", 2), Submit("model-a", 3) };

        var refused = Assert.Throws<ServiceBusyException>(() => { _ = Submit("model-a", 4); }); // synchronously: nothing is queued

        Assert.Equal("queue_full", refused.Reason);
        forwardMayRun.Release(10);
        await Task.WhenAll(queued.Append(running));
    }

    [Fact]
    public async Task WaitedLongerThanTheTimeout_RefusedWithoutRunning()
    {
        Start(timeout: TimeSpan.FromMilliseconds(100));
        var running = Submit("model-a", 1);
        Assert.True(await forwardStarted.WaitAsync(TimeSpan.FromSeconds(10)));
        var late = Submit("model-a", 2);
        await Task.Delay(300);
        forwardMayRun.Release(10);

        var refused = await Assert.ThrowsAsync<ServiceBusyException>(() => late);
        Assert.Equal("timeout", refused.Reason);
        await running;
        Assert.Equal([[1]], batches.Select(b => b.Cast<int>().ToArray()));
    }

    [Fact]
    public async Task CallerGoneBeforeItsTurn_NeverRuns()
    {
        Start();
        var running = Submit("model-a", 1);
        Assert.True(await forwardStarted.WaitAsync(TimeSpan.FromSeconds(10)));
        using var gone = new CancellationTokenSource();
        var abandoned = Submit("model-a", 2, gone.Token);
        var kept = Submit("model-a", 3);
        await gone.CancelAsync();
        forwardMayRun.Release(10);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => abandoned);
        Assert.Equal(6, await kept);
        await running;
        Assert.DoesNotContain(batches, b => b.Contains(2));
    }

    public void Dispose()
    {
        forwardMayRun.Release(100);
        executor?.Dispose();
        metrics.Dispose();
    }

    private sealed class TestMeterFactory : IMeterFactory
    {
        private readonly List<Meter> meters = [];

        public Meter Create(MeterOptions options)
        {
            var meter = new Meter(options);
            meters.Add(meter);
            return meter;
        }

        public void Dispose() => meters.ForEach(m => m.Dispose());
    }
}
