using static TorchSharp.torch;

namespace Pix2Pix.Domain.Networks;

/// <summary>Builds and initializes the networks named in <see cref="NetworkOptions"/>.</summary>
public static class NetworkFactory
{
    public static nn.Module<Tensor, Tensor> CreateGenerator(NetworkOptions options)
    {
        var architecture = GeneratorArchitecture.Parse(options.Generator);
        nn.Module<Tensor, Tensor> generator = architecture.IsUnet
            ? new UnetGenerator(options.InputChannels, options.OutputChannels, architecture.Downsamplings,
                options.GeneratorFilters, options.Norm, options.Dropout)
            : new ResnetGenerator(options.InputChannels, options.OutputChannels, architecture.ResidualBlocks,
                options.GeneratorFilters, options.Norm, options.Dropout);
        Layers.InitNormal(generator);
        return generator;
    }

    /// <summary>The conditional discriminator sees the condition and the image concatenated on channels.</summary>
    public static nn.Module<Tensor, Tensor> CreateDiscriminator(NetworkOptions options)
    {
        int input = options.InputChannels + options.OutputChannels;
        nn.Module<Tensor, Tensor> discriminator = options.Discriminator.Trim().ToLowerInvariant() switch
        {
            "basic" => new PatchDiscriminator(input, options.DiscriminatorFilters, 3, options.Norm),
            "n_layers" => new PatchDiscriminator(input, options.DiscriminatorFilters, options.DiscriminatorLayers, options.Norm),
            "pixel" => new PixelDiscriminator(input, options.DiscriminatorFilters, options.Norm),
            var other => throw new ArgumentException($"Unknown discriminator '{other}': use basic, n_layers or pixel.", nameof(options)),
        };
        Layers.InitNormal(discriminator);
        return discriminator;
    }

    public static long CountParameters(nn.Module module) => module.parameters().Sum(p => p.numel());
}
