using System.Text.Json.Nodes;

namespace Pix2Pix.Api.Tests;

/// <summary>What the OpenAPI document promises clients (and the dashboard's generated forms).</summary>
public sealed class OpenApiDocumentTests : IDisposable
{
    private readonly ApiFactory app = new();

    private async Task<JsonObject> DocumentAsync() => await app.CreateClient().GetJsonAsync("/swagger/v1/swagger.json");

    [Fact]
    public async Task EveryOperationOnAnId_Declares404AsProblemDetails()
    {
        var paths = (await DocumentAsync())["paths"]!.AsObject();
        var missing = new List<string>();
        foreach (var (path, operations) in paths.Where(p => p.Key.Contains("{id}", StringComparison.Ordinal)))
            foreach (var (method, operation) in operations!.AsObject().Where(o => o.Key is "get" or "post" or "put" or "delete"))
            {
                var notFound = operation!["responses"]?["404"];
                if (notFound?["content"]?["application/problem+json"] is null) missing.Add($"{method.ToUpperInvariant()} {path}");
            }
        Assert.Empty(missing);
    }

    [Theory]
    [InlineData("/jobs/{id}", "delete")]
    [InlineData("/jobs/{id}/cancel", "post")]
    [InlineData("/datasets/{id}", "delete")]
    [InlineData("/models/{id}", "delete")]
    public async Task DeletesAndCancelThatCanConflict_Declare409(string path, string method)
    {
        var operation = (await DocumentAsync())["paths"]![path]![method]!;
        Assert.NotNull(operation["responses"]!["409"]?["content"]?["application/problem+json"]);
    }

    [Fact]
    public async Task TrainingRecipeSchema_DocumentsEveryFieldWithItsDefault()
    {
        var document = await DocumentAsync();
        var recipe = document["components"]!["schemas"]!["TrainingRecipe"]!.AsObject();
        var properties = recipe["properties"]!.AsObject();
        var fields = typeof(Pix2Pix.Domain.Training.TrainingRecipe).GetProperties()
            .Where(p => p.CanWrite)
            .Select(p => System.Text.Json.JsonNamingPolicy.CamelCase.ConvertName(p.Name))
            .ToList();

        Assert.Equal(fields.Order(), properties.Select(p => p.Key).Order());
        Assert.All(properties, p =>
        {
            Assert.False(string.IsNullOrWhiteSpace(p.Value!["description"]?.GetValue<string>()), $"{p.Key} has no description");
            Assert.NotNull(p.Value!["default"]);
        });
        Assert.Equal(100, properties["epochs"]!["default"]!.GetValue<int>());
        Assert.Equal("unet_256", properties["generator"]!["default"]!.GetValue<string>());
        Assert.Equal("resize_and_crop", properties["preprocess"]!["default"]!.GetValue<string>());
        var preprocess = document["components"]!["schemas"]!["Preprocess"]!["enum"]!.AsArray().Select(v => v!.GetValue<string>());
        Assert.Equal(["resize_and_crop", "crop", "scale_width", "none"], preprocess);
        Assert.Equal("auto", properties["precision"]!["default"]!.GetValue<string>());
        var precision = document["components"]!["schemas"]!["TrainingPrecision"]!["enum"]!.AsArray().Select(v => v!.GetValue<string>());
        Assert.Equal(["fp32", "bf16-mixed", "auto"], precision);
    }

    public void Dispose() => app.Dispose();
}
