using System.IO.Compression;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace Pix2Pix.EndToEnd.Tests;

/// <summary>In cluster mode batch translations run on the workers, not on the API replicas that serve live requests.</summary>
[Collection(PostgresCollection.Name)]
public sealed class ClusterBatchTests(PostgresServer postgres)
{
    [Fact]
    public async Task ClusterMode_ABatchWaitsWhileNoWorkerRuns_ThenAWorkerTranslatesIt()
    {
        await using var cluster = await Cluster.StartAsync(postgres);
        var datasetId = await cluster.Client.UploadOkAsync(TestArchives.Dataset(train: 6, val: 1));
        var trainer = await cluster.StartWorkerAsync("worker-a");
        var (jobId, modelId) = await cluster.StartJobAsync(datasetId, "batched", epochs: 1);
        Assert.True((await cluster.Client.WaitForJobAsync(jobId, j => j.IsFinished(), TimeSpan.FromMinutes(2))).Status() == "Succeeded", cluster.Logs());
        await trainer.TerminateAsync(TimeSpan.FromSeconds(30));

        using var form = new MultipartFormDataContent();
        form.Add(new ByteArrayContent(TestArchives.Entries(("a.png", TestArchives.Png(40, 30)), ("b/c.png", TestArchives.Png(32, 32, seed: 2)))), "file", "images.zip");
        var submitted = await cluster.Client.PostAsync($"/models/{modelId}/translate-batch?mode=pad", form);
        Assert.Equal(HttpStatusCode.Accepted, submitted.StatusCode);
        var location = submitted.Headers.Location!.PathAndQuery;

        // No worker is running: the API (Worker:InProcess=false) leaves the batch queued.
        await Task.Delay(TimeSpan.FromSeconds(4));
        Assert.Equal("Queued", (await cluster.Client.GetJsonAsync(location))["status"]!.GetValue<string>());

        await cluster.StartWorkerAsync("worker-b");
        JsonObject batch;
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        do
        {
            batch = await cluster.Client.GetJsonAsync(location);
            if (batch["status"]!.GetValue<string>() is "Succeeded" or "Failed" or "Cancelled") break;
            await Task.Delay(200);
        }
        while (DateTime.UtcNow < deadline);
        Assert.True(batch["status"]!.GetValue<string>() == "Succeeded", $"{batch}\n{cluster.Logs()}");
        // The worker logs the batch after recording it, and its output reaches us asynchronously.
        var worker = cluster.Processes.Single(p => p.Name == "worker-b");
        var logDeadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!worker.Log.Any(line => line.Contains("2 images translated", StringComparison.Ordinal)) && DateTime.UtcNow < logDeadline)
            await Task.Delay(100);
        Assert.Contains(worker.Log, line => line.Contains("2 images translated", StringComparison.Ordinal));

        using var archive = new ZipArchive(new MemoryStream(await cluster.Client.GetByteArrayAsync(batch["resultUrl"]!.GetValue<string>())));
        Assert.Equal(["a.png", "b/c.png"], archive.Entries.Select(e => e.FullName).Order());
        using var a = Image.Load<Rgb24>(archive.GetEntry("a.png")!.Open());
        Assert.Equal((40, 30), (a.Width, a.Height));
    }
}
