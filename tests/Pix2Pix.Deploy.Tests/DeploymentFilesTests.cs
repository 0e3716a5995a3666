using System.Collections;
using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Pix2Pix.Api;
using Pix2Pix.Api.Security;
using Pix2Pix.Infrastructure;
using Pix2Pix.Infrastructure.Blobs;
using Pix2Pix.Infrastructure.Serving;

namespace Pix2Pix.Deploy.Tests;

/// <summary>
/// The deployment files (docker-compose.yml, Dockerfile, Dockerfile.gpu, k8s/) checked offline: schemas, lint, that
/// every configuration key they set is one the applications read, and the hardening they promise (restricted pods,
/// network policies, TLS, a management port nobody outside the monitoring namespace reaches, secrets where they belong).
/// No Docker engine or cluster is needed.
/// </summary>
public partial class DeploymentFilesTests
{
    private static readonly string Root = Pix2Pix.Testing.Repository.Root;
    private static readonly string Tools = Path.Combine(Root, "tests", "Pix2Pix.Deploy.Tests", "tools");
    private const string ComposeConfig = "-f docker-compose.yml --env-file .env.example config -q";
    private const int ManagementPort = 9464;
    private static readonly string[] ServiceComponents = ["api", "worker"];
    private static readonly string[] ComposeServices = ["api", "worker", "worker-cpu"];

    [Fact]
    public void ComposeFile_ValidatesWithDockerCompose()
    {
        // .env.example leaves the bootstrap key empty on purpose; the shell's value wins over the env file's.
        var (exit, output) = Run("docker-compose", ComposeConfig, Root, ("PIX2PIX_BOOTSTRAP_ADMIN_KEY", new string('k', 44)));
        Assert.True(exit == 0, output);
    }

    [Fact]
    public void ComposeFile_WithoutBootstrapAdminKey_StopsAndSaysWhatToSet()
    {
        var (exit, output) = Run("docker-compose", ComposeConfig, Root, ("PIX2PIX_BOOTSTRAP_ADMIN_KEY", null));
        Assert.True(exit != 0, output);
        Assert.Contains("set PIX2PIX_BOOTSTRAP_ADMIN_KEY in .env", output, StringComparison.Ordinal);
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

    [Fact]
    public void Namespace_EnforcesRestrictedPodSecurity()
    {
        var labels = Objects("Namespace").Single().Object["metadata"]!["labels"];
        Assert.Equal("restricted", (string?)labels?["pod-security.kubernetes.io/enforce"]);
    }

    [Fact]
    public void Pods_MeetRestrictedPodSecurityWithWritableTmp()
    {
        var pods = PodTemplates().ToList();
        Assert.Contains(pods, p => p.Name == "pix2pix-api");
        Assert.Contains(pods, p => p.Name == "pix2pix-worker");
        Assert.Contains(pods, p => p.Name == "minio-init"); // the dev Job too: the namespace admits nothing less
        var problems = new List<string>();
        foreach (var (where, _, _, spec) in pods)
        {
            var pod = spec["securityContext"];
            if ((bool?)pod?["runAsNonRoot"] != true) problems.Add($"{where}: runAsNonRoot is not true");
            if ((long?)pod?["runAsUser"] is not > 0) problems.Add($"{where}: runAsUser is not a non-root uid");
            if ((string?)pod?["seccompProfile"]?["type"] != "RuntimeDefault") problems.Add($"{where}: seccompProfile is not RuntimeDefault");
            foreach (var host in new[] { "hostNetwork", "hostPID", "hostIPC" })
                if ((bool?)spec[host] == true) problems.Add($"{where}: {host}");
            var volumes = Items(spec["volumes"]).ToDictionary(v => (string)v["name"]!);
            if (volumes.Values.Any(v => v["hostPath"] is not null)) problems.Add($"{where}: a hostPath volume");
            foreach (var container in Items(spec["containers"]).Concat(Items(spec["initContainers"])))
            {
                var name = $"{where} {(string?)container["name"]}";
                var security = container["securityContext"];
                if ((bool?)security?["allowPrivilegeEscalation"] != false) problems.Add($"{name}: allowPrivilegeEscalation is not false");
                if ((bool?)security?["readOnlyRootFilesystem"] != true) problems.Add($"{name}: readOnlyRootFilesystem is not true");
                if ((bool?)security?["privileged"] == true) problems.Add($"{name}: privileged");
                if (!Strings(security?["capabilities"]?["drop"]).Contains("ALL")) problems.Add($"{name}: capabilities do not drop ALL");
                if (Strings(security?["capabilities"]?["add"]).Any()) problems.Add($"{name}: adds capabilities");
                var tmp = Items(container["volumeMounts"]).FirstOrDefault(m => (string?)m["mountPath"] == "/tmp");
                if (tmp is null || !volumes.TryGetValue((string)tmp["name"]!, out var volume) || volume["emptyDir"] is null)
                    problems.Add($"{name}: /tmp is not a writable emptyDir");
            }
        }
        foreach (var (where, _, spec) in ServicePods())
            foreach (var container in Items(spec["containers"]))
                if (!Items(container["volumeMounts"]).Any(m => (string?)m["mountPath"] == "/data" && (bool?)m["readOnly"] != true))
                    problems.Add($"{where}: /data is not mounted writable");
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [Fact]
    public void Ingress_TerminatesTlsForEveryHostAndKeepsTheUploadSize()
    {
        foreach (var (file, ingress) in Objects("Ingress"))
        {
            var tls = Items(ingress["spec"]!["tls"]).ToList();
            Assert.True(tls.Count > 0, $"{file}: no tls section");
            Assert.All(tls, t => Assert.False(string.IsNullOrEmpty((string?)t["secretName"]), $"{file}: a tls entry without secretName"));
            var covered = tls.SelectMany(t => Strings(t["hosts"])).ToHashSet();
            foreach (var rule in Items(ingress["spec"]!["rules"]))
                Assert.True(covered.Contains((string)rule["host"]!), $"{file}: {(string?)rule["host"]} has no certificate");
            Assert.NotNull(ingress["metadata"]!["annotations"]?["nginx.ingress.kubernetes.io/proxy-body-size"]);
        }
    }

    [Fact]
    public void ManagementPort_AnnotatedAndDeclaredButNeverExposed()
    {
        var configMap = Objects("ConfigMap").Single(c => (string?)c.Object["metadata"]!["name"] == "pix2pix-config").Object;
        Assert.Equal(ManagementPort, UrlPort((string)configMap["data"]!["Management__Urls"]!));
        foreach (var (where, template, spec) in ServicePods())
        {
            Assert.Equal(ManagementPort.ToString(CultureInfo.InvariantCulture), (string?)template["metadata"]!["annotations"]?["prometheus.io/port"]);
            var container = Items(spec["containers"]).Single();
            Assert.Contains(Items(container["ports"]), p => (string?)p["name"] == "metrics" && (int?)p["containerPort"] == ManagementPort);
            foreach (var probe in new[] { "readinessProbe", "livenessProbe" })
                Assert.True((string?)container[probe]?["httpGet"]?["port"] == "http", $"{where}: {probe} is not on the http port");
        }
        foreach (var (file, service) in Objects("Service"))
            foreach (var port in Items(service["spec"]!["ports"]))
            {
                var exposed = new[] { port["port"], port["targetPort"] }.Select(p => p?.ToString()).ToList();
                Assert.False(exposed.Contains(ManagementPort.ToString(CultureInfo.InvariantCulture)) || exposed.Contains("metrics"),
                    $"{file}: Service {(string?)service["metadata"]!["name"]} exposes the management port");
            }
        foreach (var (file, ingress) in Objects("Ingress"))
            foreach (var path in Items(ingress["spec"]!["rules"]).SelectMany(r => Items(r["http"]!["paths"])))
            {
                var backend = path["backend"]!["service"]!;
                Assert.True((string?)backend["port"]!["name"] == "http", $"{file}: an Ingress backend other than the http port");
            }

        var compose = DeployFiles.Value["compose"]!["services"]!;
        foreach (var name in ComposeServices)
        {
            Assert.Equal(ManagementPort, UrlPort((string)compose[name]!["environment"]!["Management__Urls"]!));
            foreach (var published in Strings(compose[name]!["ports"]))
                Assert.DoesNotContain(ManagementPort.ToString(CultureInfo.InvariantCulture), published, StringComparison.Ordinal);
        }
        Assert.Contains(Strings(compose["api"]!["ports"]), p => p.EndsWith(":8080", StringComparison.Ordinal));
        foreach (var dockerfile in new[] { "Dockerfile", "Dockerfile.gpu" })
        {
            var text = File.ReadAllText(Path.Combine(Root, dockerfile));
            Assert.Contains($"Management__Urls=http://+:{ManagementPort}", text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void NetworkPolicies_DenyIngressByDefaultAndAreInTheKustomizations()
    {
        // Every manifest is applied: a policy (or anything else) left out of its kustomization would protect nothing.
        foreach (var folder in new[] { "k8s", Path.Combine("k8s", "dev") })
        {
            var kustomization = DeployFiles.Value["k8s"]!.AsArray()
                .Single(d => (string?)d!["object"]!["kind"] == "Kustomization" && (string)d["file"]! == Path.Combine(folder, "kustomization.yaml"))!;
            var resources = Strings(kustomization["object"]!["resources"]).ToHashSet();
            foreach (var file in Directory.GetFiles(Path.Combine(Root, folder), "*.yaml").Select(Path.GetFileName))
                if (file != "kustomization.yaml") Assert.True(resources.Contains(file!), $"{folder}/kustomization.yaml does not list {file}");
        }
        Assert.Contains(Objects("NetworkPolicy"), p => p.File == Path.Combine("k8s", "networkpolicy.yaml")
            && p.Object["spec"]!["podSelector"]!.AsObject().Count == 0
            && Strings(p.Object["spec"]!["policyTypes"]).Contains("Ingress")
            && !Items(p.Object["spec"]!["ingress"]).Any());
    }

    [Fact]
    public void NetworkPolicies_AdmitIngressControllerToApiHttpAndMonitoringToMetricsOnly()
    {
        var problems = new List<string>();
        var admitted = new HashSet<string>();
        foreach (var (where, template, _) in ServicePods())
        {
            var labels = template["metadata"]!["labels"]!;
            foreach (var (file, policy) in Objects("NetworkPolicy").Where(p => Selects(p.Object["spec"]!["podSelector"], labels)))
                foreach (var rule in Items(policy["spec"]!["ingress"]))
                {
                    var sources = Items(rule["from"])
                        .Select(f => (string?)f["namespaceSelector"]?["matchLabels"]?["kubernetes.io/metadata.name"]).ToList();
                    var ports = Items(rule["ports"]).Select(p => p["port"]?.ToString()).ToList();
                    var allowed = sources is ["ingress-nginx"] && ports is ["http"] && where.EndsWith("pix2pix-api", StringComparison.Ordinal)
                        || sources is ["monitoring"] && ports is ["metrics"];
                    if (allowed) admitted.Add($"{where} {sources[0]}");
                    else problems.Add($"{file} admits [{string.Join(", ", sources)}] to {where} on [{string.Join(", ", ports)}]");
                }
        }
        Assert.True(problems.Count == 0, string.Join("\n", problems));
        string[] expected =
            ["k8s/api.yaml pix2pix-api ingress-nginx", "k8s/api.yaml pix2pix-api monitoring", "k8s/worker.yaml pix2pix-worker monitoring"];
        Assert.Equal(expected, admitted.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void NetworkPolicies_LetServicePodsReachOnlyDnsPostgresAndTheObjectStore()
    {
        foreach (var (where, template, _) in ServicePods())
        {
            var labels = template["metadata"]!["labels"]!;
            var egress = Objects("NetworkPolicy")
                .Where(p => Strings(p.Object["spec"]!["policyTypes"]).Contains("Egress") && Selects(p.Object["spec"]!["podSelector"], labels))
                .ToList();
            Assert.Contains(egress, p => p.File == Path.Combine("k8s", "networkpolicy.yaml"));
            var ports = egress.SelectMany(p => Items(p.Object["spec"]!["egress"])).SelectMany(r => Items(r["ports"]))
                .Select(p => $"{(string?)p["protocol"] ?? "TCP"}/{p["port"]}").ToHashSet();
            Assert.True(ports.IsSubsetOf(["UDP/53", "TCP/53", "TCP/5432", "TCP/443", "TCP/9000"]), $"{where}: {string.Join(", ", ports)}");
            Assert.Superset(new HashSet<string> { "UDP/53", "TCP/5432", "TCP/9000" }, ports); // 9000: k8s/dev's MinIO
        }
        // k8s/dev: the in-cluster PostgreSQL and MinIO admit the service's pods (MinIO the init Job too).
        var api = ServicePods().First().Template["metadata"]!["labels"]!;
        foreach (var (server, port) in new[] { ("postgres", 5432), ("minio", 9000) })
        {
            var labels = JsonNode.Parse($$"""{"app.kubernetes.io/name": "{{server}}"}""")!;
            var number = port.ToString(CultureInfo.InvariantCulture);
            Assert.Contains(Objects("NetworkPolicy"), p => Selects(p.Object["spec"]!["podSelector"], labels)
                && Items(p.Object["spec"]!["ingress"]).Any(r => Items(r["ports"]).Any(q => q["port"]?.ToString() == number)
                    && Items(r["from"]).Any(f => f["namespaceSelector"] is null && Selects(f["podSelector"], api))));
        }
    }

    [Fact]
    public void ServicePods_UseTheirOwnS3UserAndNeverMinioRoot()
    {
        foreach (var (_, _, spec) in ServicePods())
            foreach (var container in Items(spec["containers"]))
            {
                var references = Items(container["env"]).Select(e => e.ToJsonString())
                    .Concat(Items(container["envFrom"]).Select(e => e.ToJsonString())).ToList();
                Assert.DoesNotContain(references, r =>
                    r.Contains("MINIO_ROOT", StringComparison.Ordinal) || r.Contains("pix2pix-dev-secrets", StringComparison.Ordinal));
            }
        // MinIO's root must not be the service's keys (k8s/dev used to start MinIO with them).
        foreach (var (_, _, _, spec) in PodTemplates().Where(p => p.Name == "minio"))
            Assert.DoesNotContain("Blobs__S3__", Items(spec["containers"]).Single()["env"]!.ToJsonString(), StringComparison.Ordinal);
        var configMap = Objects("ConfigMap").Single(c => (string?)c.Object["metadata"]!["name"] == "pix2pix-config").Object;
        Assert.Equal("false", (string?)configMap["data"]!["Blobs__S3__CreateBucket"]);
        var init = Objects("Job").Single(j => (string?)j.Object["metadata"]!["name"] == "minio-init");
        Assert.Equal(Path.Combine("k8s", "dev", "minio-init.yaml"), init.File);
        AssertCreatesRestrictedUser(init.Object.ToJsonString());

        var compose = DeployFiles.Value["compose"]!["services"]!;
        foreach (var name in ComposeServices)
        {
            var service = compose[name]!;
            Assert.DoesNotContain("MINIO_ROOT", service["environment"]!.ToJsonString(), StringComparison.Ordinal);
            Assert.Equal("false", (string?)service["environment"]!["Blobs__S3__CreateBucket"]);
            Assert.Equal("service_completed_successfully", (string?)service["depends_on"]?["minio-init"]?["condition"]);
        }
        Assert.StartsWith("minio/mc:RELEASE.", (string?)compose["minio-init"]!["image"]);
        AssertCreatesRestrictedUser(compose["minio-init"]!.ToJsonString());

        static void AssertCreatesRestrictedUser(string init)
        {
            string[] steps = ["mc mb --ignore-existing", "mc admin policy create", "mc admin user add", "mc admin policy attach", "arn:aws:s3:::"];
            foreach (var step in steps) Assert.Contains(step, init, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void BootstrapAdminKey_ComesFromSecretsOnlyAndOnlyToTheApi()
    {
        foreach (var (_, configMap) in Objects("ConfigMap"))
            Assert.DoesNotContain("Auth__BootstrapAdminKey", configMap.ToJsonString(), StringComparison.Ordinal);
        foreach (var (where, _, spec) in ServicePods())
        {
            var key = Items(Items(spec["containers"]).Single()["env"]).SingleOrDefault(e => (string?)e["name"] == "Auth__BootstrapAdminKey");
            if (where.EndsWith("pix2pix-api", StringComparison.Ordinal))
            {
                Assert.NotNull(key);
                Assert.Null(key["value"]);
                Assert.Equal("pix2pix-secrets", (string?)key["valueFrom"]?["secretKeyRef"]?["name"]);
            }
            else Assert.Null(key); // the worker serves no API: it has no use for an admin key
        }
        var compose = DeployFiles.Value["compose"]!["services"]!;
        Assert.StartsWith("${PIX2PIX_BOOTSTRAP_ADMIN_KEY:?", (string?)compose["api"]!["environment"]!["Auth__BootstrapAdminKey"]);
        foreach (var name in ComposeServices.Where(n => n != "api"))
            Assert.Null(compose[name]!["environment"]!["Auth__BootstrapAdminKey"]);
        var example = File.ReadAllText(Path.Combine(Root, ".env.example"));
        Assert.Matches(@"(?m)^PIX2PIX_BOOTSTRAP_ADMIN_KEY=$", example); // no usable key in an example file
        Assert.Contains("openssl rand -base64 32", example, StringComparison.Ordinal);
    }

    /// <summary>Configuration keys (":" form) bound from the options classes the API and the Worker register.</summary>
    private static HashSet<string> ApplicationKeys()
    {
        var keys = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { "ConnectionStrings:Database" };
        void AddSection(string section, Type type)
        {
            foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite))
            {
                var propertyType = property.PropertyType;
                if (propertyType != typeof(string) && typeof(IEnumerable).IsAssignableFrom(propertyType))
                    keys.Add($"{section}:{property.Name}{ListItem}");
                else if (propertyType.IsClass && propertyType != typeof(string)) AddSection($"{section}:{property.Name}", propertyType);
                else keys.Add($"{section}:{property.Name}");
            }
        }
        AddSection(StorageOptions.Section, typeof(StorageOptions));
        AddSection(WorkerOptions.Section, typeof(WorkerOptions));
        AddSection(BlobOptions.Section, typeof(BlobOptions));
        AddSection(UploadOptions.Section, typeof(UploadOptions));
        AddSection(JobsOptions.Section, typeof(JobsOptions));
        AddSection(InferenceOptions.Section, typeof(InferenceOptions));
        AddSection(ManagementOptions.Section, typeof(ManagementOptions));
        AddSection(AuthOptions.Section, typeof(AuthOptions));
        AddSection(CorsSettings.Section, typeof(CorsSettings));
        AddSection(RateLimitOptions.Section, typeof(RateLimitOptions));
        AddSection(RequestOptions.Section, typeof(RequestOptions));
        AddSection(TrainingLimitsOptions.Section, typeof(TrainingLimitsOptions));
        return keys;
    }

    // A list's items are bound from Section:List:0, Section:List:1, ...
    private const string ListItem = ":{index}";

    // Keys read by the host, ASP.NET Core, .NET or the dynamic loader rather than by our options classes.
    private static readonly string[] PlatformKeys = ["ASPNETCORE_HTTP_PORTS", "ASPNETCORE_URLS", "ASPNETCORE_ENVIRONMENT", "LD_PRELOAD", "MALLOC_CONF", "PATH", "DOTNET_ROOT"];
    private static readonly string[] PlatformPrefixes = ["Logging:"];

    private static bool IsRead(string variable, HashSet<string> known)
    {
        if (PlatformKeys.Contains(variable)) return true;
        var key = variable.Replace("__", ":", StringComparison.Ordinal);
        return known.Contains(key) || known.Contains(ListIndex().Replace(key, ListItem))
            || PlatformPrefixes.Any(p => key.StartsWith(p, StringComparison.Ordinal));
    }

    /// <summary>The deployment files as JSON (tools/deploy-files.mjs): <c>k8s</c>, every object with its file; <c>compose</c>.</summary>
    private static readonly Lazy<JsonNode> DeployFiles = new(() =>
    {
        var (exit, output) = Run("node", $"{Path.Combine(Tools, "deploy-files.mjs")} {Root}", Root);
        Assert.True(exit == 0, output);
        return JsonNode.Parse(output)!;
    });

    private static IEnumerable<(string File, JsonNode Object)> Objects(string kind) =>
        DeployFiles.Value["k8s"]!.AsArray().Where(d => (string?)d!["object"]!["kind"] == kind).Select(d => ((string)d!["file"]!, d["object"]!));

    /// <summary>The pod templates of every workload, as "file name", the object's name, the template and its spec.</summary>
    private static IEnumerable<(string Where, string Name, JsonNode Template, JsonNode Spec)> PodTemplates() =>
        new[] { "Deployment", "StatefulSet", "DaemonSet", "Job" }.SelectMany(Objects).Select(o =>
        {
            var name = (string)o.Object["metadata"]!["name"]!;
            var template = o.Object["spec"]!["template"]!;
            return ($"{o.File} {name}", name, template, template["spec"]!);
        });

    /// <summary>The API's and the workers' pod templates.</summary>
    private static IEnumerable<(string Where, JsonNode Template, JsonNode Spec)> ServicePods()
    {
        var pods = PodTemplates()
            .Where(p => (string?)p.Template["metadata"]!["labels"]?["app.kubernetes.io/name"] == "pix2pix")
            .Select(p => (p.Where, p.Template, p.Spec)).OrderBy(p => p.Where, StringComparer.Ordinal).ToList();
        Assert.Equal(ServiceComponents, pods.Select(p => (string?)p.Template["metadata"]!["labels"]!["app.kubernetes.io/component"]));
        return pods;
    }

    /// <summary>Whether a label selector (matchLabels, matchExpressions In/NotIn/Exists/DoesNotExist) selects these labels.</summary>
    private static bool Selects(JsonNode? selector, JsonNode labels)
    {
        if (selector is null) return false;
        string? Label(string key) => (string?)labels[key];
        var matchLabels = selector["matchLabels"]?.AsObject() ?? [];
        if (matchLabels.Any(l => Label(l.Key) != (string?)l.Value)) return false;
        return Items(selector["matchExpressions"]).All(e =>
        {
            var value = Label((string)e["key"]!);
            var values = Strings(e["values"]).ToList();
            return (string?)e["operator"] switch
            {
                "In" => value is not null && values.Contains(value),
                "NotIn" => value is null || !values.Contains(value),
                "Exists" => value is not null,
                "DoesNotExist" => value is null,
                var other => throw new InvalidOperationException($"Unknown selector operator {other}"),
            };
        });
    }

    private static IEnumerable<JsonNode> Items(JsonNode? array) => array?.AsArray().Select(i => i!) ?? [];

    private static IEnumerable<string> Strings(JsonNode? array) => Items(array).Select(i => i.ToString());

    private static int UrlPort(string urls) => new Uri(urls.Split(';')[0].Replace("+", "localhost", StringComparison.Ordinal)).Port;

    /// <summary>Runs a tool; <paramref name="environment"/> sets variables for it (a null value removes one).</summary>
    private static (int Exit, string Output) Run(string file, string arguments, string workingDirectory,
        params (string Name, string? Value)[] environment)
    {
        var start = new ProcessStartInfo(file, arguments)
        {
            WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var (name, value) in environment)
        {
            if (value is null) start.Environment.Remove(name);
            else start.Environment[name] = value;
        }
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

    [GeneratedRegex(@":[0-9]+$")]
    private static partial Regex ListIndex();
}
