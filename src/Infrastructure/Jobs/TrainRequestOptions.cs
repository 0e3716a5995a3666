using System.Text.Json;
using System.Text.Json.Serialization;
using Pix2Pix.Domain.Data;
using Pix2Pix.Domain.Inference;
using Pix2Pix.Domain.Networks;
using Pix2Pix.Domain.Training;

namespace Pix2Pix.Infrastructure.Jobs;

/// <summary>
/// The recipe a caller sends with <c>POST /jobs/train</c>: every field optional, defaults are the paper's.
/// Stored with the job (defaults filled in), and shown with every version it produces.
/// </summary>
public sealed record TrainRequestOptions
{
    public Direction? Direction { get; init; }
    public int? Epochs { get; init; }
    public int? DecayEpochs { get; init; }
    public LrPolicy? LrPolicy { get; init; }
    public int? LrStepEpochs { get; init; }
    public int? BatchSize { get; init; }
    public double? LearningRate { get; init; }
    public double? Beta1 { get; init; }
    public double? Beta2 { get; init; }
    public double? LambdaL1 { get; init; }
    public string? Generator { get; init; }
    public string? Discriminator { get; init; }
    public int? DiscriminatorLayers { get; init; }
    public NormKind? Norm { get; init; }
    public int? InputChannels { get; init; }
    public int? OutputChannels { get; init; }
    public int? GeneratorFilters { get; init; }
    public int? DiscriminatorFilters { get; init; }
    public bool? Dropout { get; init; }
    public GanMode? GanMode { get; init; }
    public int? LoadSize { get; init; }
    public int? CropSize { get; init; }
    public Preprocess? Preprocess { get; init; }
    public bool? Flip { get; init; }
    public long? Seed { get; init; }
    public int? SnapshotEvery { get; init; }
    public int? CheckpointEvery { get; init; }
    public int? SnapshotImages { get; init; }
    public InferenceMode? InferenceMode { get; init; }

    /// <summary>Enums as the reference spells them: resize_and_crop, scale_width, lsgan, AtoB, ...</summary>
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>The engine's options, with the paper's defaults where a field is missing.</summary>
    public TrainingOptions ToTrainingOptions()
    {
        var defaults = new TrainingOptions();
        var network = defaults.Network;
        return defaults with
        {
            Network = network with
            {
                Generator = Generator ?? network.Generator,
                Discriminator = Discriminator ?? network.Discriminator,
                DiscriminatorLayers = DiscriminatorLayers ?? network.DiscriminatorLayers,
                Norm = Norm ?? network.Norm,
                InputChannels = InputChannels ?? network.InputChannels,
                OutputChannels = OutputChannels ?? network.OutputChannels,
                GeneratorFilters = GeneratorFilters ?? network.GeneratorFilters,
                DiscriminatorFilters = DiscriminatorFilters ?? network.DiscriminatorFilters,
                Dropout = Dropout ?? network.Dropout,
            },
            Direction = Direction ?? defaults.Direction,
            Epochs = Epochs ?? defaults.Epochs,
            DecayEpochs = DecayEpochs ?? defaults.DecayEpochs,
            LrPolicy = LrPolicy ?? defaults.LrPolicy,
            LrStepEpochs = LrStepEpochs ?? defaults.LrStepEpochs,
            BatchSize = BatchSize ?? defaults.BatchSize,
            LearningRate = LearningRate ?? defaults.LearningRate,
            Beta1 = Beta1 ?? defaults.Beta1,
            Beta2 = Beta2 ?? defaults.Beta2,
            LambdaL1 = LambdaL1 ?? defaults.LambdaL1,
            GanMode = GanMode ?? defaults.GanMode,
            LoadSize = LoadSize ?? defaults.LoadSize,
            CropSize = CropSize ?? defaults.CropSize,
            Preprocess = Preprocess ?? defaults.Preprocess,
            Flip = Flip ?? defaults.Flip,
            Seed = Seed ?? defaults.Seed,
            SnapshotEvery = SnapshotEvery ?? defaults.SnapshotEvery,
            CheckpointEvery = CheckpointEvery ?? defaults.CheckpointEvery,
            SnapshotImages = SnapshotImages ?? defaults.SnapshotImages,
            InferenceMode = InferenceMode ?? defaults.InferenceMode,
        };
    }

    /// <summary>Every field filled in from resolved engine options (what the job and its versions record).</summary>
    public static TrainRequestOptions From(TrainingOptions options) => new()
    {
        Direction = options.Direction, Epochs = options.Epochs, DecayEpochs = options.DecayEpochs, LrPolicy = options.LrPolicy,
        LrStepEpochs = options.LrStepEpochs, BatchSize = options.BatchSize, LearningRate = options.LearningRate, Beta1 = options.Beta1,
        Beta2 = options.Beta2, LambdaL1 = options.LambdaL1, Generator = options.Network.Generator, Discriminator = options.Network.Discriminator,
        DiscriminatorLayers = options.Network.DiscriminatorLayers, Norm = options.Network.Norm, InputChannels = options.Network.InputChannels,
        OutputChannels = options.Network.OutputChannels, GeneratorFilters = options.Network.GeneratorFilters,
        DiscriminatorFilters = options.Network.DiscriminatorFilters, Dropout = options.Network.Dropout, GanMode = options.GanMode,
        LoadSize = options.LoadSize, CropSize = options.CropSize, Preprocess = options.Preprocess, Flip = options.Flip, Seed = options.Seed,
        SnapshotEvery = options.SnapshotEvery, CheckpointEvery = options.CheckpointEvery, SnapshotImages = options.SnapshotImages,
        InferenceMode = options.InferenceMode,
    };
}
