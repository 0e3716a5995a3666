using System.Security.Claims;

namespace Pix2Pix.Api.Security;

/// <summary>What a key or token may do; each is also the name of the authorization policy that requires it.</summary>
public static class Scopes
{
    /// <summary>See datasets, jobs, models, versions, metrics and snapshots; download packages.</summary>
    public const string Read = "read";

    /// <summary>Translate images.</summary>
    public const string Translate = "translate";

    /// <summary>Upload datasets, start jobs; cancel and delete what this caller created.</summary>
    public const string Train = "train";

    /// <summary>Everything: keys, anyone's datasets, jobs and models, /hangfire, /metrics without a management port.</summary>
    public const string Admin = "admin";

    public static readonly IReadOnlyList<string> All = [Read, Translate, Train, Admin];

    /// <summary>The scopes a grant amounts to: admin implies every other one.</summary>
    public static IReadOnlyList<string> Expand(IEnumerable<string> granted)
    {
        var set = granted.ToHashSet(StringComparer.Ordinal);
        return set.Contains(Admin) ? All : All.Where(set.Contains).ToList();
    }
}

/// <summary>The authenticated caller as the endpoints see it: a subject (who created what) and scopes.</summary>
public static class Caller
{
    public const string SubjectClaim = "sub", ScopeClaim = "scope", KeyIdClaim = "key_id", BootstrapClaim = "bootstrap";

    /// <summary>The subject of the bootstrap admin key (Auth:BootstrapAdminKey or the generated admin.key).</summary>
    public const string BootstrapSubject = "bootstrap";

    public static ClaimsPrincipal Create(string subject, IEnumerable<string> scopes, string authenticationType, IEnumerable<Claim>? extra = null)
    {
        var claims = new List<Claim> { new(SubjectClaim, subject) };
        claims.AddRange(Scopes.Expand(scopes).Select(scope => new Claim(ScopeClaim, scope)));
        claims.AddRange(extra ?? []);
        return new ClaimsPrincipal(new ClaimsIdentity(claims, authenticationType, SubjectClaim, null));
    }

    public static string Subject(this ClaimsPrincipal user) =>
        user.FindFirst(SubjectClaim)?.Value ?? throw new InvalidOperationException("The caller has no subject (the endpoint allows anonymous calls).");

    public static IReadOnlyList<string> GrantedScopes(this ClaimsPrincipal user) => user.FindAll(ScopeClaim).Select(c => c.Value).ToList();

    public static bool HasScope(this ClaimsPrincipal user, string scope) => user.HasClaim(ScopeClaim, scope);

    /// <summary>Admin may change anything; anyone else only what it created.</summary>
    public static void EnsureMayChange(this ClaimsPrincipal user, string? createdBy, string what)
    {
        if (user.HasScope(Scopes.Admin) || (createdBy is not null && createdBy == user.Subject())) return;
        throw new ForbiddenException($"{what} was created by another caller; only its creator or an admin key may change it.");
    }
}

/// <summary>The caller is known but may not do this (403).</summary>
public sealed class ForbiddenException(string message) : Exception(message);
