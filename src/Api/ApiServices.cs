using Hangfire;
using Hangfire.Dashboard;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using Pix2Pix.Infrastructure.Serving;
using Pix2Pix.Api.Infrastructure;
using Pix2Pix.Api.Security;
using Pix2Pix.Infrastructure;

namespace Pix2Pix.Api;

public static class ApiServices
{
    public static WebApplicationBuilder AddApiServices(this WebApplicationBuilder builder)
    {
        builder.AddPix2PixInfrastructure();
        builder.AddTranslation();
        // Embedded: this process also trains and runs batch translations; in cluster mode the workers do.
        if (builder.Configuration.InProcessWorker()) builder.AddTrainingWorker().AddBatchTranslationWorker();
        builder.AddManagementUrls();
        // The dashboard's files come from the build's static web assets manifest in any environment (a published app
        // has them in its wwwroot instead; without a manifest this does nothing).
        builder.WebHost.UseStaticWebAssets();
        builder.AddApiSecurity();

        var services = builder.Services;
        services.AddSingleton<Endpoints.UploadSlots>();
        services.AddOptions<FormOptions>().Configure<IOptions<UploadOptions>>((form, uploads) =>
            form.MultipartBodyLengthLimit = uploads.Value.MaxDatasetBytes + Endpoints.DatasetsApi.MultipartOverhead);

        // Malformed bodies (bad JSON, wrong enum names) reach ApiExceptionHandler, which names the field.
        services.Configure<Microsoft.AspNetCore.Routing.RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        services.AddProblemDetails();
        services.AddExceptionHandler<ApiExceptionHandler>();
        services.ConfigureHttpJsonOptions(json =>
        {
            json.SerializerOptions.Converters.Add(new System.Text.Json.Serialization.JsonStringEnumConverter(System.Text.Json.JsonNamingPolicy.SnakeCaseLower));
        });
        services.AddSingleton<Serving.ModelPreloader>();
        services.AddHostedService(provider => provider.GetRequiredService<Serving.ModelPreloader>());
        services.AddHealthChecks().AddCheck<Serving.ModelPreloader>("preload", tags: ["ready"]);
        services.AddEndpointsApiExplorer();
        services.AddSwaggerGen(SwaggerSetup.Configure);
        // The OpenAPI schemas follow the JSON the endpoints read and write (enums as strings, as the reference spells them).
        services.AddSingleton<Swashbuckle.AspNetCore.SwaggerGen.ISerializerDataContractResolver>(provider =>
            new Swashbuckle.AspNetCore.SwaggerGen.JsonSerializerDataContractResolver(
                provider.GetRequiredService<IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions>>().Value.SerializerOptions));
        return builder;
    }

    /// <summary>Swagger UI and its document need a signed-in caller (the fallback policy covers them, being after it).</summary>
    public static WebApplication UseApiPipeline(this WebApplication app)
    {
        app.UseForwardedHeaders();
        app.UseManagementPort();
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseApiSecurity();
        app.UseSwagger();
        app.UseSwaggerUI(ui =>
        {
            ui.DocumentTitle = "Pix2Pix.Service";
            ui.EnablePersistAuthorization();
        });
        return app;
    }

    /// <summary>Read-only dashboard at /hangfire, for an admin's browser session (sign in at /auth/signin).</summary>
    public static WebApplication MapHangfireDashboard(this WebApplication app)
    {
        app.UseHangfireDashboard("/hangfire", new Hangfire.DashboardOptions
        {
            IsReadOnlyFunc = _ => true,
            Authorization = [new AdminSessionOnly()],
            DisplayStorageConnectionString = false,
        });
        return app;
    }

    private sealed class AdminSessionOnly : IDashboardAuthorizationFilter
    {
        public bool Authorize(DashboardContext context)
        {
            var user = context.GetHttpContext().User;
            return user.Identity is { IsAuthenticated: true, AuthenticationType: Security.SecurityServices.SessionScheme } && user.HasScope(Security.Scopes.Admin);
        }
    }
}
