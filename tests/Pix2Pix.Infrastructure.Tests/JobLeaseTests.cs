using Pix2Pix.Domain.Service;
using Pix2Pix.Domain.Training;
using Pix2Pix.Infrastructure.Jobs;
using Pix2Pix.Infrastructure.Persistence;

namespace Pix2Pix.Infrastructure.Tests;

public sealed class JobLeaseTests
{
    private static readonly TimeSpan Duration = TimeSpan.FromSeconds(30);

    private static IterationProgress Progress(long iteration) =>
        new(1, 1, (int)iteration, 10, iteration, 10, 2e-4, new StepLosses(0.7, 10, 0.6, 0.6), 3);

    [Fact]
    public async Task TryAcquire_HeldLease_RefusedUntilItExpiresThenTheNextTokenIsLarger()
    {
        await using var harness = await Harness.StartAsync();
        var job = await harness.AddJobAsync();

        var first = await harness.Leases.TryAcquireAsync(job.Id, "worker-1", Duration);
        var whileHeld = await harness.Leases.TryAcquireAsync(job.Id, "worker-2", Duration);
        harness.Time.Advance(Duration + TimeSpan.FromSeconds(1));
        var second = await harness.Leases.TryAcquireAsync(job.Id, "worker-2", Duration);

        Assert.NotNull(first);
        Assert.Null(whileHeld);
        Assert.NotNull(second);
        Assert.True(second.Token > first.Token);
        Assert.Equal(1, second.Failures); // a lease that expired while held is a failed attempt
    }

    [Fact]
    public async Task FencedWrites_WithAnOldToken_AreRefused()
    {
        await using var harness = await Harness.StartAsync();
        var job = await harness.AddJobAsync();
        var old = (await harness.Leases.TryAcquireAsync(job.Id, "worker-1", Duration))!;
        harness.Time.Advance(Duration * 2);
        var current = (await harness.Leases.TryAcquireAsync(job.Id, "worker-2", Duration))!;

        await Assert.ThrowsAsync<LeaseLostException>(() => harness.Jobs.ReportProgressAsync(old, Progress(1), [ToRecord(Progress(1))]));
        await Assert.ThrowsAsync<LeaseLostException>(() => harness.Jobs.SetCheckpointAsync(old, "jobs/x/checkpoint-000001.zip"));
        Assert.False(await harness.Leases.RenewAsync(old, Duration));
        Assert.False(await harness.Jobs.ReportProgressAsync(current, Progress(2), [ToRecord(Progress(2))]));

        var stored = await harness.Jobs.GetAsync(job.Id);
        Assert.Equal(2, stored.Iteration);
        Assert.Equal([2L], (await harness.Jobs.IterationsAsync(job.Id, 0, 10)).Select(i => i.Iteration));
    }

    [Fact]
    public async Task ReportProgress_AfterCancelIsAsked_ReturnsTheFlag()
    {
        await using var harness = await Harness.StartAsync();
        var job = await harness.AddJobAsync();
        var lease = (await harness.Leases.TryAcquireAsync(job.Id, "worker-1", Duration))!;

        Assert.False(await harness.Jobs.ReportProgressAsync(lease, Progress(1), [ToRecord(Progress(1))]));
        await harness.Jobs.RequestCancelAsync(job.Id);
        Assert.True(await harness.Jobs.ReportProgressAsync(lease, Progress(2), [ToRecord(Progress(2))]));
    }

    [Fact]
    public async Task Watchdog_SilentJob_QueuedAgainOncePerLeaseDuration()
    {
        await using var harness = await Harness.StartAsync();
        var job = await harness.AddJobAsync();
        await harness.Leases.TryAcquireAsync(job.Id, "worker-that-dies", Duration);
        var queue = new RecordingQueue();
        var watchdog = harness.Watchdog(queue);

        Assert.Empty(await watchdog.RequeueSilentJobsAsync(CancellationToken.None)); // still renewing as far as anyone knows
        harness.Time.Advance(Duration + TimeSpan.FromSeconds(1));
        var first = await watchdog.RequeueSilentJobsAsync(CancellationToken.None);
        var second = await watchdog.RequeueSilentJobsAsync(CancellationToken.None);
        harness.Time.Advance(Duration / 2);
        var third = await watchdog.RequeueSilentJobsAsync(CancellationToken.None);

        Assert.Equal([job.Id], first);
        Assert.Empty(second);
        Assert.Empty(third);
        var queued = Assert.Single(queue.Created);
        Assert.Equal(nameof(TrainingJobRunner.RunAsync), queued.Method.Name);
        Assert.Equal(job.Id, queued.Args[0]);
    }

    [Fact]
    public async Task Watchdog_JobWrittenButNeverQueued_QueuedOnceAfterTheGrace_QueuedJobsLeftAlone()
    {
        await using var harness = await Harness.StartAsync();
        var stranded = await harness.AddJobAsync(); // its creator stopped before queueing it
        var queuedNormally = await harness.AddJobAsync();
        await harness.Jobs.MarkEnqueuedAsync(queuedNormally.Id);
        var queue = new RecordingQueue();
        var watchdog = harness.Watchdog(queue);

        Assert.Empty(await watchdog.EnqueueStrandedJobsAsync(CancellationToken.None)); // its creator may still be about to queue it
        harness.Time.Advance(Duration + TimeSpan.FromSeconds(1));
        var first = await watchdog.EnqueueStrandedJobsAsync(CancellationToken.None);
        var second = await watchdog.EnqueueStrandedJobsAsync(CancellationToken.None);

        Assert.Equal([stranded.Id], first);
        Assert.Empty(second);
        Assert.Equal(stranded.Id, Assert.Single(queue.Created).Args[0]);
    }

    [Fact]
    public async Task Job_StoredInTheFormatBeforeTheRecipeType_Loads()
    {
        await using var harness = await Harness.StartAsync();
        var job = await harness.AddJobAsync();
        // Written by TrainRequestOptions (every field, enums as the reference spells them), and an older one with fewer fields.
        const string full = """
            {"direction":"BtoA","epochs":3,"decayEpochs":1,"lrPolicy":"cosine","lrStepEpochs":50,"batchSize":2,"learningRate":0.0002,"beta1":0.5,
            "beta2":0.999,"lambdaL1":100,"generator":"unet_32","discriminator":"n_layers","discriminatorLayers":2,"norm":"instance","inputChannels":1,
            "outputChannels":3,"generatorFilters":16,"discriminatorFilters":16,"dropout":false,"ganMode":"lsgan","loadSize":36,"cropSize":32,
            "preprocess":"scale_width","flip":false,"seed":5,"snapshotEvery":1,"checkpointEvery":5,"snapshotImages":2,"inferenceMode":"paper"}
            """;
        const string sparse = """{"direction":"AtoB","epochs":1,"decayEpochs":0,"generator":"unet_64"}""";
        await using (var connection = await harness.Database.OpenAsync())
        {
            await Dapper.SqlMapper.ExecuteAsync(connection, "UPDATE jobs SET options = @full WHERE id = @id", new { full, id = job.Id.ToString() });
        }
        var loaded = (await harness.Jobs.GetAsync(job.Id)).Recipe;

        Assert.Equal(new TrainingRecipe
        {
            Direction = Domain.Data.Direction.BtoA, Epochs = 3, DecayEpochs = 1, LrPolicy = LrPolicy.Cosine, BatchSize = 2, Generator = "unet_32",
            Discriminator = "n_layers", DiscriminatorLayers = 2, Norm = Domain.Networks.NormKind.Instance, InputChannels = 1, GeneratorFilters = 16,
            DiscriminatorFilters = 16, Dropout = false, GanMode = GanMode.Lsgan, LoadSize = 36, CropSize = 32, Preprocess = Domain.Data.Preprocess.ScaleWidth,
            Flip = false, Seed = 5, SnapshotEvery = 1, CheckpointEvery = 5, SnapshotImages = 2, InferenceMode = Domain.Inference.InferenceMode.Paper,
            Precision = TrainingPrecision.Fp32, // stored before precisions existed: trained in fp32
        }, loaded);
        Assert.Equal(new TrainingRecipe { Epochs = 1, DecayEpochs = 0, Generator = "unet_64", Precision = TrainingPrecision.Fp32 }, TrainingRecipe.FromJson(sparse));
    }

    private static IterationRecord ToRecord(IterationProgress p) =>
        new(p.GlobalIteration, p.Epoch, p.LearningRate, p.Losses.GeneratorGan, p.Losses.GeneratorL1, p.Losses.DiscriminatorReal, p.Losses.DiscriminatorFake, p.ImagesPerSecond);
}
