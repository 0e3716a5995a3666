using Pix2Pix.Api;
using Pix2Pix.Api.Endpoints;
using Pix2Pix.Api.Security;
using Pix2Pix.Infrastructure;

var builder = WebApplication.CreateBuilder(args);
builder.AddApiServices();

var app = builder.Build();
app.UseApiPipeline();
app.MapStaticAssets();
app.MapDatasetsApi();
app.MapJobsApi();
app.MapModelsApi();
app.MapBatchesApi();
app.MapApiKeysApi();
app.MapSessionApi();
app.MapUiPages();
app.MapOperationalEndpoints(metrics => metrics.RequireAuthorization(Scopes.Admin));
app.MapHangfireDashboard();
app.Run();

/// <summary>The API host (also the entry point WebApplicationFactory starts in tests).</summary>
public partial class Program;
