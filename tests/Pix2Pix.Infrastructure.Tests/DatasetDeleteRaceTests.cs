using Dapper;
using Pix2Pix.Domain.Service;
using Pix2Pix.Domain.Training;

namespace Pix2Pix.Infrastructure.Tests;

/// <summary>On PostgreSQL (READ COMMITTED), where each transaction's check-then-write could interleave with the other's.</summary>
public sealed class DatasetDeleteRaceTests(PostgresServer postgres) : IClassFixture<PostgresServer>
{
    [Fact]
    public async Task DeleteDatasetAndCreateJobOnIt_Concurrently_ExactlyOneSucceeds()
    {
        await using var harness = await Harness.StartAsync(await postgres.CreateDatabaseAsync());
        var dataset = await harness.AddDatasetAsync(TestArchives.Dataset(train: 2, val: 0));
        var model = await harness.Models.GetOrCreateAsync("raced");

        // A third transaction holds the jobs table against writes: the job's INSERT waits after its dataset check has
        // passed, and the delete runs its own check meanwhile — the interleaving that lets both commit without row locks.
        await using var blocker = await harness.Database.OpenAsync();
        await using var block = await blocker.BeginTransactionAsync();
        await blocker.ExecuteAsync("LOCK TABLE jobs IN EXCLUSIVE MODE", transaction: block);
        var create = Task.Run(() => harness.Jobs.CreateAsync(model.Id, dataset.Id, new TrainingRecipe()));
        await WaitUntilWaitingAsync(harness, "INSERT INTO jobs");
        var delete = Task.Run(() => harness.Datasets.DeleteAsync(dataset.Id));
        await Task.WhenAny(delete, Task.Delay(TimeSpan.FromSeconds(1)));
        await block.RollbackAsync();

        var created = await Outcome(create);
        var deleted = await Outcome(delete);
        Assert.True(created ^ deleted, $"job created: {created}, dataset deleted: {deleted}");
        Assert.True(created, "the job, first to check, should win");
        await Assert.ThrowsAsync<ConflictException>(() => delete);
    }

    private static async Task<bool> Outcome(Task task)
    {
        try
        {
            await task;
            return true;
        }
        catch (Exception e) when (e is NotFoundException or ConflictException)
        {
            return false;
        }
    }

    private static async Task WaitUntilWaitingAsync(Harness harness, string statement)
    {
        await using var connection = await harness.Database.OpenAsync();
        for (var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20); DateTime.UtcNow < deadline; await Task.Delay(50))
        {
            var waiting = await connection.ExecuteScalarAsync<long>(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE @pattern", new { pattern = $"%{statement}%" });
            if (waiting > 0) return;
        }
        throw new TimeoutException($"No transaction waited on '{statement}'.");
    }
}
