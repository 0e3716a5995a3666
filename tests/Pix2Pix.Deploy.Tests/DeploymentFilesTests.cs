using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text.Json;
using System.Text.RegularExpressions;
using Pix2Pix.Api;
using Pix2Pix.Infrastructure;
using Pix2Pix.Infrastructure.Blobs;

namespace Pix2Pix.Deploy.Tests;

/// <summary>
/// The deployment files (docker-compose.yml, Dockerfile, Dockerfile.gpu, k8s/) checked offline: schemas, lint, and
/// that every configuration key they set is one the applications read. No Docker engine or cluster is needed.
/// </summary>
public partial class DeploymentFilesTests
{
    private static readonly string Root = Pix2Pix.Testing.Repository.Root;
    private static readonly string Tools = Path.Combine(Root, "tests", "Pix2Pix.Deploy.Tests", "tools");

    [Fact]
    public void ComposeFile_ValidatesWithDockerCompose()
    {
        var (exit, output) = Run("docker-compose", "-f docker-compose.yml --env-file .env.example config -q", Root);
        Assert.True(exit == 0, output);
    }

    [Fact]
    public void KubernetesManifests_ValidAgainstKubernetesAndKedaSchemas()
    {
        var (exit, output) = Run("node", $"{Path.Combine(Tools, "validate-k8s.mjs")} k8s", Root);
        Assert.True(exit == 0, output);
        Assert.Matches(@"(1[0-9]|[2-9][0-9]) objects valid, 0 problem", output);
    }

    [Fact]
    public void Dockerfiles_PassDockerfilelint()
    {
        var (exit, output) = Run(Path.Combine(Tools, "node_modules", ".bin", "dockerfilelint"), "Dockerfile Dockerfile.gpu", Root);
        Assert.True(exit == 0, output);
    }

    [Fact]
    public void Dockerfiles_PullOnlyTaggedImagesAndRunAsNonRootWithJemalloc()
    {
        foreach (var file in new[] { "Dockerfile", "Dockerfile.gpu" })
        {
            var text = File.ReadAllText(Path.Combine(Root, file));
            var stages = FromLine().Matches(text).Select(m => m.Groups["alias"].Value).Where(a => a.Length > 0).ToHashSet();
            foreach (Match from in FromLine().Matches(text))
            {
                var image = from.Groups["image"].Value;
                if (stages.Contains(image)) continue;
                Assert.Matches(@":[A-Za-z0-9._-]+$", image);
                Assert.False(image.EndsWith(":latest", StringComparison.Ordinal), $"{file}: {image}");
            }
            Assert.Matches(@"(?m)^USER \S+", text);
            Assert.Contains("LD_PRELOAD=libjemalloc.so.2", text);
            Assert.Matches(@"(?m)^HEALTHCHECK ", text);
        }
    }

    [Fact]
    public void DeploymentConfigurationKeys_AreKeysTheAppsRead()
    {
        var (exit, output) = Run("node", $"{Path.Combine(Tools, "config-keys.mjs")} {Root}", Root);
        Assert.True(exit == 0, output);
        var sources = JsonSerializer.Deserialize<Dictionary<string, string[]>>(output)!;
        var known = ApplicationKeys();
        var unknown = sources.SelectMany(s => s.Value.Select(key => (Source: s.Key, Key: key)))
            .Where(entry => !IsRead(entry.Key, known))
            .Select(entry => $"{entry.Source}: {entry.Key}")
            .ToList();
        Assert.True(unknown.Count == 0, "Keys no application reads:\n" + string.Join("\n", unknown));
        Assert.Contains(sources, s => s.Value.Contains("ConnectionStrings__Database"));
        Assert.True(sources.Sum(s => s.Value.Length) > 30);
    }

    [Fact]
    public void ShutdownOrder_GraceExceedsHostShutdownWhichExceedsHangfireShutdown()
    {
        var configMap = File.ReadAllText(Path.Combine(Root, "k8s", "configmap.yaml"));
        var worker = File.ReadAllText(Path.Combine(Root, "k8s", "worker.yaml"));
        var hangfire = TimeSpan.Parse(Regex.Match(configMap, @"Worker__ShutdownTimeout: ""([0-9:]+)""").Groups[1].Value, CultureInfo.InvariantCulture);
        var grace = TimeSpan.FromSeconds(int.Parse(Regex.Match(worker, @"terminationGracePeriodSeconds: (\d+)").Groups[1].Value, CultureInfo.InvariantCulture));
        Assert.True(grace > hangfire + TimeSpan.FromSeconds(5) + TimeSpan.FromSeconds(10), $"k8s: grace {grace} vs host shutdown {hangfire + TimeSpan.FromSeconds(5)}");

        var compose = File.ReadAllText(Path.Combine(Root, "docker-compose.yml"));
        var composeTimeout = TimeSpan.Parse(Regex.Match(compose, @"Worker__ShutdownTimeout: ""([0-9:]+)""").Groups[1].Value, CultureInfo.InvariantCulture);
        var composeGrace = TimeSpan.FromMinutes(int.Parse(Regex.Match(compose, @"stop_grace_period: (\d+)m").Groups[1].Value, CultureInfo.InvariantCulture));
        Assert.True(composeGrace > composeTimeout + TimeSpan.FromSeconds(5), $"compose: grace {composeGrace} vs host shutdown {composeTimeout + TimeSpan.FromSeconds(5)}");
    }

    /// <summary>Configuration keys (":" form) bound from the options classes the API and the Worker register.</summary>
    private static HashSet<string> ApplicationKeys()
    {
        var keys = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { "ConnectionStrings:Database" };
        void AddSection(string section, Type type)
        {
            foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite))
            {
                if (property.PropertyType.IsClass && property.PropertyType != typeof(string)) AddSection($"{section}:{property.Name}", property.PropertyType);
                else keys.Add($"{section}:{property.Name}");
            }
        }
        AddSection(StorageOptions.Section, typeof(StorageOptions));
        AddSection(WorkerOptions.Section, typeof(WorkerOptions));
        AddSection(BlobOptions.Section, typeof(BlobOptions));
        AddSection(UploadOptions.Section, typeof(UploadOptions));
        AddSection(JobsOptions.Section, typeof(JobsOptions));
        AddSection(InferenceOptions.Section, typeof(InferenceOptions));
        return keys;
    }

    // Keys read by the host, ASP.NET Core, .NET or the dynamic loader rather than by our options classes.
    private static readonly string[] PlatformKeys = ["ASPNETCORE_HTTP_PORTS", "ASPNETCORE_URLS", "ASPNETCORE_ENVIRONMENT", "LD_PRELOAD", "MALLOC_CONF", "PATH", "DOTNET_ROOT"];
    private static readonly string[] PlatformPrefixes = ["Logging:"];

    private static bool IsRead(string variable, HashSet<string> known)
    {
        if (PlatformKeys.Contains(variable)) return true;
        var key = variable.Replace("__", ":", StringComparison.Ordinal);
        return known.Contains(key) || PlatformPrefixes.Any(p => key.StartsWith(p, StringComparison.Ordinal));
    }

    private static (int Exit, string Output) Run(string file, string arguments, string workingDirectory)
    {
        var start = new ProcessStartInfo(file, arguments)
        {
            WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"{file} is not installed ({e.Message}). Run ./test.sh as root: it installs docker-compose, " +
                "nodejs and npm, and runs npm ci in tests/Pix2Pix.Deploy.Tests/tools.", e);
        }
        using (process)
        {
            var output = process.StandardOutput.ReadToEndAsync();
            var error = process.StandardError.ReadToEndAsync();
            process.WaitForExit();
            return (process.ExitCode, output.Result + error.Result);
        }
    }

    [GeneratedRegex(@"(?im)^FROM\s+(?<image>\S+)(\s+AS\s+(?<alias>\S+))?")]
    private static partial Regex FromLine();
}
