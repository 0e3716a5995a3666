using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Pix2Pix.Api.Tests;

public sealed class TranslatorCacheTests : IDisposable
{
    private readonly ApiFactory app = new(new() { ["Inference:CachedModels"] = "1" });

    [Fact]
    public async Task Translate_ThreeModelsThroughACacheOfOne_EveryRequestSucceeds()
    {
        var client = app.CreateClient();
        var datasetId = await client.UploadOkAsync(TestArchives.Dataset(train: 2, val: 0));
        var modelIds = new List<string>();
        foreach (var name in new[] { "first", "second", "third" })
        {
            var started = (await (await client.TrainAsync(datasetId, name, ApiClient.TinyOptions(epochs: 1, decayEpochs: 0))).Content.ReadFromJsonAsync<JsonObject>())!;
            Assert.Equal("Succeeded", (await client.WaitForJobAsync(started["id"]!.GetValue<Guid>(), j => j.IsFinished())).Status());
            modelIds.Add(started["modelId"]!.ToString());
        }

        // Four clients alternate the models, so every request finds the cache holding another one (or several, in use).
        var statuses = await Task.WhenAll(Enumerable.Range(0, 4).Select(async clientIndex =>
        {
            var seen = new List<HttpStatusCode>();
            for (int i = 0; i < 9; i++)
            {
                using var content = new ByteArrayContent(TestArchives.Png(32, 32));
                content.Headers.ContentType = new MediaTypeHeaderValue("image/png");
                var response = await client.PostAsync($"/models/{modelIds[(clientIndex + i) % 3]}/translate", content);
                seen.Add(response.StatusCode);
            }
            return seen;
        }));

        Assert.All(statuses.SelectMany(s => s), status => Assert.Equal(HttpStatusCode.OK, status));
    }

    public void Dispose() => app.Dispose();
}
