namespace Pix2Pix.Api.Tests;

public sealed class HostStartTests
{
    [Fact]
    public void Start_TrainingOnCudaWithoutAGpu_RefusesToStartNamingTheSetting()
    {
        using var app = new ApiFactory(new() { ["Worker:Device"] = "cuda" });

        var error = Assert.ThrowsAny<Exception>(() => app.CreateClient());

        Assert.Contains("Worker:Device 'cuda' is not usable here", error.ToString());
    }

    [Fact]
    public async Task Start_ApiThatDoesNotTrain_IgnoresTheWorkerDevice()
    {
        using var app = new ApiFactory(new() { ["Worker:Device"] = "cuda", ["Worker:InProcess"] = "false" });

        var response = await app.CreateClient().GetAsync("/healthz/live");

        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
    }
}
