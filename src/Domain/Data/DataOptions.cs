using System.Text.Json.Serialization;

namespace Pix2Pix.Domain.Data;

/// <summary>Which side of a pair is the input: AtoB translates A into B.</summary>
public enum Direction
{
    [JsonStringEnumMemberName("AtoB")] AtoB,
    [JsonStringEnumMemberName("BtoA")] BtoA,
}

/// <summary>
/// How training images are brought to the network's size (the reference's <c>--preprocess</c>):
/// <c>ResizeAndCrop</c> resizes to loadSize×loadSize and crops a random cropSize square; <c>Crop</c> crops a random
/// cropSize square from the original; <c>ScaleWidth</c> scales the width to loadSize keeping the aspect ratio;
/// <c>None</c> keeps the original size. The last two round sizes to what the generator accepts.
/// </summary>
public enum Preprocess { ResizeAndCrop, Crop, ScaleWidth, None }

/// <summary>File layout of a dataset split.</summary>
public enum DatasetLayout
{
    /// <summary>Each file holds A and B side by side (A left, B right), as in the pix2pix datasets.</summary>
    Aligned,

    /// <summary>Folders <c>A/</c> and <c>B/</c> holding files with the same names.</summary>
    Paired,
}

/// <summary>Limits that protect the service from hostile or accidental huge images; checked from headers before decoding.</summary>
public sealed record DatasetLimits
{
    public int MaxImageSide { get; init; } = 8192;
    public long MaxImagePixels { get; init; } = 4096L * 4096;
}

/// <summary>How samples are decoded and jittered for the networks.</summary>
public sealed record SampleOptions
{
    public Direction Direction { get; init; } = Direction.AtoB;
    public Preprocess Preprocess { get; init; } = Preprocess.ResizeAndCrop;
    public int LoadSize { get; init; } = 286;
    public int CropSize { get; init; } = 256;
    public bool Flip { get; init; } = true;
    public int InputChannels { get; init; } = 3;
    public int OutputChannels { get; init; } = 3;

    /// <summary>Sizes fed to the generator must be multiples of this (2^downsamplings for a U-Net).</summary>
    public int SizeMultiple { get; init; } = 256;
}
