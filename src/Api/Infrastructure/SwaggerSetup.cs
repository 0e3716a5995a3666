using System.Text.Json;
using System.Xml.Linq;
using Microsoft.OpenApi;
using Pix2Pix.Domain.Training;
using Swashbuckle.AspNetCore.SwaggerGen;

namespace Pix2Pix.Api.Infrastructure;

public static class SwaggerSetup
{
    public static void Configure(SwaggerGenOptions options)
    {
        options.SwaggerDoc("v1", new OpenApiInfo
        {
            Title = "Pix2Pix.Service",
            Version = "v1",
            Description = """
                Train pix2pix image-to-image models on your paired images and translate with them.

                The main flow with curl (embedded mode on http://localhost:5080):

                    curl -F file=@facades.zip -F name=facades http://localhost:5080/datasets
                    curl -H 'Content-Type: application/json' -d '{"datasetId":"<id>","modelName":"facades","options":{"direction":"BtoA","epochs":5,"decayEpochs":5}}' http://localhost:5080/jobs/train
                    curl http://localhost:5080/jobs/<jobId>
                    curl -o epoch-0010.png http://localhost:5080/jobs/<jobId>/snapshots/10
                    curl --data-binary @labels.png -H 'Content-Type: image/png' -o photo.png 'http://localhost:5080/models/<modelId>/translate?mode=pad'
                """,
        });
        // The API's own docs and the engine's (the recipe's fields are documented where they are defined).
        foreach (var xml in Directory.EnumerateFiles(AppContext.BaseDirectory, "Pix2Pix.*.xml")) options.IncludeXmlComments(xml);
        options.SchemaFilter<RecipeDefaultsSchemaFilter>();
    }

    /// <summary>
    /// Each field of the recipe's schema carries its default, read from a new <see cref="TrainingRecipe"/>. An enum's
    /// schema is shared, so its field gets a schema of its own around the reference, with the default and the field's
    /// doc comment (which Swashbuckle drops beside a reference).
    /// </summary>
    private sealed class RecipeDefaultsSchemaFilter : ISchemaFilter
    {
        private static readonly Lazy<XDocument?> EngineDocs = new(() =>
        {
            var path = Path.Combine(AppContext.BaseDirectory, "Pix2Pix.Domain.xml");
            return File.Exists(path) ? XDocument.Load(path) : null;
        });

        public void Apply(IOpenApiSchema schema, SchemaFilterContext context)
        {
            if (context.Type != typeof(TrainingRecipe) || schema is not OpenApiSchema { Properties: { } properties }) return;
            var defaults = JsonSerializer.SerializeToNode(new TrainingRecipe(), TrainingRecipe.Json)!.AsObject();
            foreach (var name in properties.Keys.ToList())
            {
                if (!defaults.TryGetPropertyValue(name, out var value) || value is null) continue;
                if (properties[name] is OpenApiSchema inline) inline.Default = value.DeepClone();
                else if (properties[name] is OpenApiSchemaReference reference)
                    properties[name] = new OpenApiSchema { AllOf = [reference], Default = value.DeepClone(), Description = reference.Description ?? Summary(name) };
            }
        }

        private static string? Summary(string field)
        {
            var member = $"P:{typeof(TrainingRecipe).FullName}.{char.ToUpperInvariant(field[0])}{field[1..]}";
            var summary = EngineDocs.Value?.Descendants("member").FirstOrDefault(m => (string?)m.Attribute("name") == member)?.Element("summary");
            return summary is null ? null : string.Join(' ', summary.Value.Split((char[])[' ', '\n', '\r'], StringSplitOptions.RemoveEmptyEntries));
        }
    }
}
