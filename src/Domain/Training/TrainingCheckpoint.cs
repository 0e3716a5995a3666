using System.IO.Compression;
using System.Text.Json;
using Pix2Pix.Domain.Inference;
using Pix2Pix.Domain.Networks;
using Pix2Pix.Domain.Runtime;
using static TorchSharp.torch;

namespace Pix2Pix.Domain.Training;

/// <summary>Where training stands: the next iteration to run is iteration <c>IterationsDone + 1</c> of <c>Epoch</c>.</summary>
public sealed record TrainingPosition(int Epoch, int IterationsDone, long GlobalIterations);

/// <summary>
/// The full training state in one zip file (stored, not compressed): both networks with their batch-norm buffers,
/// both Adams' states, the run's RNG state (dropout) and the position. The learning rate, data order and
/// jitter are functions of (seed, epoch, position), so nothing else is needed to continue exactly.
/// </summary>
public static class TrainingCheckpoint
{
    private const string StateEntry = "state.json", GeneratorEntry = "generator.bin", DiscriminatorEntry = "discriminator.bin",
        GeneratorOptimizerEntry = "generator-adam.bin", DiscriminatorOptimizerEntry = "discriminator-adam.bin", RngEntry = "rng.bin";

    private sealed record State(int Version, TrainingPosition Position, NetworkOptions Network, long Seed, DateTimeOffset WrittenAt);

    public static void Save(string path, Pix2PixModel model, TrainingPosition position, TrainingRecipe options) =>
        AtomicFile.Write(path, stream =>
        {
            using var zip = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true);
            WriteEntry(zip, StateEntry, s => JsonSerializer.Serialize(s,
                new State(1, position, options.Network, options.Seed, DateTimeOffset.UtcNow), ModelManifest.Json));
            WriteEntry(zip, GeneratorEntry, s => model.Generator.save(s));
            WriteEntry(zip, DiscriminatorEntry, s => model.Discriminator.save(s));
            WriteEntry(zip, GeneratorOptimizerEntry, s => { using var w = new BinaryWriter(s, System.Text.Encoding.UTF8, true); model.GeneratorOptimizer.save_state_dict(w); });
            WriteEntry(zip, DiscriminatorOptimizerEntry, s => { using var w = new BinaryWriter(s, System.Text.Encoding.UTF8, true); model.DiscriminatorOptimizer.save_state_dict(w); });
            using var rng = model.Random.get_state();
            WriteEntry(zip, RngEntry, s => s.Write(rng.bytes));
        });

    /// <summary>Loads a checkpoint into a freshly built model; fails if it was written for other networks or seed.</summary>
    public static TrainingPosition Load(string path, Pix2PixModel model, TrainingRecipe options)
    {
        using var zip = ZipFile.OpenRead(path);
        var state = JsonSerializer.Deserialize<State>(ReadEntry(zip, StateEntry).ToArray(), ModelManifest.Json)
            ?? throw new InvalidDataException($"Checkpoint {path} has an empty state.");
        if (state.Network != options.Network || state.Seed != options.Seed)
            throw new InvalidJobException($"Checkpoint {path} was written for other networks or another seed; it cannot resume this run.");
        model.Generator.load(ReadEntry(zip, GeneratorEntry), strict: true);
        model.Discriminator.load(ReadEntry(zip, DiscriminatorEntry), strict: true);
        using (var reader = new BinaryReader(ReadEntry(zip, GeneratorOptimizerEntry))) model.GeneratorOptimizer.load_state_dict(reader);
        using (var reader = new BinaryReader(ReadEntry(zip, DiscriminatorOptimizerEntry))) model.DiscriminatorOptimizer.load_state_dict(reader);
        using var rng = tensor(ReadEntry(zip, RngEntry).ToArray(), ScalarType.Byte);
        model.Random.set_state(rng);
        return state.Position;
    }

    private static void WriteEntry(ZipArchive zip, string name, Action<Stream> write)
    {
        using var stream = zip.CreateEntry(name, CompressionLevel.NoCompression).Open();
        write(stream);
    }

    private static MemoryStream ReadEntry(ZipArchive zip, string name)
    {
        var entry = zip.GetEntry(name) ?? throw new InvalidDataException($"Checkpoint is missing {name}.");
        var buffer = new MemoryStream(checked((int)entry.Length));
        using (var stream = entry.Open()) stream.CopyTo(buffer);
        buffer.Position = 0;
        return buffer;
    }
}
