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
/// both Adams' states, the run's RNG state (dropout), the precision it trains in and the position. The learning
/// rate, data order and jitter are functions of (seed, epoch, position), so nothing else is needed to continue exactly.
/// </summary>
public static class TrainingCheckpoint
{
    private const string StateEntry = "state.json", GeneratorEntry = "generator.bin", DiscriminatorEntry = "discriminator.bin",
        GeneratorOptimizerEntry = "generator-adam.bin", DiscriminatorOptimizerEntry = "discriminator-adam.bin", RngEntry = "rng.bin";

    // Version 1 (before precisions) was always fp32.
    private sealed record State(int Version, TrainingPosition Position, NetworkOptions Network, long Seed, DateTimeOffset WrittenAt,
        TrainingPrecision Precision = TrainingPrecision.Fp32);

    public static void Save(string path, Pix2PixModel model, TrainingPosition position, TrainingRecipe options) =>
        AtomicFile.Write(path, stream =>
        {
            using var zip = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true);
            WriteEntry(zip, StateEntry, s => JsonSerializer.Serialize(s,
                new State(2, position, options.Network, options.Seed, DateTimeOffset.UtcNow, model.Precision), ModelManifest.Json));
            WriteEntry(zip, GeneratorEntry, s => model.Generator.save(s));
            WriteEntry(zip, DiscriminatorEntry, s => model.Discriminator.save(s));
            WriteEntry(zip, GeneratorOptimizerEntry, s => { using var w = new BinaryWriter(s, System.Text.Encoding.UTF8, true); model.GeneratorOptimizer.State.save_state_dict(w); });
            WriteEntry(zip, DiscriminatorOptimizerEntry, s => { using var w = new BinaryWriter(s, System.Text.Encoding.UTF8, true); model.DiscriminatorOptimizer.State.save_state_dict(w); });
            using var rng = model.Random.get_state();
            WriteEntry(zip, RngEntry, s => s.Write(rng.bytes));
        });

    /// <summary>The precision the run that wrote the checkpoint trained in; a resumed run keeps it.</summary>
    public static TrainingPrecision ReadPrecision(string path)
    {
        using var zip = ZipFile.OpenRead(path);
        return ReadState(zip, path).Precision;
    }

    /// <summary>Loads a checkpoint into a freshly built model; fails if it was written for other networks, seed or precision.</summary>
    public static TrainingPosition Load(string path, Pix2PixModel model, TrainingRecipe options)
    {
        using var zip = ZipFile.OpenRead(path);
        var state = ReadState(zip, path);
        if (state.Network != options.Network || state.Seed != options.Seed)
            throw new InvalidJobException($"Checkpoint {path} was written for other networks or another seed; it cannot resume this run.");
        if (state.Precision != model.Precision)
            throw new InvalidJobException($"Checkpoint {path} was written in {state.Precision} precision; it cannot resume a run in {model.Precision}.");
        model.Generator.load(ReadEntry(zip, GeneratorEntry), strict: true);
        model.Discriminator.load(ReadEntry(zip, DiscriminatorEntry), strict: true);
        using (var reader = new BinaryReader(ReadEntry(zip, GeneratorOptimizerEntry))) model.GeneratorOptimizer.State.load_state_dict(reader);
        using (var reader = new BinaryReader(ReadEntry(zip, DiscriminatorOptimizerEntry))) model.DiscriminatorOptimizer.State.load_state_dict(reader);
        using var rng = tensor(ReadEntry(zip, RngEntry).ToArray(), ScalarType.Byte);
        model.Random.set_state(rng);
        model.AfterLoad();
        return state.Position;
    }

    private static State ReadState(ZipArchive zip, string path) =>
        JsonSerializer.Deserialize<State>(ReadEntry(zip, StateEntry).ToArray(), ModelManifest.Json)
            ?? throw new InvalidDataException($"Checkpoint {path} has an empty state.");

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
