using Pix2Pix.Api;
using Pix2Pix.Api.Endpoints;

var builder = WebApplication.CreateBuilder(args);
builder.AddApiServices();

var app = builder.Build();
app.UseApiPipeline();
app.MapDatasetsApi();
app.MapJobsApi();
app.MapModelsApi();
app.MapHealthApi();
app.MapHangfireDashboard();
app.MapPrometheusScrapingEndpoint(); // /metrics
app.Run();

/// <summary>The API host (also the entry point WebApplicationFactory starts in tests).</summary>
public partial class Program;
