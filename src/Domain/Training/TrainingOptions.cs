using Pix2Pix.Domain.Data;
using Pix2Pix.Domain.Inference;
using Pix2Pix.Domain.Networks;

namespace Pix2Pix.Domain.Training;

public enum GanMode { Vanilla, Lsgan }

public enum LrPolicy { Linear, Step, Cosine }

/// <summary>The whole training recipe. Defaults are the paper's (and the reference's pix2pix defaults).</summary>
public sealed record TrainingOptions
{
    public NetworkOptions Network { get; init; } = new();
    public Direction Direction { get; init; } = Direction.AtoB;

    /// <summary>Epochs at the initial learning rate (the reference's n_epochs).</summary>
    public int Epochs { get; init; } = 100;

    /// <summary>Epochs of linear decay to zero after <see cref="Epochs"/> (the reference's n_epochs_decay).</summary>
    public int DecayEpochs { get; init; } = 100;

    public LrPolicy LrPolicy { get; init; } = LrPolicy.Linear;

    /// <summary>For <see cref="LrPolicy.Step"/>: multiply the rate by 0.1 every this many epochs.</summary>
    public int LrStepEpochs { get; init; } = 50;

    public int BatchSize { get; init; } = 1;
    public double LearningRate { get; init; } = 2e-4;
    public double Beta1 { get; init; } = 0.5;
    public double Beta2 { get; init; } = 0.999;
    public double LambdaL1 { get; init; } = 100;
    public GanMode GanMode { get; init; } = GanMode.Vanilla;
    public int LoadSize { get; init; } = 286;
    public int CropSize { get; init; } = 256;
    public Preprocess Preprocess { get; init; } = Preprocess.ResizeAndCrop;
    public bool Flip { get; init; } = true;

    /// <summary>Seeds weight init, data order, jitter and dropout; a CPU run with the same seed and threads is repeatable.</summary>
    public long Seed { get; init; } = 0;

    /// <summary>Snapshot image, val metrics and a model package every this many epochs (and at the end).</summary>
    public int SnapshotEvery { get; init; } = 10;

    /// <summary>Write the full training state every this many iterations (and on cancellation and at the end).</summary>
    public int CheckpointEvery { get; init; } = 500;

    /// <summary>How many val images the snapshot grid shows.</summary>
    public int SnapshotImages { get; init; } = 4;

    public InferenceMode InferenceMode { get; init; } = InferenceMode.Eval;

    /// <summary><c>cpu</c>, <c>cuda</c> or <c>cuda:N</c>.</summary>
    public string Device { get; init; } = "cpu";

    /// <summary>libtorch intra-op threads; 0 leaves libtorch's default. Exact resume needs the same count.</summary>
    public int Threads { get; init; } = 0;

    /// <summary>Batches decoded ahead of the compute.</summary>
    public int PrefetchBatches { get; init; } = 4;

    public DatasetLimits Limits { get; init; } = new();

    public int TotalEpochs => Epochs + DecayEpochs;

    /// <summary>Every problem with these options, keyed by the option's name as callers spell it (camelCase).</summary>
    public IReadOnlyDictionary<string, string> Validate()
    {
        var errors = new Dictionary<string, string>();
        void Check(bool ok, string field, string message)
        {
            if (!ok) errors.TryAdd(field, message);
        }

        Check(Epochs >= 0, "epochs", "Must be 0 or more.");
        Check(DecayEpochs >= 0, "decayEpochs", "Must be 0 or more.");
        Check(TotalEpochs >= 1, "epochs", "epochs + decayEpochs must be at least 1.");
        Check(LrStepEpochs >= 1, "lrStepEpochs", "Must be at least 1.");
        Check(BatchSize is >= 1 and <= 1024, "batchSize", "Must be between 1 and 1024.");
        Check(LearningRate is > 0 and < 1, "learningRate", "Must be between 0 and 1 (exclusive).");
        Check(Beta1 is >= 0 and < 1, "beta1", "Must be in [0, 1).");
        Check(Beta2 is >= 0 and < 1, "beta2", "Must be in [0, 1).");
        Check(LambdaL1 >= 0, "lambdaL1", "Must be 0 or more.");
        Check(SnapshotEvery >= 1, "snapshotEvery", "Must be at least 1 epoch.");
        Check(CheckpointEvery >= 1, "checkpointEvery", "Must be at least 1 iteration.");
        Check(SnapshotImages is >= 1 and <= 64, "snapshotImages", "Must be between 1 and 64.");
        Check(Threads >= 0, "threads", "Must be 0 (libtorch default) or more.");
        Check(PrefetchBatches >= 1, "prefetchBatches", "Must be at least 1.");
        Check(Network.InputChannels is 1 or 3, "inputChannels", "Must be 1 or 3.");
        Check(Network.OutputChannels is 1 or 3, "outputChannels", "Must be 1 or 3.");
        Check(IsSupportedFilterCount(Network.GeneratorFilters), "generatorFilters", FilterCountRule);
        Check(IsSupportedFilterCount(Network.DiscriminatorFilters), "discriminatorFilters", FilterCountRule);
        Check(Network.DiscriminatorLayers is >= 1 and <= 8, "discriminatorLayers", "Must be between 1 and 8.");
        Check(Network.Discriminator.Trim().ToLowerInvariant() is "basic" or "n_layers" or "pixel", "discriminator",
            $"Unknown discriminator '{Network.Discriminator}': use basic, n_layers or pixel.");
        Check(Device is "cpu" or "cuda" || Device.StartsWith("cuda:", StringComparison.Ordinal), "device", "Use cpu, cuda or cuda:N.");

        if (!GeneratorArchitecture.TryParse(Network.Generator, out var architecture, out var generatorError))
        {
            errors.TryAdd("generator", generatorError);
        }
        else if (Preprocess is Preprocess.ResizeAndCrop or Preprocess.Crop)
        {
            Check(CropSize >= architecture.SizeMultiple && CropSize % architecture.SizeMultiple == 0, "cropSize",
                $"{Network.Generator} needs sizes that are multiples of {architecture.SizeMultiple}; cropSize {CropSize} is not.");
        }
        else if (Preprocess == Preprocess.ScaleWidth)
        {
            Check(LoadSize % architecture.SizeMultiple == 0, "loadSize",
                $"{Network.Generator} needs sizes that are multiples of {architecture.SizeMultiple}; loadSize {LoadSize} is not.");
        }
        Check(CropSize is >= 1 and <= 8192, "cropSize", "Must be between 1 and 8192.");
        int patchLayers = Network.Discriminator.Trim().ToLowerInvariant() switch { "basic" => 3, "n_layers" => Network.DiscriminatorLayers, _ => 0 };
        int smallestSide = Preprocess is Preprocess.ScaleWidth ? Math.Min(CropSize, LoadSize) : CropSize;
        Check(smallestSide >= 3 << patchLayers, patchLayers == 3 && Network.Discriminator != "n_layers" ? "cropSize" : "discriminatorLayers",
            $"A {patchLayers}-layer PatchGAN needs training images of at least {3 << patchLayers} pixels a side; cropSize is {CropSize}.");
        Check(LoadSize is >= 1 and <= 8192, "loadSize", "Must be between 1 and 8192.");
        if (Preprocess == Preprocess.ResizeAndCrop)
            Check(LoadSize >= CropSize, "loadSize", $"loadSize ({LoadSize}) must be at least cropSize ({CropSize}).");
        return errors;
    }

    // libtorch 2.10's oneDNN kernels read the padding of their 16-channel blocks uninitialized for some layer
    // widths above 16 that are not multiples of 16 (NaN garbage then poisons training); these widths avoid it.
    private const string FilterCountRule = "Must be 1, 2, 4, 8 or a multiple of 16 up to 1024.";

    private static bool IsSupportedFilterCount(int filters) => filters is 1 or 2 or 4 or 8 || (filters % 16 == 0 && filters is >= 16 and <= 1024);

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid option.</summary>
    public void ThrowIfInvalid()
    {
        var errors = Validate();
        if (errors.Count > 0)
        {
            var (field, message) = errors.First();
            throw new ArgumentException($"{field}: {message}", field);
        }
    }

    public SampleOptions ToSampleOptions() => new()
    {
        Direction = Direction,
        Preprocess = Preprocess,
        LoadSize = LoadSize,
        CropSize = CropSize,
        Flip = Flip,
        InputChannels = Network.InputChannels,
        OutputChannels = Network.OutputChannels,
        SizeMultiple = GeneratorArchitecture.Parse(Network.Generator).SizeMultiple,
    };
}
