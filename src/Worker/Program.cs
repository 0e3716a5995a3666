using Pix2Pix.Infrastructure;

// A training worker: a Hangfire server on the "training" queue, one job at a time, configured with the same
// ConnectionStrings:Database and Blobs:* keys as the API, plus Worker:* (device, threads, leases, shutdown).
var builder = WebApplication.CreateBuilder(args);
builder.AddPix2PixInfrastructure();
builder.AddTrainingWorker();
builder.AddManagementUrls();

var app = builder.Build();
app.UseManagementPort();
app.MapOperationalEndpoints();
app.Run();
