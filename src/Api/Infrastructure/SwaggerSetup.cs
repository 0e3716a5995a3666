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

                Every endpoint needs an API key (`Authorization: Bearer <key>` or `X-Api-Key: <key>`) with the scope it names
                (`read`, `translate`, `train`, `admin`); a fresh embedded install writes an admin key to `{Storage:DataDirectory}/admin.key` (`src/Api/data/admin.key` under `dotnet run`) and logs where.
                Use **Authorize** above to call the endpoints from this page.

                The main flow with curl (embedded mode on http://localhost:5080):

                    KEY=$(cat src/Api/data/admin.key); AUTH="Authorization: Bearer $KEY"
                    curl -H "$AUTH" -F file=@facades.zip -F name=facades http://localhost:5080/datasets
                    curl -H "$AUTH" -H 'Content-Type: application/json' -d '{"datasetId":"<id>","modelName":"facades","options":{"direction":"BtoA","epochs":5,"decayEpochs":5}}' http://localhost:5080/jobs/train
                    curl -H "$AUTH" http://localhost:5080/jobs/<jobId>
                    curl -H "$AUTH" -o epoch-0010.png http://localhost:5080/jobs/<jobId>/snapshots/10
                    curl -H "$AUTH" --data-binary @labels.png -H 'Content-Type: image/png' -o photo.png 'http://localhost:5080/models/<modelId>/translate?mode=pad'
                """,
        });
        options.AddSecurityDefinition(SecurityScheme, new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.Http,
            Scheme = "bearer",
            Description = "An API key (p2p_...), or an OIDC access token where Auth:Jwt is configured.",
        });
        options.OperationFilter<ScopeOperationFilter>();
        // The API's own docs and the engine's (the recipe's fields are documented where they are defined).
        foreach (var xml in Directory.EnumerateFiles(AppContext.BaseDirectory, "Pix2Pix.*.xml")) options.IncludeXmlComments(xml);
        options.SchemaFilter<RecipeDefaultsSchemaFilter>();
    }

    public const string SecurityScheme = "Bearer";

    /// <summary>
    /// Each operation names the scope its endpoint requires (the policy of its authorization metadata) as its security
    /// requirement, so that the document tells clients, and the endpoint walk in the tests checks, what each one needs.
    /// </summary>
    private sealed class ScopeOperationFilter : IOperationFilter
    {
        public void Apply(OpenApiOperation operation, OperationFilterContext context)
        {
            var metadata = context.ApiDescription.ActionDescriptor.EndpointMetadata;
            if (metadata.OfType<Microsoft.AspNetCore.Authorization.IAllowAnonymous>().Any()) return;
            var scopes = metadata.OfType<Microsoft.AspNetCore.Authorization.IAuthorizeData>().Select(data => data.Policy).OfType<string>().Distinct().ToList();
            operation.Security = [new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(SecurityScheme, context.Document)] = scopes }];
            operation.Responses ??= [];
            operation.Responses.TryAdd("401", new OpenApiResponse { Description = "No valid API key, token or session." });
            if (scopes.Count > 0) operation.Responses.TryAdd("403", new OpenApiResponse { Description = $"The caller lacks the {string.Join(" or ", scopes)} scope." });
        }
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
