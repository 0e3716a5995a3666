using System.Security.Cryptography;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Net.Http.Headers;

namespace Pix2Pix.Api.Endpoints;

/// <summary>
/// A multipart upload received as it arrives (datasets, batch archives): the <c>file</c> field streams straight to
/// disk, hashed and bounded, never buffered whole; short text fields are kept. <c>Size</c> 0: no file was sent.
/// </summary>
public sealed record StreamedUpload(long Size, string? Sha256, string? FileName, IReadOnlyDictionary<string, string> Fields)
{
    /// <summary>The longest text field kept (longer ones are cut here, so a caller's length check still sees them too long).</summary>
    private const int MaxFieldChars = 1024;

    /// <summary>The multipart boundary, or null when the body is not multipart/form-data.</summary>
    public static string? Boundary(HttpRequest request) =>
        MediaTypeHeaderValue.TryParse(request.ContentType, out var contentType) && contentType.MediaType.Equals("multipart/form-data", StringComparison.OrdinalIgnoreCase)
        && HeaderUtilities.RemoveQuotes(contentType.Boundary).Value is { Length: > 0 } boundary
            ? boundary
            : null;

    /// <summary>Receives the body, the file into <paramref name="path"/>; or the 400/413 to answer.</summary>
    public static async Task<(StreamedUpload? Upload, ProblemHttpResult? Problem)> ReceiveAsync(HttpRequest request, string boundary, string path, long maxFileBytes,
        string limitSetting, CancellationToken cancellationToken)
    {
        long size = 0;
        string? sha256 = null, fileName = null;
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            var reader = new MultipartReader(boundary, request.Body);
            for (var section = await reader.ReadNextSectionAsync(cancellationToken); section is not null; section = await reader.ReadNextSectionAsync(cancellationToken))
            {
                if (section.GetContentDispositionHeader() is not { Name.Value: { } name } disposition) continue;
                if (name == "file" && disposition.IsFileDisposition() && sha256 is null)
                {
                    fileName = disposition.FileNameStar.Value ?? disposition.FileName.Value;
                    // Unbuffered: what arrived is on disk, and the copy's own buffer is large.
                    await using var target = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0);
                    (size, sha256) = await CopyAtMostAsync(section.Body, target, maxFileBytes, cancellationToken);
                    if (size < 0) return (null, TooLarge(maxFileBytes, limitSetting));
                }
                else if (disposition.IsFormDisposition())
                {
                    using var text = new StreamReader(section.Body);
                    var buffer = new char[MaxFieldChars];
                    fields[name] = new string(buffer, 0, await text.ReadBlockAsync(buffer, cancellationToken));
                }
            }
        }
        catch (InvalidDataException e) // the multipart reader: malformed body or headers
        {
            return (null, TypedResults.Problem($"The multipart body cannot be read: {e.Message}", statusCode: 400, title: "Bad request"));
        }
        return (new StreamedUpload(size, sha256, fileName, fields), null);
    }

    public static ProblemHttpResult TooLarge(long limit, string limitSetting) =>
        TypedResults.Problem($"The archive is larger than the limit of {limit} bytes ({limitSetting}).", statusCode: 413, title: "Request too large");

    /// <summary>
    /// Copies until the end of <paramref name="source"/>, hashing what passes (SHA-256, hex); a size of -1 as soon as
    /// it holds more than <paramref name="limit"/> bytes.
    /// </summary>
    private static async Task<(long Size, string Sha256)> CopyAtMostAsync(Stream source, Stream target, long limit, CancellationToken cancellationToken)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[81920];
        long total = 0;
        int read;
        while ((read = await source.ReadAsync(buffer, cancellationToken)) > 0)
        {
            total += read;
            if (total > limit) return (-1, "");
            hash.AppendData(buffer, 0, read);
            await target.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
        }
        return (total, Convert.ToHexStringLower(hash.GetHashAndReset()));
    }
}
