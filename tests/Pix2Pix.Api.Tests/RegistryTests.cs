using System.Collections;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Pix2Pix.Domain.Inference;
using Pix2Pix.Domain.Service;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using TorchSharp.PyBridge;

namespace Pix2Pix.Api.Tests;

/// <summary>Imported generators, version numbers, promotion, package digests; on the embedded store and on PostgreSQL + S3.</summary>
public abstract class RegistryBehaviour : AppTests
{
    private static readonly string Fixtures = Path.Combine(Repository.Root, "tests", "fixtures", "pytorch");
    private const string Manifest = """{"generator":"unet_32","generatorFilters":8,"norm":"batch","loadSize":32,"cropSize":32}""";

    internal static async Task<HttpResponseMessage> ImportAsync(HttpClient client, string name, byte[] file, string fileName = "latest_net_G.pth",
        string? manifest = Manifest, bool? promote = null)
    {
        using var form = new MultipartFormDataContent();
        form.Add(new ByteArrayContent(file), "file", fileName);
        form.Add(new StringContent(name), "name");
        if (manifest is not null) form.Add(new StringContent(manifest), "manifest");
        if (promote is { } value) form.Add(new StringContent(value ? "true" : "false"), "promote");
        return await client.PostAsync("/models/import", form);
    }

    private static byte[] Fixture(string name) => File.ReadAllBytes(Path.Combine(Fixtures, name));

    private static async Task<JsonObject> ImportOkAsync(HttpClient client, string name, string file = "unet32-ngf8.pth", bool? promote = null)
    {
        var response = await ImportAsync(client, name, Fixture(file), promote: promote);
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!;
    }

    [Fact]
    public async Task Import_GeneratorSavedByPyTorch_TranslatesToPyTorchsPixels_AndItsPackageHoldsTheSameTensors()
    {
        var client = App(new() { ["Inference:Precision"] = "Float32" }).CreateClient(); // PyTorch computed in fp32

        var imported = await ImportOkAsync(client, "reference-unet32");

        Assert.Equal(1, imported["version"]!.GetValue<int>());
        Assert.True(imported["isDefault"]!.GetValue<bool>());
        var modelId = imported["modelId"]!.GetValue<Guid>();
        var request = new ByteArrayContent(Fixture("input.png")) { Headers = { ContentType = new MediaTypeHeaderValue("image/png") } };
        var translated = await client.PostAsync($"/models/{modelId}/translate?mode=pad", request);
        Assert.Equal(HttpStatusCode.OK, translated.StatusCode);
        Assert.Equal("float32", translated.Headers.GetValues("X-Inference-Precision").Single());
        using var output = Image.Load<Rgb24>(await translated.Content.ReadAsByteArrayAsync());
        using var expected = Image.Load<Rgb24>(Path.Combine(Fixtures, "output-pytorch.png"));
        Assert.InRange(MaxDifference(output, expected), 0, 1);

        var package = await client.GetByteArrayAsync($"/models/{modelId}/versions/1/package");
        var packaged = Safetensors.LoadStateDict(new MemoryStream(package));
        var saved = PyTorchUnpickler.UnpickleStateDict(new MemoryStream(Fixture("unet32-ngf8.pth")));
        Assert.Equal(saved.Keys.Cast<string>().Order(), packaged.Keys.Order()); // the reference's key names, every one
        foreach (DictionaryEntry entry in saved)
            Assert.True(((TorchSharp.torch.Tensor)entry.Value!).equal(packaged[(string)entry.Key]).all().item<bool>(), $"{entry.Key} differs");
        var lineage = ModelPackage.ReadLineage(new MemoryStream(package))!;
        Assert.Equal("import", lineage["source"]!.GetValue<string>());
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Fixture("unet32-ngf8.pth"))), lineage["fileSha256"]!.GetValue<string>());
        var version = (await client.GetFromJsonAsync<JsonArray>($"/models/{modelId}/versions"))!.Single()!;
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(package)), version["packageSha256"]!.GetValue<string>());
        Assert.Equal("import", version["source"]!.GetValue<string>());
        Assert.Equal("bootstrap", version["createdBy"]!.GetValue<string>());
    }

    private static int MaxDifference(Image<Rgb24> a, Image<Rgb24> b)
    {
        Assert.Equal((a.Width, a.Height), (b.Width, b.Height));
        int worst = 0;
        for (int y = 0; y < a.Height; y++)
            for (int x = 0; x < a.Width; x++)
            {
                var (p, q) = (a[x, y], b[x, y]);
                worst = Math.Max(worst, Math.Max(Math.Abs(p.R - q.R), Math.Max(Math.Abs(p.G - q.G), Math.Abs(p.B - q.B))));
            }
        return worst;
    }

    public static TheoryData<string, byte[], string, string, string> BadImports() => new()
    {
        { "weights of another width", Fixture("unet32-ngf8.pth"), """{"generator":"unet_32","generatorFilters":16}""", "file", "'model.model.0.weight' is [8, 3, 4, 4] in the file" },
        { "another architecture", Fixture("unet32-ngf8.legacy.pth"), """{"generator":"unet_64","generatorFilters":8}""", "file", "which a unet_64 generator" },
        { "not weights", "GIF89a not a state_dict"u8.ToArray(), Manifest, "file", "torch.save" },
        { "a pickle asking for os.system", HostilePickle(), Manifest, "file", "'posix.system'" },
        { "manifest not JSON", Fixture("unet32-ngf8.pth"), "generator=unet_32", "manifest", "not a JSON object" },
        { "manifest null", Fixture("unet32-ngf8.pth"), "null", "manifest", "not a JSON object" },
        { "manifest impossible", Fixture("unet32-ngf8.pth"), """{"generator":"unet_32","cropSize":20}""", "manifest.cropSize", "" },
    };

    private static byte[] HostilePickle()
    {
        byte[] pickle = [0x80, 0x02, .. "cposix\nsystem\n"u8, 0x58, 2, 0, 0, 0, .. "id"u8, 0x85, (byte)'R', (byte)'.'];
        using var zip = new MemoryStream();
        using (var archive = new System.IO.Compression.ZipArchive(zip, System.IO.Compression.ZipArchiveMode.Create, leaveOpen: true))
        using (var entry = archive.CreateEntry("archive/data.pkl").Open())
            entry.Write(pickle);
        return zip.ToArray();
    }

    [Theory]
    [MemberData(nameof(BadImports))]
    public async Task Import_BadFileOrManifest_400NamingTheFieldAndTheProblem(string what, byte[] file, string manifest, string field, string expected)
    {
        var app = App();
        var client = app.CreateClient();

        var response = await ImportAsync(client, "bad", file, manifest: manifest);

        var problem = await ProblemAsync(response, HttpStatusCode.BadRequest);
        var errors = problem["errors"]!.AsObject();
        Assert.True(errors.ContainsKey(field), $"{what}: {problem.ToJsonString()}");
        Assert.Contains(expected, errors[field]![0]!.GetValue<string>());
        Assert.Equal(0, (await client.GetJsonAsync("/models"))["total"]!.GetValue<int>()); // nothing half-written
    }

    [Fact]
    public async Task Versions_NumberedOnce_NeverReusedAfterADelete_TheDefaultMovesOnlyWhenPromoted()
    {
        var client = App().CreateClient();
        var modelId = (await ImportOkAsync(client, "numbered"))["modelId"]!.GetValue<Guid>();
        var second = await ImportOkAsync(client, "numbered", "unet32-ngf8.legacy.pth");
        var third = await ImportOkAsync(client, "numbered");

        Assert.Equal((2, false), (second["version"]!.GetValue<int>(), second["isDefault"]!.GetValue<bool>()));
        Assert.Equal(3, third["version"]!.GetValue<int>());
        Assert.Equal(1, (await client.GetJsonAsync($"/models/{modelId}"))["defaultVersion"]!.GetValue<int>());
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/models/{modelId}/versions/3")).StatusCode);
        var fourth = await ImportOkAsync(client, "numbered", promote: true);
        Assert.Equal((4, true), (fourth["version"]!.GetValue<int>(), fourth["isDefault"]!.GetValue<bool>()));
        var conflict = await ProblemAsync(await client.DeleteAsync($"/models/{modelId}/versions/4"), HttpStatusCode.Conflict);
        Assert.Contains("promote another version first", conflict["detail"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.OK, (await client.PutAsJsonAsync($"/models/{modelId}/default-version", new { version = 2 })).StatusCode);
        var versions = (await client.GetFromJsonAsync<JsonArray>($"/models/{modelId}/versions"))!;
        Assert.Equal([1, 2, 4], versions.Select(v => v!["version"]!.GetValue<int>()));
        Assert.Equal([2], versions.Where(v => v!["isDefault"]!.GetValue<bool>()).Select(v => v!["version"]!.GetValue<int>()));
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync($"/models/{modelId}/translate",
            new ByteArrayContent(Fixture("input.png")) { Headers = { ContentType = new MediaTypeHeaderValue("image/png") } })).StatusCode);
    }

    [Fact]
    public async Task Training_FirstVersionIsTheDefault_LaterJobsMoveItOnlyWithPromote_VersionsCarryTheirLineage()
    {
        var client = App().CreateClient();
        var archive = TestArchives.Dataset(train: 2, val: 1);
        var datasetId = await client.UploadOkAsync(archive);
        var options = ApiClient.TinyOptions(epochs: 1, decayEpochs: 0);

        var first = await TrainToTheEndAsync(client, datasetId, options, promote: null);
        var modelId = first["modelId"]!.GetValue<Guid>();
        Assert.Equal(1, (await client.GetJsonAsync($"/models/{modelId}"))["defaultVersion"]!.GetValue<int>());
        await TrainToTheEndAsync(client, datasetId, options, promote: false);
        Assert.Equal(1, (await client.GetJsonAsync($"/models/{modelId}"))["defaultVersion"]!.GetValue<int>());
        await TrainToTheEndAsync(client, datasetId, options, promote: true);
        Assert.Equal(3, (await client.GetJsonAsync($"/models/{modelId}"))["defaultVersion"]!.GetValue<int>());

        var version = (await client.GetFromJsonAsync<JsonArray>($"/models/{modelId}/versions"))![0]!.AsObject();
        Assert.Equal(first["id"]!.GetValue<Guid>(), version["jobId"]!.GetValue<Guid>());
        Assert.Equal(datasetId, version["datasetId"]!.GetValue<Guid>());
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(archive)), version["datasetSha256"]!.GetValue<string>());
        Assert.NotNull(version["metrics"]);
        Assert.Equal("training", version["source"]!.GetValue<string>());
        var package = await client.GetByteArrayAsync($"/models/{modelId}/versions/1/package");
        var lineage = ModelPackage.ReadLineage(new MemoryStream(package))!;
        Assert.Equal(first["id"]!.GetValue<Guid>().ToString(), lineage["jobId"]!.GetValue<string>());
        Assert.Equal(version["datasetSha256"]!.GetValue<string>(), lineage["datasetSha256"]!.GetValue<string>());
        Assert.Equal(16, lineage["recipe"]!["generatorFilters"]!.GetValue<int>());
    }

    private static async Task<JsonObject> TrainToTheEndAsync(HttpClient client, Guid datasetId, JsonObject options, bool? promote)
    {
        var body = new JsonObject { ["datasetId"] = datasetId.ToString(), ["modelName"] = "promoted", ["options"] = options.DeepClone() };
        if (promote is { } value) body["promote"] = value;
        var response = await client.PostAsJsonAsync("/jobs/train", body);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var accepted = (await response.Content.ReadFromJsonAsync<JsonObject>())!;
        var job = await client.WaitForJobAsync(accepted["id"]!.GetValue<Guid>(), j => j.IsFinished());
        Assert.Equal("Succeeded", job.Status());
        return job;
    }

    [Fact]
    public async Task Package_WhoseBytesChanged_IsRefusedWithAClearErrorAndCounted()
    {
        var app = App();
        var client = app.CreateClient();
        var modelId = (await ImportOkAsync(client, "tampered"))["modelId"]!.GetValue<Guid>();
        var blobs = app.Services.GetRequiredService<IBlobStore>();
        var key = (await blobs.ListAsync(BlobKeys.ModelPrefix(modelId))).Single().Key;
        byte[] package;
        await using (var stream = (await blobs.OpenReadAsync(key))!)
        using (var copy = new MemoryStream())
        {
            await stream.CopyToAsync(copy);
            package = copy.ToArray();
        }
        package[^1] ^= 0x01; // one bit of one weight
        await blobs.PutAsync(key, new MemoryStream(package), ModelPackage.MediaType);

        var response = await client.PostAsync($"/models/{modelId}/translate",
            new ByteArrayContent(Fixture("input.png")) { Headers = { ContentType = new MediaTypeHeaderValue("image/png") } });

        var problem = await ProblemAsync(response, HttpStatusCode.Conflict);
        Assert.Contains("no longer matches the SHA-256", problem["detail"]!.GetValue<string>());
        var metrics = await client.GetStringAsync("/metrics");
        Assert.Matches(new System.Text.RegularExpressions.Regex(@"^pix2pix_package_digest_mismatches_total(\{[^}]*\})? 1( |$)",
            System.Text.RegularExpressions.RegexOptions.Multiline), metrics);
    }
}

public sealed class EmbeddedRegistryTests : RegistryBehaviour
{
    protected override Task<Dictionary<string, string?>> StorageSettingsAsync() => Task.FromResult(new Dictionary<string, string?>());
}

[Collection(ServersCollection.Name)]
public sealed class PostgresS3RegistryTests(PostgresServer postgres, S3Server s3) : RegistryBehaviour
{
    protected override Task<Dictionary<string, string?>> StorageSettingsAsync() => ClusterStorageAsync(postgres, s3);
}
