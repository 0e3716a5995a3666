using Hangfire;
using Hangfire.Dashboard;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using Pix2Pix.Api.Infrastructure;
using Pix2Pix.Api.Security;
using Pix2Pix.Infrastructure;

namespace Pix2Pix.Api;

public static class ApiServices
{
    public static WebApplicationBuilder AddApiServices(this WebApplicationBuilder builder)
    {
        builder.AddPix2PixInfrastructure();
        if (builder.Configuration.InProcessWorker()) builder.AddTrainingWorker();
        builder.AddManagementUrls();
        // The dashboard's files come from the build's static web assets manifest in any environment (a published app
        // has them in its wwwroot instead; without a manifest this does nothing).
        builder.WebHost.UseStaticWebAssets();
        builder.AddApiSecurity();

        var services = builder.Services;
        services.AddOptions<InferenceOptions>().BindConfiguration(InferenceOptions.Section)
            .Validate(o => o.CachedModels >= 1, "Inference:CachedModels must be at least 1.")
            .Validate(o => o.CachedModelBytes > 0, "Inference:CachedModelBytes must be positive.")
            .Validate(o => o.MaxBatch >= 1, "Inference:MaxBatch must be at least 1.")
            .Validate(o => o.MaxBatchDelay >= TimeSpan.Zero, "Inference:MaxBatchDelay must not be negative.")
            .Validate(o => o.MaxQueue >= 1, "Inference:MaxQueue must be at least 1.")
            .Validate(o => o.MaxPadPixels >= 0, "Inference:MaxPadPixels must be 0 (never tile) or more.")
            .Validate(o => o.QueueTimeout > TimeSpan.Zero, "Inference:QueueTimeout must be positive.").ValidateOnStart();
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
        services.AddSingleton<TranslatorCache>();
        services.AddSingleton<Serving.InferenceExecutor>();
        services.AddSingleton<Serving.ModelPreloader>();
        services.AddTransient<Serving.BatchTranslationRunner>();
        services.AddHostedService<Serving.BatchRecovery>();
        // Batch translations run in the API processes, which hold the inference executor: one at a time per process.
        services.AddHangfireServer((provider, options) =>
        {
            options.Queues = [Serving.BatchTranslationRunner.Queue];
            options.WorkerCount = 1;
            options.ServerName = $"{Environment.MachineName}:{Environment.ProcessId}:batches";
            options.StopTimeout = TimeSpan.FromMilliseconds(500);
        });
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
