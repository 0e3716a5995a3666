using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using Pix2Pix.Domain.Service;
using Pix2Pix.Infrastructure.Persistence;

namespace Pix2Pix.Api.Endpoints;

/// <summary>
/// What <c>GET /jobs/{id}/events</c> streams, read from the job's rows once a second: <c>job</c> (the job as
/// <c>GET /jobs/{id}</c> answers it, on connect and whenever it changes), <c>losses</c> (the iterations logged since the
/// last event; its id is the last iteration, so a client reconnecting with <c>Last-Event-ID</c> misses none and gets
/// none twice), <c>snapshot</c> (each snapshot once, with its metrics and image URL), and <c>end</c> when the job has
/// finished (the stream then closes).
/// </summary>
public static class JobEvents
{
    public const string Job = "job", Losses = "losses", Snapshot = "snapshot", End = "end";

    /// <summary>A stream ends after this long (EventSource reconnects with Last-Event-ID), so no connection lives forever.</summary>
    private static readonly TimeSpan MaxStreamDuration = TimeSpan.FromMinutes(30);
    private const int MaxIterationsPerEvent = 5_000;

    public static async IAsyncEnumerable<SseItem<object>> StreamAsync(Guid jobId, long afterIteration, JobStore jobs, TimeProvider time, TimeSpan interval,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        DateTimeOffset? lastUpdate = null;
        var sentSnapshots = new HashSet<int>();
        long lastIteration = afterIteration;
        long started = time.GetTimestamp();
        while (!cancellationToken.IsCancellationRequested && time.GetElapsedTime(started) < MaxStreamDuration)
        {
            var job = await jobs.GetAsync(jobId, cancellationToken);
            if (job.UpdatedAt != lastUpdate)
            {
                lastUpdate = job.UpdatedAt;
                yield return new SseItem<object>(JobResponse.From(job), Job);
            }
            while (true)
            {
                var iterations = await jobs.IterationsAsync(jobId, lastIteration, MaxIterationsPerEvent, cancellationToken);
                if (iterations.Count == 0) break;
                lastIteration = iterations[^1].Iteration;
                yield return new SseItem<object>(iterations.Select(JobsApi.ToResponse).ToList(), Losses) { EventId = lastIteration.ToString(System.Globalization.CultureInfo.InvariantCulture) };
                if (iterations.Count < MaxIterationsPerEvent) break;
            }
            foreach (var snapshot in await jobs.SnapshotsAsync(jobId, cancellationToken))
                if (sentSnapshots.Add(snapshot.Epoch)) yield return new SseItem<object>(JobsApi.ToResponse(jobId, snapshot), Snapshot);
            if (job.IsFinished)
            {
                yield return new SseItem<object>(new { status = job.Status }, End);
                yield break;
            }
            await Task.Delay(interval, time, cancellationToken);
        }
    }
}
