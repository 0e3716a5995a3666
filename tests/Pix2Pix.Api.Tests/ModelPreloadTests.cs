using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Pix2Pix.Api.Tests;

public sealed class ModelPreloadTests : IDisposable
{
    private readonly List<ApiFactory> apps = [];

    private ApiFactory App(Dictionary<string, string?>? settings = null, string? dataDirectory = null)
    {
        var app = new ApiFactory(settings, dataDirectory);
        apps.Add(app);
        return app;
    }

    private static double Metric(string metrics, string name) =>
        metrics.Split('\n').Where(l => l.StartsWith(name + "{", StringComparison.Ordinal))
            .Sum(l => double.Parse(l.Split(' ')[^1], System.Globalization.CultureInfo.InvariantCulture));

    [Fact]
    public async Task Start_WithPreload_ReadyOnceTheModelIsLoadedAndTheFirstRequestHitsTheCache()
    {
        var first = App();
        var client = first.CreateClient();
        var datasetId = await client.UploadOkAsync(TestArchives.Dataset(train: 2, val: 0));
        var started = (await (await client.TrainAsync(datasetId, "preloaded", ApiClient.TinyOptions(epochs: 1, decayEpochs: 0))).Content.ReadFromJsonAsync<JsonObject>())!;
        await client.WaitForJobAsync(started["id"]!.GetValue<Guid>(), j => j.IsFinished());
        var modelId = started["modelId"]!.ToString();
        first.Dispose();

        var second = App(new() { ["Inference:Preload:0"] = modelId, ["Inference:Preload:1"] = Guid.NewGuid().ToString() }, first.DataDirectory)
            .CreateClient();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while ((await second.GetAsync("/healthz/ready")).StatusCode != HttpStatusCode.OK && DateTime.UtcNow < deadline) await Task.Delay(100);

        Assert.Equal(HttpStatusCode.OK, (await second.GetAsync("/healthz/ready")).StatusCode); // an unknown model is logged, not fatal
        using var image = new ByteArrayContent(TestArchives.Png(32, 32));
        image.Headers.ContentType = new MediaTypeHeaderValue("image/png");
        Assert.Equal(HttpStatusCode.OK, (await second.PostAsync($"/models/{modelId}/translate", image)).StatusCode);
        var metrics = await second.GetStringAsync("/metrics"); // one scrape: the exporter caches a scrape for a moment
        Assert.Equal(1, Metric(metrics, "pix2pix_model_cache_misses_total")); // the preload's; without it the translate would miss
        Assert.Equal(1, Metric(metrics, "pix2pix_model_cache_hits_total"));
    }

    public void Dispose() => apps.ForEach(app => app.Dispose());
}
