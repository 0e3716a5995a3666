using System.IO.Compression;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace Pix2Pix.Api.Tests;

public sealed class BatchTranslationTests : AppTests
{
    protected override Task<Dictionary<string, string?>> StorageSettingsAsync() => Task.FromResult(new Dictionary<string, string?>());

    private static readonly string Fixtures = Path.Combine(Repository.Root, "tests", "fixtures", "pytorch");

    private static async Task<HttpResponseMessage> SubmitAsync(HttpClient client, Guid modelId, byte[] zip, string query = "mode=pad")
    {
        using var form = new MultipartFormDataContent();
        form.Add(new ByteArrayContent(zip), "file", "images.zip");
        return await client.PostAsync($"/models/{modelId}/translate-batch?{query}", form);
    }

    private static async Task<Guid> ModelAsync(HttpClient client)
    {
        var imported = await RegistryBehaviour.ImportAsync(client, "batch-model", File.ReadAllBytes(Path.Combine(Fixtures, "unet32-ngf8.pth")));
        Assert.Equal(HttpStatusCode.Created, imported.StatusCode);
        return (await imported.Content.ReadFromJsonAsync<JsonObject>())!["modelId"]!.GetValue<Guid>();
    }

    [Fact]
    public async Task Batch_ZipOfImages_TranslatedInTheBackground_ResultHoldsAPngPerImageUnderItsName()
    {
        var client = App().CreateClient();
        var modelId = await ModelAsync(client);
        var input = File.ReadAllBytes(Path.Combine(Fixtures, "input.png"));
        using var jpeg = new MemoryStream();
        using (var image = Image.Load<Rgb24>(input)) image.SaveAsJpeg(jpeg);
        var zip = TestArchives.Entries(("street/a.png", input), ("street/b.jpg", jpeg.ToArray()), ("c.png", TestArchives.Png(48, 40)));

        var response = await SubmitAsync(client, modelId, zip);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var location = response.Headers.Location!.PathAndQuery;
        Assert.StartsWith("/batches/", location);
        var batch = (await response.Content.ReadFromJsonAsync<JsonObject>())!;
        Assert.Equal((3, 1), (batch["total"]!.GetValue<int>(), batch["version"]!.GetValue<int>()));
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        do
        {
            batch = await client.GetJsonAsync(location);
            if (batch["status"]!.GetValue<string>() is "Succeeded" or "Failed" or "Cancelled") break;
            await Task.Delay(200);
        }
        while (DateTime.UtcNow < deadline);
        Assert.Equal("Succeeded", batch["status"]!.GetValue<string>());
        Assert.Equal((3, 1.0), (batch["done"]!.GetValue<int>(), batch["progress"]!.GetValue<double>()));

        var result = await client.GetAsync(batch["resultUrl"]!.GetValue<string>());
        Assert.Equal("application/zip", result.Content.Headers.ContentType!.MediaType);
        using var archive = new ZipArchive(new MemoryStream(await result.Content.ReadAsByteArrayAsync()));
        Assert.Equal(["c.png", "street/a.png", "street/b.png"], archive.Entries.Select(e => e.FullName).Order());
        using (var c = Image.Load<Rgb24>(archive.GetEntry("c.png")!.Open())) Assert.Equal((48, 40), (c.Width, c.Height));
        var single = await client.PostAsync($"/models/{modelId}/translate?mode=pad", new ByteArrayContent(input) { Headers = { ContentType = new("image/png") } });
        using var alone = Image.Load<Rgb24>(await single.Content.ReadAsByteArrayAsync());
        using var batched = Image.Load<Rgb24>(archive.GetEntry("street/a.png")!.Open());
        Assert.Equal(alone.Width, batched.Width);
        for (int y = 0; y < alone.Height; y++)
            for (int x = 0; x < alone.Width; x++)
                Assert.Equal(alone[x, y], batched[x, y]); // the same executor and translator as a live request
        await ProblemAsync(await client.PostAsync($"{location}/cancel", null), HttpStatusCode.Conflict);
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync(location)).StatusCode);
        await ProblemAsync(await client.GetAsync(location), HttpStatusCode.NotFound);
    }

    public static TheoryData<string, byte[], string> BadArchives() => new()
    {
        { "not a zip", "plain text"u8.ToArray(), "not a readable .zip" },
        { "zip slip", TestArchives.Entries(("../../escape.png", TestArchives.Png(8, 8))), "../../escape.png" },
        { "no images", TestArchives.Entries(("notes.txt", "hello"u8.ToArray())), "no PNG or JPEG images" },
        { "corrupt image", TestArchives.Entries(("broken.png", [0x89, 0x50, 0x4E, 0x47, 1, 2, 3])), "broken.png" },
        { "bomb header", TestArchives.Entries(("bomb.png", TestArchives.PngHeaderOnly(60000, 60000))), "bomb.png" },
        { "two images, one output name", TestArchives.Entries(("a.png", TestArchives.Png(8, 8)), ("a.jpg", TestArchives.Png(8, 8))), "would both be translated to a.png" },
    };

    [Theory]
    [MemberData(nameof(BadArchives))]
    public async Task Batch_BadArchive_400NamingTheFile_NoBatchCreated(string what, byte[] zip, string expected)
    {
        var client = App().CreateClient();
        var modelId = await ModelAsync(client);

        var response = await SubmitAsync(client, modelId, zip);

        var problem = await ProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.True(problem.ToJsonString().Contains(expected, StringComparison.Ordinal), $"{what}: {problem.ToJsonString()}");
    }

    [Fact]
    public async Task Batch_UnknownModelOrMode_404And400()
    {
        var client = App().CreateClient();
        var modelId = await ModelAsync(client);
        var zip = TestArchives.Entries(("a.png", TestArchives.Png(8, 8)));

        await ProblemAsync(await SubmitAsync(client, Guid.NewGuid(), zip), HttpStatusCode.NotFound);
        await ProblemAsync(await SubmitAsync(client, modelId, zip, "mode=stretch"), HttpStatusCode.BadRequest);
        await ProblemAsync(await SubmitAsync(client, modelId, zip, "version=7"), HttpStatusCode.NotFound);
    }
}
