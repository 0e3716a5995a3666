using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Pix2Pix.Domain.Networks;
using Pix2Pix.Domain.Runtime;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Pix2Pix.Domain.Inference;

/// <summary>
/// A model package is one safetensors file: the generator's state_dict under the reference implementation's key
/// names (<c>model.model.0.weight</c>, ...), so it loads in PyTorch with <c>safetensors.torch.load_file</c>, plus the
/// <see cref="ModelManifest"/> as JSON in the header's <c>__metadata__</c> under the key <c>pix2pix</c>.
/// </summary>
public static class ModelPackage
{
    public const string FileExtension = ".safetensors";
    public const string MediaType = "application/vnd.pix2pix.safetensors";
    private const string MetadataKey = "pix2pix";
    private const long MaxHeaderBytes = 100L * 1024 * 1024;

    public static void Save(nn.Module generator, ModelManifest manifest, Stream destination)
    {
        // PyBridge writes the tensors; we add the manifest to the header (PyBridge has no metadata support).
        using var plain = new MemoryStream();
        generator.save_safetensors(plain, leaveOpen: true);
        var bytes = plain.GetBuffer().AsSpan(0, (int)plain.Length);
        long headerLength = checked((long)BinaryPrimitives.ReadUInt64LittleEndian(bytes));
        var header = JsonNode.Parse(bytes.Slice(8, (int)headerLength))!.AsObject();
        header["__metadata__"] = new JsonObject
        {
            ["format"] = "pt",
            [MetadataKey] = JsonSerializer.Serialize(manifest, ModelManifest.Json),
        };
        var headerBytes = Encoding.UTF8.GetBytes(header.ToJsonString());
        int padding = (8 - headerBytes.Length % 8) % 8; // the format lets the header end in spaces; aligns the data
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)(headerBytes.Length + padding));
        destination.Write(length);
        destination.Write(headerBytes);
        for (int i = 0; i < padding; i++) destination.WriteByte((byte)' ');
        destination.Write(bytes[(8 + (int)headerLength)..]);
    }

    public static void Save(nn.Module generator, ModelManifest manifest, string path) =>
        AtomicFile.Write(path, stream => Save(generator, manifest, stream));

    /// <summary>Reads only the manifest from a package's header.</summary>
    public static ModelManifest ReadManifest(Stream package)
    {
        var header = ReadHeader(package);
        var manifestJson = header["__metadata__"]?[MetadataKey]?.GetValue<string>()
            ?? throw new InvalidDataException("Not a model package: the safetensors file has no pix2pix manifest in __metadata__.");
        var manifest = JsonSerializer.Deserialize<ModelManifest>(manifestJson, ModelManifest.Json)
            ?? throw new InvalidDataException("Not a model package: the manifest is empty.");
        if (manifest.Format != ModelManifest.CurrentFormat)
            throw new InvalidDataException($"Unsupported model package format '{manifest.Format}' (this version reads {ModelManifest.CurrentFormat}).");
        return manifest;
    }

    /// <summary>The lineage a package carries (<see cref="WithLineage"/>), or null.</summary>
    public static JsonObject? ReadLineage(Stream package) =>
        ReadHeader(package)["__metadata__"]?[LineageKey]?.GetValue<string>() is { } json ? JsonNode.Parse(json)!.AsObject() : null;

    /// <summary>
    /// Copies a package into <paramref name="destination"/> with <paramref name="lineage"/> (where its weights come
    /// from) as JSON in the header's <c>__metadata__</c> under <c>lineage</c>; the tensors are copied unchanged.
    /// </summary>
    public static void WithLineage(Stream package, JsonObject lineage, Stream destination)
    {
        var header = ReadHeader(package);
        var metadata = header["__metadata__"] as JsonObject ?? throw new InvalidDataException("Not a model package: the header has no __metadata__.");
        metadata[LineageKey] = lineage.ToJsonString();
        var headerBytes = Encoding.UTF8.GetBytes(header.ToJsonString());
        int padding = (8 - headerBytes.Length % 8) % 8;
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)(headerBytes.Length + padding));
        destination.Write(length);
        destination.Write(headerBytes);
        for (int i = 0; i < padding; i++) destination.WriteByte((byte)' ');
        package.CopyTo(destination);
    }

    private const string LineageKey = "lineage";

    /// <summary>The safetensors header as JSON; the stream is left at the first tensor byte.</summary>
    private static JsonObject ReadHeader(Stream package)
    {
        Span<byte> lengthBytes = stackalloc byte[8];
        package.ReadExactly(lengthBytes);
        long length = (long)BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
        if (length <= 0 || length > MaxHeaderBytes) throw new InvalidDataException("Not a model package: the safetensors header length is invalid.");
        var headerBytes = new byte[length];
        package.ReadExactly(headerBytes);
        try
        {
            return JsonNode.Parse(headerBytes) as JsonObject ?? throw new InvalidDataException("Not a model package: the safetensors header is not a JSON object.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException("Not a model package: the safetensors header is not JSON.", e);
        }
    }

    /// <summary>Rebuilds the generator a package describes and loads its weights (all keys must match).</summary>
    public static (nn.Module<Tensor, Tensor> Generator, ModelManifest Manifest) Load(Stream package)
    {
        // The header is read twice (manifest, then weights), so a stream that cannot seek is buffered first.
        using var copy = package.CanSeek ? null : new MemoryStream();
        if (copy is not null)
        {
            package.CopyTo(copy);
            copy.Position = 0;
        }
        var source = copy ?? package;
        long start = source.Position;
        var manifest = ReadManifest(source);
        source.Position = start;
        var generator = NetworkFactory.CreateGeneratorForLoading(manifest.ToNetworkOptions());
        try
        {
            generator.load_safetensors(source, strict: true, leaveOpen: true);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            generator.Dispose();
            throw new InvalidDataException($"The package's weights do not fit a {manifest.Generator} generator: {e.Message}", e);
        }
        return (generator, manifest);
    }

    public static (nn.Module<Tensor, Tensor> Generator, ModelManifest Manifest) Load(string path)
    {
        using var stream = File.OpenRead(path);
        return Load(stream);
    }

    /// <summary>
    /// Builds a package from a generator's weights as users bring them (<see cref="StateDictFile"/>: the reference
    /// implementation's <c>latest_net_G.pth</c>, or a .safetensors) and the manifest describing the generator. Weights
    /// that do not fit it answer a <see cref="ModelImportException"/> naming the first missing, unexpected or misshapen key.
    /// </summary>
    public static void Import(byte[] file, ModelManifest manifest, Stream destination, long maxBytes = 4L * 1024 * 1024 * 1024)
    {
        var weights = StateDictFile.Read(file, maxBytes);
        try
        {
            using var generator = NetworkFactory.CreateGeneratorForLoading(manifest.ToNetworkOptions());
            var expected = generator.state_dict();
            if (expected.Keys.FirstOrDefault(key => !weights.ContainsKey(key)) is { } missing)
                throw new ModelImportException($"The weights have no '{missing}', which a {manifest.Generator} generator with these settings needs.");
            if (weights.Keys.FirstOrDefault(key => !expected.ContainsKey(key)) is { } unexpected)
                throw new ModelImportException($"The weights have '{unexpected}', which a {manifest.Generator} generator with these settings does not have.");
            foreach (var (key, tensor) in expected)
                if (!weights[key].shape.SequenceEqual(tensor.shape))
                    throw new ModelImportException(
                        $"'{key}' is [{string.Join(", ", weights[key].shape)}] in the file; a {manifest.Generator} generator with these settings has [{string.Join(", ", tensor.shape)}].");
            using (no_grad())
                foreach (var (key, tensor) in expected) tensor.copy_(weights[key].to(tensor.dtype));
            Save(generator, manifest, destination);
        }
        finally
        {
            foreach (var tensor in weights.Values) tensor.Dispose();
        }
    }
}
