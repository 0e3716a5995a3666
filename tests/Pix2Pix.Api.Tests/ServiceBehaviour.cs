using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Pix2Pix.Domain.Inference;
using Pix2Pix.Domain.Service;

namespace Pix2Pix.Api.Tests;

/// <summary>
/// What users of the service rely on, run against each deployment shape: embedded (SQLite + folder) and
/// cluster (real PostgreSQL + real S3). Each test gets its own app, database and blob space.
/// </summary>
public abstract class ServiceBehaviour : AppTests
{
    private static async Task<IReadOnlyList<string>> BlobsAsync(ApiFactory app, string prefix = "") =>
        (await app.Services.GetRequiredService<IBlobStore>().ListAsync(prefix)).Select(b => b.Key).ToList();

    [Fact]
    public async Task Upload_AlignedZip_CreatedWithItsSummaryAndListed()
    {
        var app = App();
        var client = app.CreateClient();

        var response = await client.UploadAsync(TestArchives.Dataset(train: 5, val: 2, test: 1), "facade-like");

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var dataset = (await response.Content.ReadFromJsonAsync<JsonObject>())!;
        Assert.Equal($"/datasets/{dataset["id"]}", response.Headers.Location!.OriginalString);
        Assert.Equal("facade-like", dataset["name"]!.GetValue<string>());
        Assert.Equal("aligned", dataset["layout"]!.GetValue<string>());
        Assert.Equal((5, 2, 1), (dataset["splits"]!["train"]!.GetValue<int>(), dataset["splits"]!["val"]!.GetValue<int>(), dataset["splits"]!["test"]!.GetValue<int>()));
        Assert.Equal((32, 32), (dataset["width"]!.GetValue<int>(), dataset["height"]!.GetValue<int>()));
        var listed = await client.GetJsonAsync("/datasets");
        Assert.Equal(1, listed["total"]!.GetValue<int>());
        Assert.Equal(dataset["id"]!.ToString(), listed["items"]![0]!["id"]!.ToString());
        Assert.Equal(5, (await BlobsAsync(app, "datasets/")).Count); // the archive and 4 previews
        Assert.Equal(4, dataset["previewCount"]!.GetValue<int>());
        var preview = await client.GetAsync($"/datasets/{dataset["id"]}/previews/0");
        Assert.Equal("image/png", preview.Content.Headers.ContentType!.MediaType);
        using (var picture = SixLabors.ImageSharp.Image.Load(await preview.Content.ReadAsByteArrayAsync()))
            Assert.Equal((192, 96), (picture.Width, picture.Height)); // a 64×32 A|B image scaled to 96 high
        await ProblemAsync(await client.GetAsync($"/datasets/{dataset["id"]}/previews/4"), HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Upload_PairedFoldersInsideATopFolder_Created()
    {
        var client = App().CreateClient();
        var response = await client.UploadAsync(TestArchives.Dataset(train: 3, val: 1, paired: true, topFolder: "my-dataset"));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal("paired", (await response.Content.ReadFromJsonAsync<JsonObject>())!["layout"]!.GetValue<string>());
    }

    public static TheoryData<string, byte[], string> BadArchives()
    {
        var good = SyntheticDataset.Create(SyntheticDataset.CreateTempDirectory(), train: 2, val: 0);
        byte[] Good(string name) => File.ReadAllBytes(Path.Combine(good, "train", name));
        var oddWidth = TestArchives.Png(33, 16);
        return new TheoryData<string, byte[], string>
        {
            { "not a zip", "just some text, no archive"u8.ToArray(), "not a readable .zip" },
            { "corrupt image", TestArchives.Entries(("train/000.png", Good("000.png")), ("train/001.png", [0x89, 0x50, 0x4E, 0x47, 1, 2, 3])), "train/001.png" },
            { "zip slip", TestArchives.Entries(("train/000.png", Good("000.png")), ("../../escape.png", Good("001.png"))), "../../escape.png" },
            { "odd width", TestArchives.Entries(("train/odd.png", oddWidth)), "train/odd.png" },
            { "missing partner", TestArchives.Entries(("train/A/x.png", Good("000.png")), ("train/B/y.png", Good("001.png"))), "partner" },
            { "no train folder", TestArchives.Entries(("images/000.png", Good("000.png"))), "train/" },
            { "decompression bomb header", TestArchives.Entries(("train/000.png", Good("000.png")), ("train/bomb.png", TestArchives.PngHeaderOnly(60000, 60000))), "train/bomb.png" },
            { "zip bomb", TestArchives.Entries(("train/000.png", Good("000.png")), ("train/zeros.png", new byte[3_000_000])), "train/zeros.png" },
            { "too many entries", TestArchives.Entries(Enumerable.Range(0, 60).Select(i => ($"train/{i}.txt", new byte[1])).ToArray()), "60 entries" },
        };
    }

    [Theory]
    [MemberData(nameof(BadArchives))]
    public async Task Upload_BadArchive_400NamingTheProblemAndNothingStored(string @case, byte[] zip, string named)
    {
        var app = App(new() { ["Uploads:MaxArchiveEntries"] = "50", ["Uploads:MaxUncompressedBytes"] = "2000000" });
        var client = app.CreateClient();

        var problem = await ProblemAsync(await client.UploadAsync(zip), HttpStatusCode.BadRequest);

        Assert.Contains(named, problem.ToJsonString(), StringComparison.Ordinal);
        Assert.Equal(0, (await client.GetJsonAsync("/datasets"))["total"]!.GetValue<int>());
        Assert.Empty(await BlobsAsync(app));
        Assert.False(Directory.Exists(Path.Combine(app.DataDirectory, "work", "uploads")) && Directory.EnumerateFileSystemEntries(Path.Combine(app.DataDirectory, "work", "uploads")).Any(), @case);
    }

    [Fact]
    public async Task Upload_WrongShapeOfRequest_ClearErrors()
    {
        var app = App(new() { ["Uploads:MaxDatasetBytes"] = "4000" });
        var client = app.CreateClient();

        await ProblemAsync(await client.PostAsJsonAsync("/datasets", new { file = "x" }), HttpStatusCode.UnsupportedMediaType);
        using var empty = new MultipartFormDataContent { { new StringContent("n"), "name" } };
        Assert.Contains("file", (await ProblemAsync(await client.PostAsync("/datasets", empty), HttpStatusCode.BadRequest))["errors"]!.ToJsonString());
        await ProblemAsync(await client.UploadAsync(TestArchives.Dataset(train: 20, val: 5)), HttpStatusCode.RequestEntityTooLarge);
        Assert.Empty(await BlobsAsync(app));
    }

    [Fact]
    public async Task Train_TinyJob_ProgressMetricsSnapshotsVersionsAndTranslation()
    {
        var app = App();
        var client = app.CreateClient();
        var datasetId = await client.UploadOkAsync(TestArchives.Dataset(train: 4, val: 2));

        var started = await client.TrainAsync(datasetId, "tiny", ApiClient.TinyOptions(epochs: 2, decayEpochs: 1));
        Assert.Equal(HttpStatusCode.Accepted, started.StatusCode);
        var accepted = (await started.Content.ReadFromJsonAsync<JsonObject>())!;
        var jobId = accepted["id"]!.GetValue<Guid>();
        var modelId = accepted["modelId"]!.GetValue<Guid>();
        Assert.EndsWith($"/jobs/{jobId}", started.Headers.Location!.OriginalString);
        Assert.Equal("Queued", accepted["status"]!.GetValue<string>());

        var job = await client.WaitForJobAsync(jobId, j => j.IsFinished());
        Assert.Equal("Succeeded", job.Status());
        Assert.Equal((3, 3, 12L, 12L, 1.0), (job["epoch"]!.GetValue<int>(), job["totalEpochs"]!.GetValue<int>(), job["iteration"]!.GetValue<long>(),
            job["totalIterations"]!.GetValue<long>(), job["progress"]!.GetValue<double>()));
        Assert.True(job["losses"]!["gL1"]!.GetValue<double>() > 0);
        Assert.Equal("unet_32", job["options"]!["generator"]!.GetValue<string>());
        Assert.Equal(100, job["options"]!["lambdaL1"]!.GetValue<double>()); // the paper's default filled in
        Assert.Equal("auto", job["options"]!["precision"]!.GetValue<string>());

        var metrics = await client.GetJsonAsync($"/jobs/{jobId}/metrics");
        Assert.Equal(Enumerable.Range(1, 12).Select(i => (long)i), metrics["losses"]!.AsArray().Select(l => l!["iteration"]!.GetValue<long>()));
        Assert.Equal([1, 2, 3], metrics["snapshots"]!.AsArray().Select(s => s!["epoch"]!.GetValue<int>()));
        Assert.Equal(2, metrics["snapshots"]![2]!["val"]!["images"]!.GetValue<int>());

        var snapshot = await client.GetAsync($"/jobs/{jobId}/snapshots/3");
        Assert.Equal("image/png", snapshot.Content.Headers.ContentType!.MediaType);
        using (var grid = SixLabors.ImageSharp.Image.Load(await snapshot.Content.ReadAsByteArrayAsync()))
            Assert.Equal((96, 64), (grid.Width, grid.Height));

        var versions = (await client.GetFromJsonAsync<JsonArray>($"/models/{modelId}/versions"))!;
        Assert.Equal([1, 2, 3], versions.Select(v => v!["version"]!.GetValue<int>()));
        Assert.Equal([false, false, true], versions.Select(v => v!["isFinal"]!.GetValue<bool>()));
        Assert.Equal(jobId, versions[0]!["jobId"]!.GetValue<Guid>());
        // A version records the precision its weights were trained in: auto resolved on the worker's hardware.
        Assert.All(versions, v => Assert.Equal(Pix2Pix.Domain.Runtime.CpuFeatures.HasNativeBFloat16 ? "bf16-mixed" : "fp32",
            v!["options"]!["precision"]!.GetValue<string>()));
        var model = await client.GetJsonAsync($"/models/{modelId}");
        // A model's first version is its default until another is promoted.
        Assert.Equal((1, 3), (model["defaultVersion"]!.GetValue<int>(), model["versions"]!.GetValue<int>()));

        foreach (var (mode, accept, type) in new[] { ("resize", "image/png", "image/png"), ("pad", "image/jpeg", "image/jpeg") })
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, $"/models/{modelId}/translate?mode={mode}")
            {
                Content = new ByteArrayContent(TestArchives.Png(50, 37)),
            };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("image/png");
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(accept));
            var translated = await client.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, translated.StatusCode);
            Assert.Equal(type, translated.Content.Headers.ContentType!.MediaType);
            using var output = SixLabors.ImageSharp.Image.Load(await translated.Content.ReadAsByteArrayAsync());
            Assert.Equal((50, 37), (output.Width, output.Height));
        }
        using (var form = new MultipartFormDataContent { { new ByteArrayContent(TestArchives.Png(40, 40)), "file", "x.png" } })
            Assert.Equal(HttpStatusCode.OK, (await client.PostAsync($"/models/{modelId}/translate?version=1", form)).StatusCode);
        // Concurrent requests share the cached model and get the same answer.
        var parallel = await Task.WhenAll(Enumerable.Range(0, 8).Select(async _ =>
        {
            using var content = new ByteArrayContent(TestArchives.Png(48, 40, seed: 9));
            content.Headers.ContentType = new MediaTypeHeaderValue("image/png");
            var response = await client.PostAsync($"/models/{modelId}/translate?version={(_ % 2) + 2}", content);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return Convert.ToBase64String(await response.Content.ReadAsByteArrayAsync());
        }));
        Assert.Equal(2, parallel.Distinct().Count()); // one output per version

        var package = await client.GetAsync($"/models/{modelId}/versions/2/package");
        Assert.Equal(HttpStatusCode.OK, package.StatusCode);
        var manifest = ModelPackage.ReadManifest(await package.Content.ReadAsStreamAsync());
        Assert.Equal(("unet_32", 2, 32), (manifest.Generator, manifest.Epoch, manifest.TrainingWidth));

        Assert.Equal(HttpStatusCode.OK, (await client.PutAsJsonAsync($"/models/{modelId}/default-version", new { version = 2 })).StatusCode);
        Assert.Equal(2, (await client.GetJsonAsync($"/models/{modelId}"))["defaultVersion"]!.GetValue<int>());
        await ProblemAsync(await client.PutAsJsonAsync($"/models/{modelId}/default-version", new { version = 9 }), HttpStatusCode.NotFound);
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/models/{modelId}/versions/1")).StatusCode);
        await ProblemAsync(await client.DeleteAsync($"/models/{modelId}/versions/2"), HttpStatusCode.Conflict); // the default, while 3 exists
        Assert.Equal(2, (await client.GetJsonAsync($"/models/{modelId}"))["defaultVersion"]!.GetValue<int>());
        Assert.Equal(2, (await BlobsAsync(app, $"models/{modelId:N}/")).Count);

        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/models/{modelId}")).StatusCode);
        await ProblemAsync(await client.GetAsync($"/models/{modelId}"), HttpStatusCode.NotFound);
        Assert.Empty(await BlobsAsync(app, $"models/{modelId:N}/"));
        Assert.Empty(await BlobsAsync(app, $"jobs/{jobId:N}/checkpoint"));
    }

    public static TheoryData<string, string> InvalidRequests() => new()
    {
        { """{"datasetId":"{dataset}","modelName":"m","options":{"generator":"unet_32","cropSize":30,"loadSize":36}}""", "options.cropSize" },
        { """{"datasetId":"{dataset}","modelName":"m","options":{"generator":"unet_7"}}""", "options.generator" },
        { """{"datasetId":"{dataset}","modelName":"m","options":{"loadSize":128}}""", "options.loadSize" },
        { """{"datasetId":"{dataset}","modelName":"m","options":{"direction":"CtoD"}}""", "options.direction" },
        { """{"datasetId":"{dataset}","modelName":"m","options":{"generatorFilters":24}}""", "options.generatorFilters" },
        { """{"datasetId":"{dataset}","modelName":"m","options":{"precision":"fp16"}}""", "options.precision" },
        { """{"datasetId":"{dataset}","modelName":"m","options":{"epochs":"many"}}""", "options.epochs" },
        { """{"datasetId":"{dataset}","modelName":"bad name!"}""", "modelName" },
        { """{"modelName":"m"}""", "datasetId" },
        { """{"datasetId":"00000000-0000-0000-0000-000000000042","modelName":"m"}""", "datasetId" },
        { """{"datasetId":"{dataset}","modelName":"m","options":{"preprocess":"crop","cropSize":64,"generator":"unet_32"}}""", "options.cropSize" },
    };

    [Theory]
    [MemberData(nameof(InvalidRequests))]
    public async Task Train_InvalidRequest_400NamingTheFieldAndNoJob(string body, string field)
    {
        var client = App().CreateClient();
        var datasetId = await client.UploadOkAsync(TestArchives.Dataset(train: 2, val: 0));
        using var content = new StringContent(body.Replace("{dataset}", datasetId.ToString()), System.Text.Encoding.UTF8, "application/json");

        var problem = await ProblemAsync(await client.PostAsync("/jobs/train", content), HttpStatusCode.BadRequest);

        Assert.Contains(field, problem["errors"]!.AsObject().Select(e => e.Key));
        Assert.DoesNotContain("Pix2Pix.", problem.ToJsonString()); // the caller's words, not .NET type names
        if (field == "options.direction") Assert.Contains("use one of AtoB, BtoA", problem["errors"]![field]!.ToJsonString());
        if (field == "options.precision") Assert.Contains("use one of fp32, bf16-mixed, auto", problem["errors"]![field]!.ToJsonString());
        Assert.Equal(0, (await client.GetJsonAsync("/jobs"))["total"]!.GetValue<int>());
    }

    [Fact]
    public async Task Cancel_RunningJob_StopsWithinSecondsAndKeepsItsCheckpoint()
    {
        var app = App();
        var client = app.CreateClient();
        var datasetId = await client.UploadOkAsync(TestArchives.Dataset(train: 4, val: 1));
        var started = (await (await client.TrainAsync(datasetId, "long", ApiClient.TinyOptions(epochs: 500, decayEpochs: 0))).Content.ReadFromJsonAsync<JsonObject>())!;
        var jobId = started["id"]!.GetValue<Guid>();
        await client.WaitForJobAsync(jobId, j => j["iteration"]!.GetValue<long>() >= 8);

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var cancel = await client.PostAsync($"/jobs/{jobId}/cancel", null);
        Assert.Equal(HttpStatusCode.Accepted, cancel.StatusCode);
        var job = await client.WaitForJobAsync(jobId, j => j.IsFinished(), TimeSpan.FromSeconds(30));

        Assert.Equal("Cancelled", job.Status());
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");
        Assert.Single(await BlobsAsync(app, $"jobs/{jobId:N}/checkpoint-"));
        await ProblemAsync(await client.PostAsync($"/jobs/{jobId}/cancel", null), HttpStatusCode.Conflict);
    }

    [Fact]
    public async Task DeleteDataset_WhileAJobUsesIt_409_ThenDeletedWithItsBlob()
    {
        var app = App();
        var client = app.CreateClient();
        var datasetId = await client.UploadOkAsync(TestArchives.Dataset(train: 2, val: 0));
        var jobId = (await (await client.TrainAsync(datasetId, "busy", ApiClient.TinyOptions(epochs: 500, decayEpochs: 0))).Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<Guid>();

        await ProblemAsync(await client.DeleteAsync($"/datasets/{datasetId}"), HttpStatusCode.Conflict);
        await client.PostAsync($"/jobs/{jobId}/cancel", null);
        await client.WaitForJobAsync(jobId, j => j.IsFinished(), TimeSpan.FromSeconds(30));

        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/datasets/{datasetId}")).StatusCode);
        await ProblemAsync(await client.GetAsync($"/datasets/{datasetId}"), HttpStatusCode.NotFound);
        Assert.Empty(await BlobsAsync(app, "datasets/"));
        var problem = await ProblemAsync(await client.TrainAsync(datasetId, "again", ApiClient.TinyOptions()), HttpStatusCode.BadRequest);
        Assert.Contains("datasetId", problem["errors"]!.AsObject().Select(e => e.Key));
    }

    [Fact]
    public async Task DeleteJob_Finished_ItsRowsAndBlobsGoButItsVersionsStay()
    {
        var app = App();
        var client = app.CreateClient();
        var datasetId = await client.UploadOkAsync(TestArchives.Dataset(train: 2, val: 1));
        var started = (await (await client.TrainAsync(datasetId, "outlives-its-job", ApiClient.TinyOptions(epochs: 500, decayEpochs: 0))).Content.ReadFromJsonAsync<JsonObject>())!;
        var (jobId, modelId) = (started["id"]!.GetValue<Guid>(), started["modelId"]!.GetValue<Guid>());
        await ProblemAsync(await client.DeleteAsync($"/jobs/{jobId}"), HttpStatusCode.Conflict);
        await client.WaitForJobAsync(jobId, j => j["iteration"]!.GetValue<long>() >= 6); // three snapshots, so versions
        await client.PostAsync($"/jobs/{jobId}/cancel", null);
        await client.WaitForJobAsync(jobId, j => j.IsFinished(), TimeSpan.FromSeconds(30));
        Assert.NotEmpty(await BlobsAsync(app, $"jobs/{jobId:N}/checkpoint-"));
        Assert.NotEmpty(await BlobsAsync(app, $"jobs/{jobId:N}/snapshots/"));

        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/jobs/{jobId}")).StatusCode);

        await ProblemAsync(await client.GetAsync($"/jobs/{jobId}"), HttpStatusCode.NotFound);
        await ProblemAsync(await client.GetAsync($"/jobs/{jobId}/metrics"), HttpStatusCode.NotFound);
        await ProblemAsync(await client.DeleteAsync($"/jobs/{jobId}"), HttpStatusCode.NotFound);
        Assert.Empty(await BlobsAsync(app, $"jobs/{jobId:N}/"));
        var versions = (await client.GetFromJsonAsync<JsonArray>($"/models/{modelId}/versions"))!;
        Assert.True(versions.Count >= 3);
        Assert.All(versions, v => Assert.Equal(jobId, v!["jobId"]!.GetValue<Guid>()));
        var package = await client.GetAsync($"/models/{modelId}/versions/{versions[0]!["version"]}/package");
        Assert.Equal(HttpStatusCode.OK, package.StatusCode);
    }

    [Fact]
    public async Task UnknownIds_404ProblemDetails()
    {
        var client = App().CreateClient();
        var id = Guid.NewGuid();
        foreach (var url in new[] { $"/datasets/{id}", $"/jobs/{id}", $"/jobs/{id}/metrics", $"/jobs/{id}/snapshots", $"/models/{id}", $"/models/{id}/versions" })
            await ProblemAsync(await client.GetAsync(url), HttpStatusCode.NotFound);
        await ProblemAsync(await client.DeleteAsync($"/datasets/{id}"), HttpStatusCode.NotFound);
        await ProblemAsync(await client.PostAsync($"/jobs/{id}/cancel", null), HttpStatusCode.NotFound);
        using var image = new ByteArrayContent(TestArchives.Png(8, 8));
        image.Headers.ContentType = new MediaTypeHeaderValue("image/png");
        await ProblemAsync(await client.PostAsync($"/models/{id}/translate", image), HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Translate_BadInput_4xxWithReasons()
    {
        var client = App().CreateClient();
        var datasetId = await client.UploadOkAsync(TestArchives.Dataset(train: 2, val: 1));
        var started = (await (await client.TrainAsync(datasetId, "t", ApiClient.TinyOptions(epochs: 1, decayEpochs: 0))).Content.ReadFromJsonAsync<JsonObject>())!;
        await client.WaitForJobAsync(started["id"]!.GetValue<Guid>(), j => j.IsFinished());
        var url = $"/models/{started["modelId"]}/translate";
        async Task<HttpResponseMessage> Send(byte[] bytes, string type, string query = "")
        {
            using var content = new ByteArrayContent(bytes);
            content.Headers.ContentType = new MediaTypeHeaderValue(type);
            return await client.PostAsync(url + query, content);
        }

        await ProblemAsync(await Send("hello"u8.ToArray(), "text/plain"), HttpStatusCode.UnsupportedMediaType);
        Assert.Contains("PNG or JPEG", (await ProblemAsync(await Send("not really a png"u8.ToArray(), "image/png"), HttpStatusCode.UnsupportedMediaType))["detail"]!.ToString());
        Assert.Contains("60000", (await ProblemAsync(await Send(TestArchives.PngHeaderOnly(60000, 60000), "image/png"), HttpStatusCode.RequestEntityTooLarge))["detail"]!.ToString());
        Assert.Contains("mode", (await ProblemAsync(await Send(TestArchives.Png(8, 8), "image/png", "?mode=stretch"), HttpStatusCode.BadRequest))["errors"]!.ToJsonString());
        await ProblemAsync(await Send(TestArchives.Png(8, 8), "image/png", "?version=42"), HttpStatusCode.NotFound);
        Assert.Contains("body", (await ProblemAsync(await Send([], "image/png"), HttpStatusCode.BadRequest))["errors"]!.ToJsonString());
        byte[] png = TestArchives.Png(32, 32), pngSignature = png[..8];
        foreach (var (undecodable, type) in new[]
        {
            ([.. pngSignature, .. "junk after the signature"u8.ToArray()], "image/png"),
            (png[..(png.Length / 2)], "image/png"),                                     // truncated
            ([0xFF, 0xD8, 0xFF, .. new byte[64]], "image/jpeg"),                       // JPEG start-of-image, then zeros
            ([.. "GIF89a"u8.ToArray(), 1, 0, 1, 0, 0, 0, 0, 0x3B], "image/png"),      // a format translate does not take
        })
            await ProblemAsync(await Send(undecodable, type), HttpStatusCode.UnsupportedMediaType);

        var translated = await Send(TestArchives.Png(32, 32), "image/png");
        Assert.Equal(HttpStatusCode.OK, translated.StatusCode);
        Assert.Contains(translated.Headers.GetValues("X-Inference-Precision").Single(), new[] { "float32", "bfloat16" });
        Assert.Equal(HttpStatusCode.OK, (await Send(TestArchives.Png(32, 32), "image/png", "?mode=pad")).StatusCode);
        var metrics = (await client.GetStringAsync("/metrics")).Split('\n');
        double Metric(string name) => metrics.Where(l => l.StartsWith(name + "{", StringComparison.Ordinal))
            .Sum(l => double.Parse(l.Split(' ')[^1], System.Globalization.CultureInfo.InvariantCulture)); // summed over label sets
        Assert.Equal(2, Metric("pix2pix_translations_total"));
        Assert.Equal(1, Metric("pix2pix_model_cache_misses_total"));
        Assert.Equal(1, Metric("pix2pix_model_cache_hits_total"));
        Assert.Equal(2, Metric("pix2pix_translate_duration_seconds_count"));
        Assert.True(Metric("pix2pix_training_throughput_per_second_count") >= 2);
        Assert.True(Metric("pix2pix_checkpoint_duration_seconds_count") >= 1);
        Assert.Contains(metrics, l => l.StartsWith("pix2pix_jobs{", StringComparison.Ordinal) && l.Contains("status=\"Queued\""));
        Assert.Contains(metrics, l => l.StartsWith("pix2pix_queue_depth", StringComparison.Ordinal));
        Assert.Contains(metrics, l => l.StartsWith("http_server_request_duration_seconds_bucket", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Restart_NothingIsLost()
    {
        var first = App();
        var client = first.CreateClient();
        var datasetId = await client.UploadOkAsync(TestArchives.Dataset(train: 2, val: 1));
        var started = (await (await client.TrainAsync(datasetId, "kept", ApiClient.TinyOptions(epochs: 1, decayEpochs: 0))).Content.ReadFromJsonAsync<JsonObject>())!;
        var jobId = started["id"]!.GetValue<Guid>();
        await client.WaitForJobAsync(jobId, j => j.IsFinished());
        first.Dispose();

        var second = App(dataDirectory: first.DataDirectory).CreateClient();
        Assert.Equal(datasetId, (await second.GetJsonAsync($"/datasets/{datasetId}"))["id"]!.GetValue<Guid>());
        Assert.Equal("Succeeded", (await second.GetJsonAsync($"/jobs/{jobId}")).Status());
        Assert.Single((await second.GetFromJsonAsync<JsonArray>($"/models/{started["modelId"]}/versions"))!);
        using var image = new ByteArrayContent(TestArchives.Png(32, 32));
        image.Headers.ContentType = new MediaTypeHeaderValue("image/png");
        Assert.Equal(HttpStatusCode.OK, (await second.PostAsync($"/models/{started["modelId"]}/translate", image)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await second.GetAsync($"/jobs/{jobId}/snapshots/1")).StatusCode);
    }

    [Fact]
    public async Task Health_LiveAndReady()
    {
        var client = App().CreateClient();
        Assert.Equal("Healthy", await client.GetStringAsync("/healthz/live"));
        Assert.Equal("Healthy", await client.GetStringAsync("/healthz/ready"));
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/swagger/v1/swagger.json")).StatusCode);
    }
}

/// <summary>The embedded default: SQLite file and blob folder in the data directory, in-memory Hangfire.</summary>
public sealed class EmbeddedServiceTests : ServiceBehaviour
{
    protected override Task<Dictionary<string, string?>> StorageSettingsAsync() => Task.FromResult(new Dictionary<string, string?>());

    [Fact]
    public async Task Restart_MidTraining_TheJobResumesFromItsCheckpointAndSucceeds()
    {
        var first = App();
        var client = first.CreateClient();
        var datasetId = await client.UploadOkAsync(TestArchives.Dataset(train: 4, val: 1));
        var started = (await (await client.TrainAsync(datasetId, "restarted", ApiClient.TinyOptions(epochs: 30, decayEpochs: 0))).Content.ReadFromJsonAsync<JsonObject>())!;
        var jobId = started["id"]!.GetValue<Guid>();
        await client.WaitForJobAsync(jobId, j => j["iteration"]!.GetValue<long>() >= 8);
        first.Dispose(); // the process stops: the job checkpoints at its current iteration

        var second = App(dataDirectory: first.DataDirectory);
        var job = await second.CreateClient().WaitForJobAsync(jobId, j => j.IsFinished());

        Assert.Equal("Succeeded", job.Status());
        var leases = await second.Services.GetRequiredService<global::Pix2Pix.Infrastructure.Persistence.JobLeaseStore>().HistoryAsync(jobId);
        Assert.Equal(2, leases.Count);
        Assert.Equal("interrupted", leases[0].Outcome);
        Assert.Equal(leases[0].LastIteration, leases[1].ResumedAtIteration);
        Assert.True(leases[1].ResumedAtIteration >= 8);
    }

    [Fact]
    public void Storage_IsSqliteFolderAndInMemoryQueue()
    {
        var app = App();
        Assert.Equal(global::Pix2Pix.Infrastructure.Persistence.DatabaseProvider.Sqlite, app.Services.GetRequiredService<global::Pix2Pix.Infrastructure.Persistence.Database>().Target.Provider);
        Assert.IsType<global::Pix2Pix.Infrastructure.Blobs.FileSystemBlobStore>(app.Services.GetRequiredService<IBlobStore>());
        Assert.IsType<Hangfire.InMemory.InMemoryStorage>(app.Services.GetRequiredService<Hangfire.JobStorage>());
        Assert.True(File.Exists(Path.Combine(app.DataDirectory, "pix2pix.db")));
    }
}

/// <summary>Cluster storage: a real PostgreSQL (metadata and Hangfire) and a real S3 server (Ceph RGW).</summary>
[Collection(ServersCollection.Name)]
public sealed class PostgresS3ServiceTests(PostgresServer postgres, S3Server s3) : ServiceBehaviour
{
    protected override Task<Dictionary<string, string?>> StorageSettingsAsync() => ClusterStorageAsync(postgres, s3);

    [Fact]
    public void Storage_IsPostgresAndS3()
    {
        var app = App();
        Assert.Equal(global::Pix2Pix.Infrastructure.Persistence.DatabaseProvider.PostgreSql, app.Services.GetRequiredService<global::Pix2Pix.Infrastructure.Persistence.Database>().Target.Provider);
        Assert.IsType<global::Pix2Pix.Infrastructure.Blobs.S3BlobStore>(app.Services.GetRequiredService<IBlobStore>());
        Assert.IsType<Hangfire.PostgreSql.PostgreSqlStorage>(app.Services.GetRequiredService<Hangfire.JobStorage>());
    }
}
