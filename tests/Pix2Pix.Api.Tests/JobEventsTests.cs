using System.Net;
using System.Net.ServerSentEvents;
using System.Text.Json.Nodes;

namespace Pix2Pix.Api.Tests;

public sealed class JobEventsTests : AppTests
{
    protected override Task<Dictionary<string, string?>> StorageSettingsAsync() => Task.FromResult(new Dictionary<string, string?>());

    private static async Task<(HttpResponseMessage Response, List<(string Type, string? Id, JsonNode Data)> Events)> ReadEventsAsync(
        HttpClient client, Guid jobId, string? lastEventId = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, $"/jobs/{jobId}/events");
        if (lastEventId is not null) request.Headers.Add("Last-Event-ID", lastEventId);
        var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        var events = new List<(string, string?, JsonNode)>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await foreach (var item in SseParser.Create(await response.Content.ReadAsStreamAsync()).EnumerateAsync(timeout.Token))
            events.Add((item.EventType, item.EventId, JsonNode.Parse(item.Data)!));
        return (response, events);
    }

    [Fact]
    public async Task Events_WhileAJobTrains_JobLossesSnapshotsThenEnd_EveryIterationOnce()
    {
        var client = App().CreateClient();
        var datasetId = await client.UploadOkAsync(TestArchives.Dataset(train: 4, val: 1));
        var train = await client.TrainAsync(datasetId, "streamed", ApiClient.TinyOptions(epochs: 2, decayEpochs: 1));
        var jobId = (await System.Net.Http.Json.HttpContentJsonExtensions.ReadFromJsonAsync<JsonObject>(train.Content))!["id"]!.GetValue<Guid>();

        var (response, events) = await ReadEventsAsync(client, jobId);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType!.MediaType);
        Assert.Equal("job", events[0].Type);
        Assert.Equal(("end", "Succeeded"), (events[^1].Type, events[^1].Data["status"]!.GetValue<string>()));
        var iterations = events.Where(e => e.Type == "losses").SelectMany(e => e.Data.AsArray().Select(i => i!["iteration"]!.GetValue<long>())).ToList();
        Assert.Equal(Enumerable.Range(1, 12).Select(i => (long)i), iterations); // 4 images × 3 epochs, in order, none twice
        Assert.All(events.Where(e => e.Type == "losses"), e => Assert.Equal(e.Data.AsArray()[^1]!["iteration"]!.ToString(), e.Id));
        Assert.Equal([1, 2, 3], events.Where(e => e.Type == "snapshot").Select(e => e.Data["epoch"]!.GetValue<int>()));
        Assert.NotNull(events.First(e => e.Type == "snapshot").Data["val"]!["ssim"]);
        var statuses = events.Where(e => e.Type == "job").Select(e => e.Data["status"]!.GetValue<string>()).ToList();
        Assert.Equal("Succeeded", statuses[^1]);
        Assert.Contains("gGan", events.First(e => e.Type == "losses").Data[0]!.AsObject().Select(p => p.Key));

        var (_, resumed) = await ReadEventsAsync(client, jobId, lastEventId: "5");
        Assert.Equal(Enumerable.Range(6, 7).Select(i => (long)i),
            resumed.Where(e => e.Type == "losses").SelectMany(e => e.Data.AsArray().Select(i => i!["iteration"]!.GetValue<long>())));
        Assert.Equal("end", resumed[^1].Type);
    }

    [Fact]
    public async Task Events_OfAnUnknownJob_404()
    {
        var response = await App().CreateClient().GetAsync($"/jobs/{Guid.NewGuid()}/events");

        await ProblemAsync(response, HttpStatusCode.NotFound);
    }
}
