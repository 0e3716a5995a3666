using System.Data.Common;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Pix2Pix.Infrastructure.Persistence;

namespace Pix2Pix.Infrastructure.Jobs;

/// <summary>Retries database work of a training job through outages (a PostgreSQL restart or failover), with backoff.</summary>
internal sealed class Resilient(TimeSpan window, ILogger logger)
{
    public async Task<T> RunAsync<T>(string what, Func<Task<T>> action, CancellationToken cancellationToken = default)
    {
        var deadline = DateTime.UtcNow + window;
        var delay = TimeSpan.FromMilliseconds(500);
        while (true)
        {
            try
            {
                return await action();
            }
            catch (Exception e) when (IsTransient(e) && DateTime.UtcNow < deadline)
            {
                logger.LogWarning("{What} failed ({Error}); retrying in {Delay:F1} s", what, e.Message, delay.TotalSeconds);
                await Task.Delay(delay, cancellationToken);
                delay = TimeSpan.FromSeconds(Math.Min(10, delay.TotalSeconds * 2));
            }
        }
    }

    public Task RunAsync(string what, Func<Task> action, CancellationToken cancellationToken = default) =>
        RunAsync(what, async () => { await action(); return true; }, cancellationToken);

    public static bool IsTransient(Exception e) => e switch
    {
        LeaseLostException => false,
        Npgsql.NpgsqlException or SocketException or TimeoutException or IOException => true,
        Microsoft.Data.Sqlite.SqliteException sqlite => sqlite.SqliteErrorCode is 5 or 6, // SQLITE_BUSY, SQLITE_LOCKED
        DbException db => db.IsTransient,
        InvalidOperationException { InnerException: { } inner } => IsTransient(inner),
        _ => false,
    };
}
