namespace Pix2Pix.Domain.Data;

/// <summary>A decoded, jittered pair ready for the networks: channel-major floats in [-1, 1].</summary>
public sealed record PairSample(string Name, float[] Input, float[] Target, int Height, int Width, int InputChannels, int OutputChannels);

/// <summary>The random part of preprocessing for one sample; identical for both halves of a pair.</summary>
public readonly record struct Jitter(int CropX, int CropY, bool Flip)
{
    public static readonly Jitter None = new(-1, -1, false);
}
