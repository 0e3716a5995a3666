using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;
using Xunit;

namespace Pix2Pix.Testing;

public static class Processes
{
    public static bool IsRoot => Environment.UserName == "root";

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public static string Run(string file, string arguments, TimeSpan? timeout = null)
    {
        using var process = Process.Start(new ProcessStartInfo(file, arguments)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        })!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout ?? TimeSpan.FromMinutes(2)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {arguments} did not finish.");
        }
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{file} {arguments} exited with {process.ExitCode}: {error.Result}{output.Result}");
        return output.Result;
    }

    /// <summary>Runs a command as the postgres user when we are root (PostgreSQL refuses to run as root).</summary>
    public static string RunAsPostgres(string file, string arguments) =>
        IsRoot ? Run("runuser", $"-u postgres -- {file} {arguments}") : Run(file, arguments);
}

/// <summary>
/// A throwaway PostgreSQL server from the machine's server binaries (Debian's postgresql-15: ./test.sh installs it),
/// on 127.0.0.1 and a free port, in a temporary folder; one per test run.
/// </summary>
public sealed class PostgresServer : IAsyncLifetime
{
    private readonly string directory = Path.Combine(Path.GetTempPath(), $"pix2pix-pg-{Guid.NewGuid():N}");
    private string bin = "";
    public int Port { get; } = Processes.FreePort();

    public Task InitializeAsync()
    {
        bin = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql").Select(d => Path.Combine(d, "bin")).Where(d => File.Exists(Path.Combine(d, "pg_ctl"))).Order().LastOrDefault() ?? ""
            : "";
        if (bin.Length == 0)
            throw new InvalidOperationException("PostgreSQL server binaries were not found under /usr/lib/postgresql: run ./test.sh as root to install postgresql.");
        Directory.CreateDirectory(directory);
        if (Processes.IsRoot) Processes.Run("chown", $"postgres:postgres {directory}");
        Processes.RunAsPostgres(Path.Combine(bin, "initdb"), $"-D {directory}/data -U postgres --auth=trust -E UTF8 --no-sync");
        Processes.RunAsPostgres(Path.Combine(bin, "pg_ctl"),
            $"-D {directory}/data -l {directory}/server.log -w -o \"-c listen_addresses=127.0.0.1 -p {Port} -k {directory} -c fsync=off -c max_connections=300\" start");
        return Task.CompletedTask;
    }

    public string ConnectionString(string database) => $"Host=127.0.0.1;Port={Port};Username=postgres;Database={database};Pooling=true;Maximum Pool Size=50";

    public async Task<string> CreateDatabaseAsync()
    {
        var name = $"pix2pix_{Guid.NewGuid():N}";
        await using var connection = new NpgsqlConnection(ConnectionString("postgres"));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
        await command.ExecuteNonQueryAsync();
        return ConnectionString(name);
    }

    public void Restart()
    {
        // -l: the restarted server must not inherit our output pipe, or reading it never ends.
        Processes.RunAsPostgres(Path.Combine(bin, "pg_ctl"), $"-D {directory}/data -l {directory}/server.log -m fast -w restart");
        NpgsqlConnection.ClearAllPools(); // this process's pooled connections died with the old server
    }

    public Task DisposeAsync()
    {
        try
        {
            Processes.RunAsPostgres(Path.Combine(bin, "pg_ctl"), $"-D {directory}/data -m immediate -w stop");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
        return Task.CompletedTask;
    }
}

/// <summary>
/// A throwaway S3 server: Ceph's RADOS Gateway with one monitor and a memstore OSD on 127.0.0.1 (Debian's radosgw,
/// ceph-mon, ceph-osd; ./test.sh installs them as root). Starts in about 15 s; one per test run.
/// </summary>
public sealed class S3Server : IAsyncLifetime
{
    private readonly string directory = Path.Combine(Path.GetTempPath(), $"pix2pix-rgw-{Guid.NewGuid():N}");
    private int[] pids = [];
    public int Port { get; } = Processes.FreePort();
    public string AccessKey => "PIX2PIXTESTKEY";
    public string SecretKey => "pix2pix-test-secret";
    public string ServiceUrl => $"http://127.0.0.1:{Port}";

    public Task InitializeAsync()
    {
        if (!File.Exists("/usr/bin/radosgw"))
            throw new InvalidOperationException("radosgw was not found: run ./test.sh as root to install radosgw, ceph-mon and ceph-osd.");
        var script = Path.Combine(AppContext.BaseDirectory, "scripts", "ceph-rgw.sh");
        var output = Processes.Run("bash", $"{script} {directory} {Processes.FreePort()} {Port} {AccessKey} {SecretKey}", TimeSpan.FromMinutes(3));
        var ready = output.Split('\n').Single(l => l.StartsWith("READY", StringComparison.Ordinal));
        pids = ready.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(int.Parse).ToArray();
        return Task.CompletedTask;
    }

    public Task DisposeAsync()
    {
        foreach (var pid in pids.Reverse())
        {
            try
            {
                Process.GetProcessById(pid).Kill();
            }
            catch (ArgumentException)
            {
            }
        }
        Thread.Sleep(500);
        if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
        return Task.CompletedTask;
    }
}

