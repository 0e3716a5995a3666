using Microsoft.OpenApi;
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
        var xml = Path.Combine(AppContext.BaseDirectory, "Pix2Pix.Api.xml");
        if (File.Exists(xml)) options.IncludeXmlComments(xml);
    }
}
