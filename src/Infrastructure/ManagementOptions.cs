namespace Pix2Pix.Infrastructure;

/// <summary>Section <c>Management</c>: where operators (Prometheus) reach a process, apart from its clients.</summary>
public sealed class ManagementOptions
{
    public const string Section = "Management";

    /// <summary>
    /// Extra Kestrel URLs (<c>;</c>-separated) serving only <c>/metrics</c> and the health probes, never exposed by the
    /// Service or Ingress. Empty: <c>/metrics</c> is served on the main port to admin callers only.
    /// </summary>
    public string Urls { get; set; } = "http://localhost:9464";

    /// <summary>Trusted reverse proxies (IP addresses) whose X-Forwarded-For/-Proto are believed.</summary>
    public List<string> KnownProxies { get; set; } = [];

    /// <summary>Trusted proxy networks in CIDR notation (e.g. the ingress controller's pod network).</summary>
    public List<string> KnownNetworks { get; set; } = [];
}
