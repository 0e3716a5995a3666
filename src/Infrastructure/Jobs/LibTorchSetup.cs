using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Pix2Pix.Domain.Runtime;
using static TorchSharp.torch;

namespace Pix2Pix.Infrastructure.Jobs;

/// <summary>
/// Starts before the training server, once per process. A process configured to train on a device it does not have
/// (cuda without a usable GPU) stops here with the reason, instead of taking jobs and failing every one of them.
/// <c>Worker:Threads</c> is applied here too: libtorch's intra-op thread count is process-wide, so a training job that
/// set it would change the translations of an embedded API mid-flight.
/// </summary>
public sealed class LibTorchSetup(IOptions<WorkerOptions> worker, ILogger<LibTorchSetup> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        var device = worker.Value.Device;
        try
        {
            TorchDevices.Resolve(device);
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException)
        {
            logger.LogCritical("Worker:Device is '{Device}' but this process cannot train there: {Reason} This process takes no jobs and stops.",
                device, e.Message);
            throw new OptionsValidationException(nameof(WorkerOptions), typeof(WorkerOptions), [$"Worker:Device '{device}' is not usable here: {e.Message}"]);
        }
        if (worker.Value.Threads > 0) set_num_threads(worker.Value.Threads);
        logger.LogInformation("Training on {Device} with {Threads} libtorch threads", device, get_num_threads());
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
