using System.Text.Json;
using System.Text.Json.Serialization;
using Pix2Pix.Domain.Data;
using Pix2Pix.Domain.Networks;
using Pix2Pix.Domain.Training;

namespace Pix2Pix.Domain.Inference;

/// <summary>Everything needed to rebuild and run a generator, stored in its model package next to the weights.</summary>
public sealed record ModelManifest
{
    public const string CurrentFormat = "pix2pix-service/1";

    public string Format { get; init; } = CurrentFormat;
    public string Generator { get; init; } = "unet_256";
    public NormKind Norm { get; init; } = NormKind.Batch;
    public int InputChannels { get; init; } = 3;
    public int OutputChannels { get; init; } = 3;
    public int GeneratorFilters { get; init; } = 64;
    public bool Dropout { get; init; } = true;
    public Direction Direction { get; init; } = Direction.AtoB;

    /// <summary>The size the generator was trained on (width and height of its training crops).</summary>
    public int TrainingWidth { get; init; } = 256;
    public int TrainingHeight { get; init; } = 256;
    public Preprocess Preprocess { get; init; } = Preprocess.ResizeAndCrop;
    public int LoadSize { get; init; } = 286;
    public InferenceMode InferenceMode { get; init; } = InferenceMode.Eval;

    /// <summary>The epoch these weights come from (0 for imported weights).</summary>
    public int Epoch { get; init; }

    public NetworkOptions ToNetworkOptions() => new()
    {
        Generator = Generator,
        Norm = Norm,
        InputChannels = InputChannels,
        OutputChannels = OutputChannels,
        GeneratorFilters = GeneratorFilters,
        Dropout = Dropout,
    };

    public static ModelManifest From(TrainingRecipe options, int epoch) => new()
    {
        Generator = options.Generator,
        Norm = options.Norm,
        InputChannels = options.InputChannels,
        OutputChannels = options.OutputChannels,
        GeneratorFilters = options.GeneratorFilters,
        Dropout = options.Dropout,
        Direction = options.Direction,
        TrainingWidth = options.Preprocess == Preprocess.ScaleWidth ? options.LoadSize : options.CropSize,
        TrainingHeight = options.CropSize,
        Preprocess = options.Preprocess,
        LoadSize = options.LoadSize,
        InferenceMode = options.InferenceMode,
        Epoch = epoch,
    };

    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };
}
