using System.Data.Common;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Pix2Pix.Infrastructure.Persistence;
using Polly;
using Polly.Retry;

namespace Pix2Pix.Infrastructure.Jobs;

/// <summary>
/// Retries a training job's database work through outages (a PostgreSQL restart or failover): waits of 0.5 s doubling
/// to 10 s, for about <see cref="WorkerOptions.DatabaseRetryWindow"/>. A lost lease is never retried.
/// </summary>
public sealed class DatabaseRetry
{
    private static readonly TimeSpan FirstDelay = TimeSpan.FromMilliseconds(500), LongestDelay = TimeSpan.FromSeconds(10);
    private readonly ResiliencePipeline pipeline;

    public DatabaseRetry(IOptions<WorkerOptions> options, TimeProvider time, ILogger<DatabaseRetry> logger)
    {
        pipeline = new ResiliencePipelineBuilder { TimeProvider = time }
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<Exception>(IsTransient),
                BackoffType = DelayBackoffType.Exponential,
                Delay = FirstDelay,
                MaxDelay = LongestDelay,
                UseJitter = false,
                MaxRetryAttempts = RetriesWithin(options.Value.DatabaseRetryWindow),
                OnRetry = retry =>
                {
                    logger.LogWarning("{What} failed ({Error}); retrying in {Delay:F1} s", retry.Context.OperationKey,
                        retry.Outcome.Exception?.Message, retry.RetryDelay.TotalSeconds);
                    return default;
                },
            })
            .Build();
    }

    public async Task<T> RunAsync<T>(string what, Func<CancellationToken, Task<T>> action, CancellationToken cancellationToken = default)
    {
        var context = ResilienceContextPool.Shared.Get(what, cancellationToken);
        try
        {
            return await pipeline.ExecuteAsync(static async (context, action) => await action(context.CancellationToken), context, action);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    public Task RunAsync(string what, Func<CancellationToken, Task> action, CancellationToken cancellationToken = default) =>
        RunAsync(what, async token => { await action(token); return true; }, cancellationToken);

    public static bool IsTransient(Exception e) => e switch
    {
        LeaseLostException => false,
        Npgsql.NpgsqlException or SocketException or TimeoutException or IOException => true,
        Microsoft.Data.Sqlite.SqliteException sqlite => sqlite.SqliteErrorCode is 5 or 6, // SQLITE_BUSY, SQLITE_LOCKED
        DbException db => db.IsTransient,
        InvalidOperationException { InnerException: { } inner } => IsTransient(inner),
        _ => false,
    };

    /// <summary>How many retries of the doubling, capped backoff it takes for their waits to cover <paramref name="window"/>.</summary>
    internal static int RetriesWithin(TimeSpan window)
    {
        int retries = 0;
        for (var (waited, delay) = (TimeSpan.Zero, FirstDelay); waited < window; retries++)
        {
            waited += delay;
            delay = delay * 2 < LongestDelay ? delay * 2 : LongestDelay;
        }
        return Math.Max(1, retries);
    }
}
