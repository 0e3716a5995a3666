using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Pix2Pix.Api.Tests;

public sealed class TranslateUnderLoadTests : IDisposable
{
    private readonly List<ApiFactory> apps = [];

    private async Task<(HttpClient Client, List<string> ModelIds)> StartWithModelsAsync(Dictionary<string, string?> settings, int models)
    {
        var app = new ApiFactory(settings);
        apps.Add(app);
        var client = app.CreateClient();
        var datasetId = await client.UploadOkAsync(TestArchives.Dataset(train: 2, val: 0));
        var modelIds = new List<string>();
        for (int i = 0; i < models; i++)
        {
            var started = (await (await client.TrainAsync(datasetId, $"model-{i}", ApiClient.TinyOptions(epochs: 1, decayEpochs: 0))).Content.ReadFromJsonAsync<JsonObject>())!;
            Assert.Equal("Succeeded", (await client.WaitForJobAsync(started["id"]!.GetValue<Guid>(), j => j.IsFinished())).Status());
            modelIds.Add(started["modelId"]!.ToString());
        }
        return (client, modelIds);
    }

    private static async Task<HttpResponseMessage> TranslateAsync(HttpClient client, string modelId)
    {
        using var content = new ByteArrayContent(TestArchives.Png(32, 32));
        content.Headers.ContentType = new MediaTypeHeaderValue("image/png");
        return await client.PostAsync($"/models/{modelId}/translate", content);
    }

    [Fact]
    public async Task ThreeModelsThroughACacheOfOne_EveryRequestSucceeds()
    {
        var (client, modelIds) = await StartWithModelsAsync(new() { ["Inference:CachedModels"] = "1" }, models: 3);

        // Four clients alternate the models, so every request finds the cache holding another one (or several, in use).
        var statuses = await Task.WhenAll(Enumerable.Range(0, 4).Select(async clientIndex =>
        {
            var seen = new List<HttpStatusCode>();
            for (int i = 0; i < 9; i++) seen.Add((await TranslateAsync(client, modelIds[(clientIndex + i) % 3])).StatusCode);
            return seen;
        }));

        Assert.All(statuses.SelectMany(s => s), status => Assert.Equal(HttpStatusCode.OK, status));
    }

    [Fact]
    public async Task Flood_OverTheQueue_AnswersOnly200Or503WithRetryAfter()
    {
        var (client, modelIds) = await StartWithModelsAsync(new() { ["Inference:MaxQueue"] = "1" }, models: 1);

        var responses = await Task.WhenAll(Enumerable.Range(0, 24).Select(_ => TranslateAsync(client, modelIds[0])));

        Assert.Contains(responses, r => r.StatusCode == HttpStatusCode.OK);
        foreach (var busy in responses.Where(r => r.StatusCode != HttpStatusCode.OK))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, busy.StatusCode);
            Assert.Equal(TimeSpan.FromSeconds(1), busy.Headers.RetryAfter?.Delta);
            Assert.Equal("application/problem+json", busy.Content.Headers.ContentType?.MediaType);
        }
    }

    [Fact]
    public async Task PngAnswers_StoredByDefault_DeflatedAtTheConfiguredLevel()
    {
        var lengths = new List<long>();
        foreach (var level in new[] { null, "BestSpeed" })
        {
            var (client, modelIds) = await StartWithModelsAsync(level is null ? [] : new() { ["Inference:PngCompression"] = level }, models: 1);
            using var response = await TranslateAsync(client, modelIds[0]);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var png = await response.Content.ReadAsByteArrayAsync();
            using var image = SixLabors.ImageSharp.Image.Load<SixLabors.ImageSharp.PixelFormats.Rgb24>(png);
            Assert.Equal((32, 32), (image.Width, image.Height));
            lengths.Add(png.Length);
        }
        Assert.True(lengths[0] > 32 * (1 + 32 * 3), $"the default answer ({lengths[0]} bytes) is smaller than its rows: it was compressed");
        Assert.True(lengths[1] < lengths[0], $"BestSpeed ({lengths[1]} bytes) is not smaller than no compression ({lengths[0]} bytes)");
    }

    public void Dispose() => apps.ForEach(app => app.Dispose());
}
