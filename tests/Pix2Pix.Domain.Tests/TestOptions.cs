using Pix2Pix.Domain.Data;
using Pix2Pix.Domain.Training;

namespace Pix2Pix.Domain.Tests;

/// <summary>A small recipe (unet_32 with 16 filters on 32×32 images) that trains in seconds on a CPU.</summary>
public static class TestOptions
{
    public static TrainingRecipe Tiny(int epochs = 2, int decayEpochs = 0) => new()
    {
        Generator = "unet_32",
        GeneratorFilters = 16,
        DiscriminatorFilters = 16,
        Epochs = epochs,
        DecayEpochs = decayEpochs,
        LoadSize = 36,
        CropSize = 32,
        Preprocess = Preprocess.ResizeAndCrop,
        Seed = 7,
        SnapshotEvery = 1,
        CheckpointEvery = 1000,
        SnapshotImages = 2,
    };

    /// <summary>One libtorch thread: repeatable to the bit.</summary>
    public static TrainingRuntime Runtime { get; } = new() { Threads = 1 };
}
