using Pix2Pix.Infrastructure;

// A worker: Hangfire servers on the "training" queue and the "translate-batch" queue, one job of each at a time,
// configured with the same ConnectionStrings:Database and Blobs:* keys as the API, plus Worker:* (device, threads,
// leases, shutdown) and Inference:* (the batch translations' device and precision).
var builder = WebApplication.CreateBuilder(args);
builder.AddPix2PixInfrastructure();
builder.AddTrainingWorker();
builder.AddTranslation().AddBatchTranslationWorker();
builder.AddManagementUrls();

var app = builder.Build();
app.UseManagementPort();
app.MapOperationalEndpoints();
app.Run();
