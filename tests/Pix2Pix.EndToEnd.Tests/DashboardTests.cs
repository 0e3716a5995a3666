using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.Playwright;

namespace Pix2Pix.EndToEnd.Tests;

/// <summary>
/// The dashboard in a real browser (Debian's chromium, driven by Playwright) against the API as its own process: the
/// README's walk-through without curl. PIX2PIX_SCREENSHOTS=folder saves a screenshot of each page there.
/// </summary>
public sealed class DashboardTests
{
    private const string Chromium = "/usr/bin/chromium";
    private static readonly string? Screenshots = Environment.GetEnvironmentVariable("PIX2PIX_SCREENSHOTS");

    [Fact]
    public async Task Browser_SignInUploadTrainWatchSlideTranslateCancelSignOut()
    {
        Assert.True(File.Exists(Chromium), "chromium is not installed (test.sh installs it as root: apt-get install chromium)");
        var data = Path.Combine(Path.GetTempPath(), "pix2pix-e2e", Guid.NewGuid().ToString("N"));
        using var api = await ServiceProcess.StartAsync("Api", "dashboard", new Dictionary<string, string>
        {
            ["Storage__DataDirectory"] = data, ["Worker__InProcess"] = "true", ["Worker__Threads"] = "1",
        });
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = Chromium, Headless = true, Args = ["--no-sandbox"] });
        var context = await browser.NewContextAsync(new() { BaseURL = api.BaseUrl, ViewportSize = new() { Width = 1366, Height = 768 } });
        var page = await context.NewPageAsync();
        var problems = new List<string>();
        // The one 4xx the walk provokes (a recipe field error) is logged by the browser too; answers are checked below.
        page.Console += (_, message) =>
        {
            if (message.Type == "error" && !message.Text.Contains("status of 400", StringComparison.Ordinal)) problems.Add($"console: {message.Text}");
        };
        page.Response += (_, response) => { if (response.Status >= 500) problems.Add($"{response.Status} from {response.Url}"); };
        page.PageError += (_, error) => problems.Add($"page error: {error}");
        page.Request += (_, request) =>
        {
            if (!request.Url.StartsWith(api.BaseUrl, StringComparison.Ordinal) && !request.Url.StartsWith("blob:", StringComparison.Ordinal)
                && !request.Url.StartsWith("data:", StringComparison.Ordinal))
                problems.Add($"request outside the service's origin: {request.Url}");
        };

        // Sign in: / sends a signed-out browser to the form.
        await page.GotoAsync("/");
        Assert.Contains("/auth/signin", page.Url);
        await page.GetByLabel("API key").FillAsync(TestKeys.Admin);
        await Shot(page, "signin");
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await page.WaitForURLAsync("**/ui/");

        // Upload a tiny dataset and see its counts.
        await page.GotoAsync("/ui/datasets");
        var archive = Path.Combine(data, "tiny.zip");
        await File.WriteAllBytesAsync(archive, TestArchives.Dataset(train: 4, val: 1));
        await page.Locator("#archive").SetInputFilesAsync(archive);
        await page.Locator("#dataset-name").FillAsync("tiny");
        await page.GetByRole(AriaRole.Button, new() { Name = "Upload" }).ClickAsync();
        await Assertions.Expect(page.Locator("#upload-message")).ToContainTextAsync("train 4, val 1, test 0");
        await Assertions.Expect(page.Locator("#datasets tbody tr")).ToHaveCountAsync(1);
        await Assertions.Expect(page.Locator("#datasets td.train")).ToHaveTextAsync("4");
        await Assertions.Expect(page.Locator("#datasets td.previews img")).ToHaveCountAsync(4);
        await page.WaitForFunctionAsync("() => [...document.querySelectorAll('#datasets td.previews img')].every(i => i.complete && i.naturalWidth > 0)");
        await Shot(page, "datasets");

        // Start a job from the form generated from the recipe's schema; a field error shows next to its field.
        await page.GetByRole(AriaRole.Link, new() { Name = "Train on it" }).ClickAsync();
        await page.Locator("#field-modelName").FillAsync("tiny-model");
        foreach (var (field, value) in new[] { ("generatorFilters", "16"), ("discriminatorFilters", "16"), ("loadSize", "36"), ("cropSize", "30"),
            ("epochs", "60"), ("decayEpochs", "0"), ("snapshotEvery", "20"), ("checkpointEvery", "100"), ("snapshotImages", "2") })
            await page.Locator($"#field-{field}").FillAsync(value);
        await page.Locator("#field-generator").FillAsync("unet_32");
        await page.Locator("#start").ClickAsync();
        await Assertions.Expect(page.Locator("#error-options\\.cropSize")).Not.ToBeEmptyAsync();
        await Shot(page, "new-job");
        await page.Locator("#field-cropSize").FillAsync("32");
        await page.Locator("#start").ClickAsync();
        await page.WaitForURLAsync("**/ui/jobs/*");
        var jobId = Guid.Parse(page.Url.Split('/').Last());

        // Watch the chart gain points while it trains (240 iterations, a few seconds), then the gallery's slider.
        await page.WaitForFunctionAsync("() => Number(document.querySelector('#chart')?.dataset.points) > 0", null, new() { Timeout = 120_000 });
        var first = int.Parse((await page.Locator("#chart").GetAttributeAsync("data-points"))!);
        await page.WaitForFunctionAsync($"() => Number(document.querySelector('#chart')?.dataset.points) > {first}", null, new() { Timeout = 120_000 });
        Assert.True(first < 240, $"the first points came at once: {first}");
        await Assertions.Expect(page.Locator("#status")).ToHaveTextAsync("Succeeded", new() { Timeout = 180_000 });
        await page.WaitForFunctionAsync("() => Number(document.querySelector('#chart')?.dataset.points) === 240 && document.querySelectorAll('#metrics tbody tr').length === 3");
        await Assertions.Expect(page.Locator("#metrics .best")).ToHaveCountAsync(1);
        await Assertions.Expect(page.Locator("#gallery-label")).ToHaveTextAsync("epoch 60");
        await page.Locator("#gallery-epoch").FocusAsync();
        await page.Keyboard.PressAsync("Home");
        await Assertions.Expect(page.Locator("#gallery-label")).ToHaveTextAsync("epoch 20");
        await Assertions.Expect(page.Locator("#gallery-image")).ToHaveAttributeAsync("src", $"/jobs/{jobId}/snapshots/20");
        await Shot(page, "job");

        // The model's versions, then translate through the file input.
        var job = await ApiAsync(api).GetJsonAsync($"/jobs/{jobId}");
        var modelId = job["modelId"]!.GetValue<string>();
        await page.GotoAsync($"/ui/models/{modelId}");
        await Assertions.Expect(page.Locator("#versions tbody tr")).ToHaveCountAsync(3);
        await Shot(page, "model");
        await page.GotoAsync($"/ui/translate?model={modelId}");
        var image = Path.Combine(data, "labels.png");
        await File.WriteAllBytesAsync(image, TestArchives.Png(64, 48));
        await page.Locator("#image").SetInputFilesAsync(image);
        await Assertions.Expect(page.Locator("#translate-status")).ToContainTextAsync(" ms");
        await Assertions.Expect(page.Locator("#output-image")).ToHaveAttributeAsync("src", new System.Text.RegularExpressions.Regex("^blob:"));
        Assert.Equal(64, await page.Locator("#output-image").EvaluateAsync<int>("img => img.naturalWidth"));
        await Shot(page, "translate");

        // Cancel a long job from the home page.
        var longJob = await ApiAsync(api).PostAsJsonAsync("/jobs/train", new JsonObject
        {
            ["datasetId"] = (await ApiAsync(api).GetJsonAsync("/datasets"))["items"]![0]!["id"]!.GetValue<string>(), ["modelName"] = "long",
            ["options"] = ApiClient.TinyOptions(epochs: 500),
        });
        var longId = (await longJob.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<string>();
        await page.GotoAsync("/ui/");
        var row = page.Locator($"#jobs tr[data-job='{longId}']");
        await row.GetByRole(AriaRole.Button, new() { Name = "Cancel" }).ClickAsync();
        await Assertions.Expect(row.Locator(".status")).ToHaveTextAsync("Cancelled", new() { Timeout = 30_000 });
        await Shot(page, "home");
        await page.SetViewportSizeAsync(390, 844); // a phone: nothing wider than the screen but the tables' own scrolling
        await page.ReloadAsync();
        await Assertions.Expect(page.Locator("#jobs")).ToBeVisibleAsync();
        Assert.True(await page.EvaluateAsync<bool>("() => document.documentElement.scrollWidth <= innerWidth"), "the home page is wider than a phone's screen");
        await Shot(page, "home-phone");

        // Sign out: the pages send the browser back to the form.
        await page.Locator("#sign-out").ClickAsync();
        await page.WaitForURLAsync("**/auth/signin**");
        await page.GotoAsync("/ui/");
        Assert.Contains("/auth/signin", page.Url);

        Assert.True(problems.Count == 0, string.Join('\n', problems));
    }

    private static HttpClient ApiAsync(ServiceProcess api)
    {
        var client = new HttpClient { BaseAddress = new Uri(api.BaseUrl) };
        client.UseKey(TestKeys.Admin);
        return client;
    }

    private static async Task Shot(IPage page, string name)
    {
        if (Screenshots is null) return;
        Directory.CreateDirectory(Screenshots);
        await page.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, $"{name}.png"), FullPage = true });
    }
}
