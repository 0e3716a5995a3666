using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Xunit;

namespace Pix2Pix.Testing;

/// <summary>Calls to the service's HTTP API that tests share.</summary>
public static class ApiClient
{
    public static async Task<HttpResponseMessage> UploadAsync(this HttpClient client, byte[] zip, string? name = "test", string fileName = "dataset.zip")
    {
        using var form = new MultipartFormDataContent();
        var file = new ByteArrayContent(zip);
        file.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/zip");
        form.Add(file, "file", fileName);
        if (name is not null) form.Add(new StringContent(name), "name");
        return await client.PostAsync("/datasets", form);
    }

    public static async Task<Guid> UploadOkAsync(this HttpClient client, byte[] zip, string name = "test")
    {
        var response = await client.UploadAsync(zip, name);
        Assert.Equal(System.Net.HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<Guid>();
    }

    /// <summary>Options for a job that trains in seconds: unet_32 with 16 filters on 32×32 crops.</summary>
    public static JsonObject TinyOptions(int epochs = 2, int decayEpochs = 1) => new()
    {
        ["generator"] = "unet_32", ["generatorFilters"] = 16, ["discriminatorFilters"] = 16,
        ["loadSize"] = 36, ["cropSize"] = 32, ["epochs"] = epochs, ["decayEpochs"] = decayEpochs,
        ["snapshotEvery"] = 1, ["checkpointEvery"] = 5, ["snapshotImages"] = 2,
    };

    public static Task<HttpResponseMessage> TrainAsync(this HttpClient client, Guid datasetId, string modelName, JsonObject options) =>
        client.PostAsJsonAsync("/jobs/train", new JsonObject { ["datasetId"] = datasetId.ToString(), ["modelName"] = modelName, ["options"] = options });

    public static async Task<JsonObject> GetJsonAsync(this HttpClient client, string url)
    {
        var response = await client.GetAsync(url);
        Assert.True(response.IsSuccessStatusCode, $"GET {url}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!;
    }

    /// <summary>Polls a job until <paramref name="done"/> holds (or fails the test after the timeout).</summary>
    public static async Task<JsonObject> WaitForJobAsync(this HttpClient client, Guid id, Func<JsonObject, bool> done, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromMinutes(3));
        JsonObject job;
        do
        {
            job = await client.GetJsonAsync($"/jobs/{id}");
            if (done(job)) return job;
            await Task.Delay(200);
        }
        while (DateTime.UtcNow < deadline);
        throw new TimeoutException($"Job {id} did not get there in time; last state: {job.ToJsonString()}");
    }

    public static string Status(this JsonObject job) => job["status"]!.GetValue<string>();

    public static bool IsFinished(this JsonObject job) => job.Status() is "Succeeded" or "Failed" or "Cancelled";
}
