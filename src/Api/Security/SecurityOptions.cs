namespace Pix2Pix.Api.Security;

/// <summary>Section <c>Auth</c>: who may call the API.</summary>
public sealed class AuthOptions
{
    public const string Section = "Auth";

    /// <summary>
    /// A secret of at least 32 characters accepted as an admin key (from a secret store). Without one, the embedded
    /// mode generates a key into <c>{DataDirectory}/admin.key</c>; with PostgreSQL it is required.
    /// </summary>
    public string? BootstrapAdminKey { get; set; }

    /// <summary>How long a checked key is trusted before it is read again: a revocation in another process takes effect within it.</summary>
    public TimeSpan KeyCacheDuration { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a browser session lasts without being used.</summary>
    public TimeSpan SessionLifetime { get; set; } = TimeSpan.FromHours(8);

    public JwtOptions Jwt { get; set; } = new();
}

/// <summary>Section <c>Auth:Jwt</c>: optional OIDC bearer tokens, validated against the issuer's published keys.</summary>
public sealed class JwtOptions
{
    /// <summary>The issuer (its <c>/.well-known/openid-configuration</c> names the signing keys). Empty: JWTs are not accepted.</summary>
    public string? Authority { get; set; }

    /// <summary>The audience tokens must name.</summary>
    public string? Audience { get; set; }

    /// <summary>The claim holding scopes (space-separated or repeated); its values <c>{ScopePrefix}read</c> and so on map to ours.</summary>
    public string ScopeClaim { get; set; } = "scope";

    /// <summary>A second claim read the same way (app roles).</summary>
    public string RoleClaim { get; set; } = "roles";

    /// <summary>Prefix of our scope names in the token's claims, e.g. <c>pix2pix.</c> for <c>pix2pix.train</c>.</summary>
    public string ScopePrefix { get; set; } = "";

    /// <summary>Fetch the issuer's metadata over HTTPS only.</summary>
    public bool RequireHttpsMetadata { get; set; } = true;
}

/// <summary>Section <c>Cors</c>: web clients on other origins.</summary>
public sealed class CorsSettings
{
    public const string Section = "Cors";

    /// <summary>Origins (scheme://host[:port]) whose pages may call the API with a key; none by default.</summary>
    public List<string> AllowedOrigins { get; set; } = [];
}

/// <summary>Section <c>RateLimits</c>: requests per caller (key or token subject) and minute.</summary>
public sealed class RateLimitOptions
{
    public const string Section = "RateLimits";

    public int TranslatePerMinute { get; set; } = 600;

    /// <summary><c>POST /jobs/train</c> and <c>POST /datasets</c>.</summary>
    public int TrainPerMinute { get; set; } = 30;
}

/// <summary>Section <c>Requests</c>.</summary>
public sealed class RequestOptions
{
    public const string Section = "Requests";

    /// <summary>Largest request body of any endpoint without its own limit (dataset upload and translate have theirs, in Uploads).</summary>
    public long MaxBodyBytes { get; set; } = 1024 * 1024;
}

/// <summary>Section <c>Training</c>: what one caller may ask the GPU workers for.</summary>
public sealed class TrainingLimitsOptions
{
    public const string Section = "Training";

    /// <summary>Largest <c>epochs + decayEpochs</c> of a job.</summary>
    public int MaxEpochs { get; set; } = 1000;

    /// <summary>Smallest <c>checkpointEvery</c> (iterations): a unet_256 checkpoint is about 690 MB.</summary>
    public int MinCheckpointEvery { get; set; } = 100;

    /// <summary>Queued and running jobs one caller may have; beyond it <c>POST /jobs/train</c> answers 429.</summary>
    public int MaxQueuedJobsPerKey { get; set; } = 10;
}
