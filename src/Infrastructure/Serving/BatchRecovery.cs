using Hangfire;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Pix2Pix.Infrastructure.Persistence;

namespace Pix2Pix.Infrastructure.Serving;

/// <summary>
/// Embedded mode: the queue lived in memory, so batch translations that were queued or running when the process
/// stopped are queued again at start (they start over). With PostgreSQL, Hangfire's own storage delivers them again.
/// </summary>
internal sealed class BatchRecovery(Database database, BatchStore batches, IBackgroundJobClient queue, ILogger<BatchRecovery> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (database.IsPostgreSql) return;
        foreach (var batch in await batches.UnfinishedAsync(stoppingToken))
        {
            logger.LogInformation("Batch {BatchId} was unfinished when the process stopped; queued again", batch.Id);
            queue.Enqueue<BatchTranslationRunner>(runner => runner.RunAsync(batch.Id, CancellationToken.None));
        }
    }
}
