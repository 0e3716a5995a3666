using System.Collections.Concurrent;
using System.Diagnostics;

namespace Pix2Pix.EndToEnd.Tests;

/// <summary>The API or a Worker started as its own OS process from its build output, with a health port and a log.</summary>
public sealed class ServiceProcess : IDisposable
{
    private readonly Process process;
    private readonly ConcurrentQueue<string> log = new();

    private ServiceProcess(string name, Process process, int port)
    {
        Name = name;
        this.process = process;
        Port = port;
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) log.Enqueue(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) log.Enqueue(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public string Name { get; }
    public int Port { get; }
    public int Pid => process.Id;
    public bool HasExited => process.HasExited;
    public string BaseUrl => $"http://127.0.0.1:{Port}";
    public int ManagementPort { get; private init; }
    public string ManagementUrl => $"http://127.0.0.1:{ManagementPort}";
    public IReadOnlyList<string> Log => log.ToList();

    /// <param name="project">"Api" or "Worker".</param>
    public static async Task<ServiceProcess> StartAsync(string project, string name, IDictionary<string, string> environment)
    {
        var dll = Path.Combine(Repository.Root, "src", project, "bin", Repository.BuildConfiguration, "net10.0", "linux-x64", $"Pix2Pix.{project}.dll");
        if (!File.Exists(dll)) throw new FileNotFoundException($"Build the solution first: {dll} is missing.");
        int port = Processes.FreePort();
        var start = new ProcessStartInfo("dotnet", $"\"{dll}\" --urls http://127.0.0.1:{port}")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(dll)!,
        };
        start.Environment["LD_PRELOAD"] = "libjemalloc.so.2";
        start.Environment["MALLOC_CONF"] = "dirty_decay_ms:-1,muzzy_decay_ms:-1";
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        start.Environment["Logging__LogLevel__Default"] = "Information";
        start.Environment["Logging__Console__FormatterName"] = "simple";
        int managementPort = Processes.FreePort();
        start.Environment["Management__Urls"] = $"http://127.0.0.1:{managementPort}";
        start.Environment["Auth__BootstrapAdminKey"] = TestKeys.Admin;
        start.Environment["Training__MinCheckpointEvery"] = "1";
        foreach (var (key, value) in environment) start.Environment[key] = value;
        var service = new ServiceProcess(name, Process.Start(start)!, port) { ManagementPort = managementPort };
        await service.WaitUntilReadyAsync();
        return service;
    }

    public async Task WaitUntilReadyAsync()
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            if (process.HasExited) throw new InvalidOperationException($"{Name} exited with {process.ExitCode}:\n{string.Join('\n', Log)}");
            try
            {
                if ((await http.GetAsync($"{BaseUrl}/healthz/ready")).IsSuccessStatusCode) return;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
            }
            await Task.Delay(200);
        }
        throw new TimeoutException($"{Name} did not become ready:\n{string.Join('\n', Log)}");
    }

    /// <summary>kill -9: no shutdown code runs.</summary>
    public void Kill()
    {
        process.Kill(entireProcessTree: false);
        process.WaitForExit();
    }

    /// <summary>SIGTERM, as Kubernetes sends on eviction; returns how long the process took to exit.</summary>
    public async Task<TimeSpan> TerminateAsync(TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        Processes.Run("kill", $"-TERM {process.Id}");
        using var cancel = new CancellationTokenSource(timeout);
        await process.WaitForExitAsync(cancel.Token);
        return clock.Elapsed;
    }

    public void Dispose()
    {
        if (!process.HasExited) Kill();
        process.Dispose();
    }
}
