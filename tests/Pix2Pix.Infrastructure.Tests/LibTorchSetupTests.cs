using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Pix2Pix.Infrastructure.Jobs;
using static TorchSharp.torch;

namespace Pix2Pix.Infrastructure.Tests;

public sealed class LibTorchSetupTests
{
    private static LibTorchSetup Setup(string device, int threads) =>
        new(Options.Create(new WorkerOptions { Device = device, Threads = threads }), NullLogger<LibTorchSetup>.Instance);

    [Fact]
    public async Task Start_CudaWithoutAGpu_RefusesNamingTheSetting()
    {
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => Setup("cuda:0", 0).StartAsync(CancellationToken.None));

        Assert.Contains("Worker:Device 'cuda:0' is not usable here", error.Message);
    }

    [Fact]
    public async Task Start_WorkerThreads_SetTheProcessWideCountOnce()
    {
        // libtorch's count is process-wide: a thread started afterwards (a translation's, say) sees it too.
        int original = get_num_threads(), wanted = original == 3 ? 2 : 3;
        try
        {
            await Setup("cpu", wanted).StartAsync(CancellationToken.None);
            int seen = 0;
            var other = new Thread(() => seen = get_num_threads());
            other.Start();
            other.Join();

            Assert.Equal(wanted, seen);
        }
        finally
        {
            set_num_threads(original);
        }
    }
}
