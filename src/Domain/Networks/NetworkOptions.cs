namespace Pix2Pix.Domain.Networks;

/// <summary>Normalization layer used inside the generator and discriminator (the reference's <c>--norm</c>).</summary>
public enum NormKind { Batch, Instance, None }

/// <summary>The architecture of a generator and discriminator pair, with the reference implementation's defaults.</summary>
public sealed record NetworkOptions
{
    /// <summary><c>unet_N</c> (N = 2^downsamplings, N ≥ 32), <c>resnet_9blocks</c> or <c>resnet_6blocks</c>.</summary>
    public string Generator { get; init; } = "unet_256";

    /// <summary><c>basic</c> (70×70 PatchGAN), <c>n_layers</c> or <c>pixel</c>.</summary>
    public string Discriminator { get; init; } = "basic";

    /// <summary>Depth of the <c>n_layers</c> discriminator (<c>basic</c> is 3).</summary>
    public int DiscriminatorLayers { get; init; } = 3;

    public NormKind Norm { get; init; } = NormKind.Batch;
    public int InputChannels { get; init; } = 3;
    public int OutputChannels { get; init; } = 3;

    /// <summary>Filters in the generator's last conv layer.</summary>
    public int GeneratorFilters { get; init; } = 64;

    /// <summary>Filters in the discriminator's first conv layer.</summary>
    public int DiscriminatorFilters { get; init; } = 64;

    /// <summary>Dropout 0.5 in the generator (the noise source of pix2pix).</summary>
    public bool Dropout { get; init; } = true;
}
