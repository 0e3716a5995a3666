using System.Text.Json;
using System.Text.Json.Serialization;
using Pix2Pix.Domain.Data;
using Pix2Pix.Domain.Inference;
using Pix2Pix.Domain.Networks;

namespace Pix2Pix.Domain.Training;

public enum GanMode { Vanilla, Lsgan }

public enum LrPolicy { Linear, Step, Cosine }

/// <summary>
/// What a caller chooses for a training run: the body's <c>options</c> of <c>POST /jobs/train</c>, stored with the job
/// and on every version it makes, and what the engine reads. Every field is optional; the defaults are the paper's
/// (the reference implementation's pix2pix defaults). Host settings (device, threads) are not part of it.
/// </summary>
public sealed record TrainingRecipe
{
    /// <summary>Which half of a pair is the input: <c>AtoB</c> or <c>BtoA</c> (labels → photos on facades is BtoA).</summary>
    public Direction Direction { get; init; } = Direction.AtoB;

    /// <summary>Epochs at the initial learning rate (the reference's n_epochs).</summary>
    public int Epochs { get; init; } = 100;

    /// <summary>Epochs of decay after <c>epochs</c> (the reference's n_epochs_decay); training runs epochs + decayEpochs.</summary>
    public int DecayEpochs { get; init; } = 100;

    /// <summary>Learning-rate schedule: <c>linear</c> (constant, then linear decay to zero), <c>step</c> or <c>cosine</c>.</summary>
    public LrPolicy LrPolicy { get; init; } = LrPolicy.Linear;

    /// <summary>For <c>lrPolicy</c> <c>step</c>: multiply the rate by 0.1 every this many epochs.</summary>
    public int LrStepEpochs { get; init; } = 50;

    /// <summary>Images per iteration (1 to 1024).</summary>
    public int BatchSize { get; init; } = 1;

    /// <summary>Adam's initial learning rate, for both networks.</summary>
    public double LearningRate { get; init; } = 2e-4;

    /// <summary>Adam's β1.</summary>
    public double Beta1 { get; init; } = 0.5;

    /// <summary>Adam's β2.</summary>
    public double Beta2 { get; init; } = 0.999;

    /// <summary>Weight λ of the L1 loss against the cGAN loss.</summary>
    public double LambdaL1 { get; init; } = 100;

    /// <summary><c>unet_N</c> (N = 2^downsamplings, N ≥ 32: unet_256, unet_128, ...), <c>resnet_9blocks</c> or <c>resnet_6blocks</c>.</summary>
    public string Generator { get; init; } = "unet_256";

    /// <summary><c>basic</c> (the 70×70 PatchGAN), <c>n_layers</c> (depth <c>discriminatorLayers</c>) or <c>pixel</c> (1×1 PixelGAN).</summary>
    public string Discriminator { get; init; } = "basic";

    /// <summary>Depth of the <c>n_layers</c> discriminator, 1 to 8 (<c>basic</c> is 3).</summary>
    public int DiscriminatorLayers { get; init; } = 3;

    /// <summary>Normalization in both networks: <c>batch</c>, <c>instance</c> or <c>none</c>.</summary>
    public NormKind Norm { get; init; } = NormKind.Batch;

    /// <summary>Channels of the input images: 1 (grayscale) or 3 (RGB).</summary>
    public int InputChannels { get; init; } = 3;

    /// <summary>Channels of the output images: 1 (grayscale) or 3 (RGB).</summary>
    public int OutputChannels { get; init; } = 3;

    /// <summary>Filters in the generator's last conv layer: 1, 2, 4, 8 or a multiple of 16 up to 1024.</summary>
    public int GeneratorFilters { get; init; } = 64;

    /// <summary>Filters in the discriminator's first conv layer: 1, 2, 4, 8 or a multiple of 16 up to 1024.</summary>
    public int DiscriminatorFilters { get; init; } = 64;

    /// <summary>Dropout 0.5 in the generator's decoder (the noise source of pix2pix).</summary>
    public bool Dropout { get; init; } = true;

    /// <summary>cGAN objective: <c>vanilla</c> (non-saturating cross-entropy, the paper's) or <c>lsgan</c> (least squares).</summary>
    public GanMode GanMode { get; init; } = GanMode.Vanilla;

    /// <summary>Images are first scaled to this size (<c>resize_and_crop</c>) or this width (<c>scale_width</c>).</summary>
    public int LoadSize { get; init; } = 286;

    /// <summary>Size of the random square crop the networks train on; a multiple of the generator's stride.</summary>
    public int CropSize { get; init; } = 256;

    /// <summary>
    /// How training images reach the network's size: <c>resize_and_crop</c> (to loadSize, then a random cropSize square),
    /// <c>crop</c> (a random cropSize square of the original), <c>scale_width</c> or <c>none</c>.
    /// </summary>
    public Preprocess Preprocess { get; init; } = Preprocess.ResizeAndCrop;

    /// <summary>Flip training pairs left-right at random.</summary>
    public bool Flip { get; init; } = true;

    /// <summary>Seeds weight init, data order, jitter and dropout; a CPU run with the same seed and threads is repeatable.</summary>
    public long Seed { get; init; } = 0;

    /// <summary>A snapshot (val image grid, val metrics and a model version) every this many epochs, and at the end.</summary>
    public int SnapshotEvery { get; init; } = 10;

    /// <summary>Write the full training state every this many iterations (and after each snapshot and on cancellation).</summary>
    public int CheckpointEvery { get; init; } = 500;

    /// <summary>How many val images a snapshot grid shows (1 to 64).</summary>
    public int SnapshotImages { get; init; } = 4;

    /// <summary>How versions translate: <c>eval</c> (running batch-norm statistics, no dropout) or <c>paper</c> (batch statistics and dropout, as the paper).</summary>
    public InferenceMode InferenceMode { get; init; } = InferenceMode.Eval;

    /// <summary>
    /// Arithmetic of the training step: <c>fp32</c>, <c>bf16-mixed</c> (convolutions in bf16 under autocast, fp32 master
    /// weights, batch norm and losses) or <c>auto</c> (bf16-mixed on CPUs with AVX512-BF16 or AMX and on CUDA GPUs, fp32
    /// elsewhere). A run keeps the precision it started in when it resumes; each version records it.
    /// </summary>
    public TrainingPrecision Precision { get; init; } = TrainingPrecision.Auto;

    [JsonIgnore]
    public int TotalEpochs => Epochs + DecayEpochs;

    /// <summary>The networks this recipe builds.</summary>
    [JsonIgnore]
    public NetworkOptions Network => new()
    {
        Generator = Generator,
        Discriminator = Discriminator,
        DiscriminatorLayers = DiscriminatorLayers,
        Norm = Norm,
        InputChannels = InputChannels,
        OutputChannels = OutputChannels,
        GeneratorFilters = GeneratorFilters,
        DiscriminatorFilters = DiscriminatorFilters,
        Dropout = Dropout,
    };

    /// <summary>How recipes are written in requests, jobs and versions: camelCase names, enums as the reference spells them (resize_and_crop, lsgan, AtoB).</summary>
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>
    /// Reads a stored recipe; fields it lacks (jobs stored before they existed) take their defaults, except the
    /// precision: everything stored before it existed trained in fp32.
    /// </summary>
    public static TrainingRecipe FromJson(string json)
    {
        using var document = JsonDocument.Parse(json);
        var recipe = document.Deserialize<TrainingRecipe>(Json) ?? throw new InvalidJobException("The job's recipe is empty.");
        return document.RootElement.TryGetProperty("precision", out _) ? recipe : recipe with { Precision = TrainingPrecision.Fp32 };
    }

    /// <summary>Every problem with this recipe, keyed by the field's name as callers spell it (camelCase).</summary>
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
        Check(InputChannels is 1 or 3, "inputChannels", "Must be 1 or 3.");
        Check(OutputChannels is 1 or 3, "outputChannels", "Must be 1 or 3.");
        Check(IsSupportedFilterCount(GeneratorFilters), "generatorFilters", FilterCountRule);
        Check(IsSupportedFilterCount(DiscriminatorFilters), "discriminatorFilters", FilterCountRule);
        Check(DiscriminatorLayers is >= 1 and <= 8, "discriminatorLayers", "Must be between 1 and 8.");
        Check(Discriminator.Trim().ToLowerInvariant() is "basic" or "n_layers" or "pixel", "discriminator",
            $"Unknown discriminator '{Discriminator}': use basic, n_layers or pixel.");

        if (!GeneratorArchitecture.TryParse(Generator, out var architecture, out var generatorError))
        {
            errors.TryAdd("generator", generatorError);
        }
        else if (Preprocess is Preprocess.ResizeAndCrop or Preprocess.Crop)
        {
            Check(CropSize >= architecture.SizeMultiple && CropSize % architecture.SizeMultiple == 0, "cropSize",
                $"{Generator} needs sizes that are multiples of {architecture.SizeMultiple}; cropSize {CropSize} is not.");
        }
        else if (Preprocess == Preprocess.ScaleWidth)
        {
            Check(LoadSize % architecture.SizeMultiple == 0, "loadSize",
                $"{Generator} needs sizes that are multiples of {architecture.SizeMultiple}; loadSize {LoadSize} is not.");
        }
        Check(CropSize is >= 1 and <= 8192, "cropSize", "Must be between 1 and 8192.");
        int patchLayers = Discriminator.Trim().ToLowerInvariant() switch { "basic" => 3, "n_layers" => DiscriminatorLayers, _ => 0 };
        int smallestSide = Preprocess is Preprocess.ScaleWidth ? Math.Min(CropSize, LoadSize) : CropSize;
        Check(smallestSide >= 3 << patchLayers, patchLayers == 3 && Discriminator != "n_layers" ? "cropSize" : "discriminatorLayers",
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

    /// <summary>Throws <see cref="InvalidJobException"/> naming the first invalid field.</summary>
    public void ThrowIfInvalid()
    {
        var errors = Validate();
        if (errors.Count > 0)
        {
            var (field, message) = errors.First();
            throw new InvalidJobException($"{field}: {message}");
        }
    }

    public SampleOptions ToSampleOptions() => new()
    {
        Direction = Direction,
        Preprocess = Preprocess,
        LoadSize = LoadSize,
        CropSize = CropSize,
        Flip = Flip,
        InputChannels = InputChannels,
        OutputChannels = OutputChannels,
        SizeMultiple = GeneratorArchitecture.Parse(Generator).SizeMultiple,
    };
}

/// <summary>How this host runs a recipe; not part of the recipe, and never stored with a job.</summary>
public sealed record TrainingRuntime
{
    /// <summary><c>cpu</c>, <c>cuda</c> or <c>cuda:N</c>.</summary>
    public string Device { get; init; } = "cpu";

    /// <summary>
    /// libtorch intra-op threads, set when the run starts; 0 leaves the count alone. The count is process-wide (every
    /// thread's forward passes use it), so hosts that also translate set it once at start instead. Exact resume needs the same count.
    /// </summary>
    public int Threads { get; init; }

    /// <summary>Batches decoded ahead of the compute.</summary>
    public int PrefetchBatches { get; init; } = 4;

    /// <summary>Image limits checked from headers when the dataset is opened.</summary>
    public DatasetLimits Limits { get; init; } = new();
}

/// <summary>
/// The job cannot succeed as given — bad data, an impossible recipe, a missing dataset or checkpoint — so retrying
/// would fail the same way. Anything else a training job throws is treated as transient and retried.
/// </summary>
public class InvalidJobException(string message, Exception? innerException = null) : Exception(message, innerException);
