namespace Pix2Pix.Testing;

/// <summary>Credentials the tests configure the service with.</summary>
public static class TestKeys
{
    /// <summary>Given as Auth:BootstrapAdminKey: every existing suite calls the API as admin.</summary>
    public const string Admin = "test-bootstrap-admin-key-0123456789abcdef";

    public static void UseKey(this HttpClient client, string? key)
    {
        client.DefaultRequestHeaders.Authorization = key is null ? null : new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
    }
}
