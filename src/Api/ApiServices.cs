using Hangfire;
using Hangfire.Dashboard;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;
using Pix2Pix.Api.Infrastructure;
using Pix2Pix.Infrastructure;

namespace Pix2Pix.Api;

public static class ApiServices
{
    public static WebApplicationBuilder AddApiServices(this WebApplicationBuilder builder)
    {
        builder.AddPix2PixInfrastructure();
        if (builder.Configuration.InProcessWorker()) builder.AddTrainingWorker();

        var services = builder.Services;
        services.AddOptions<InferenceOptions>().BindConfiguration(InferenceOptions.Section)
            .Validate(o => o.CachedModels >= 1, "Inference:CachedModels must be at least 1.")
            .Validate(o => o.CachedModelBytes > 0, "Inference:CachedModelBytes must be positive.")
            .Validate(o => o.MaxBatch >= 1, "Inference:MaxBatch must be at least 1.")
            .Validate(o => o.MaxBatchDelay >= TimeSpan.Zero, "Inference:MaxBatchDelay must not be negative.")
            .Validate(o => o.MaxQueue >= 1, "Inference:MaxQueue must be at least 1.")
            .Validate(o => o.MaxPadPixels >= 0, "Inference:MaxPadPixels must be 0 (never tile) or more.")
            .Validate(o => o.QueueTimeout > TimeSpan.Zero, "Inference:QueueTimeout must be positive.").ValidateOnStart();
        services.AddOptions<DashboardOptions>().BindConfiguration(DashboardOptions.Section);

        services.AddOptions<KestrelServerOptions>().Configure<IOptions<UploadOptions>>((kestrel, uploads) =>
            kestrel.Limits.MaxRequestBodySize = uploads.Value.MaxDatasetBytes + 1024 * 1024);
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

    public static WebApplication UseApiPipeline(this WebApplication app)
    {
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseSwagger();
        app.UseSwaggerUI(ui => ui.DocumentTitle = "Pix2Pix.Service");
        return app;
    }

    /// <summary>Read-only dashboard at /hangfire; loopback only unless Hangfire:Dashboard:AllowRemote.</summary>
    public static WebApplication MapHangfireDashboard(this WebApplication app)
    {
        var options = app.Services.GetRequiredService<IOptions<DashboardOptions>>().Value;
        app.UseHangfireDashboard("/hangfire", new Hangfire.DashboardOptions
        {
            IsReadOnlyFunc = _ => true,
            Authorization = [new DashboardAccess(options.AllowRemote)],
            DisplayStorageConnectionString = false,
        });
        return app;
    }

    private sealed class DashboardAccess(bool allowRemote) : IDashboardAuthorizationFilter
    {
        public bool Authorize(DashboardContext context)
        {
            if (allowRemote) return true;
            var connection = context.GetHttpContext().Connection;
            return connection.RemoteIpAddress is null || System.Net.IPAddress.IsLoopback(connection.RemoteIpAddress);
        }
    }
}
