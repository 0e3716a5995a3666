using System.Xml.Linq;
using Dapper;
using Microsoft.AspNetCore.DataProtection.Repositories;

namespace Pix2Pix.Infrastructure.Persistence;

/// <summary>
/// The key ring that signs session cookies and antiforgery tokens, in the service's database: every API replica reads
/// and writes the same keys, so a session made on one is valid on all and outlives restarts.
/// </summary>
public sealed class DataProtectionKeyStore(Database database) : IXmlRepository
{
    // IXmlRepository is synchronous; the key ring is read at start and when it refreshes (about daily).
    public IReadOnlyCollection<XElement> GetAllElements()
    {
        using var connection = database.OpenAsync(CancellationToken.None).GetAwaiter().GetResult();
        return connection.Query<string>("SELECT xml FROM data_protection_keys ORDER BY created_at").Select(xml => XElement.Parse(xml)).ToList();
    }

    public void StoreElement(XElement element, string friendlyName)
    {
        using var connection = database.OpenAsync(CancellationToken.None).GetAwaiter().GetResult();
        connection.Execute("INSERT INTO data_protection_keys (name, xml, created_at) VALUES (@name, @xml, @now) ON CONFLICT (name) DO NOTHING",
            new { name = friendlyName, xml = element.ToString(SaveOptions.DisableFormatting), now = database.Now() });
    }
}
