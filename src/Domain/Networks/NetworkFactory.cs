using static TorchSharp.torch;

namespace Pix2Pix.Domain.Networks;

/// <summary>Builds and initializes the networks named in <see cref="NetworkOptions"/>.</summary>
public static class NetworkFactory
{
    /// <param name="options">The architecture.</param>
    /// <param name="random">Draws the initial weights and, afterwards, the dropout masks; null uses libtorch's
    /// process-wide generator. Pass null only when the weights are loaded right after.</param>
    public static nn.Module<Tensor, Tensor> CreateGenerator(NetworkOptions options, Generator? random = null)
    {
        var architecture = GeneratorArchitecture.Parse(options.Generator);
        nn.Module<Tensor, Tensor> generator = architecture.IsUnet
            ? new UnetGenerator(options.InputChannels, options.OutputChannels, architecture.Downsamplings,
                options.GeneratorFilters, options.Norm, options.Dropout)
            : new ResnetGenerator(options.InputChannels, options.OutputChannels, architecture.ResidualBlocks,
                options.GeneratorFilters, options.Norm, options.Dropout);
        Layers.InitNormal(generator, random);
        UseForDropout(generator, random);
        return generator;
    }

    /// <summary>A generator whose weights are about to be loaded: initialised from a throwaway RNG, so loading a model
    /// never draws from libtorch's process-wide generator.</summary>
    public static nn.Module<Tensor, Tensor> CreateGeneratorForLoading(NetworkOptions options)
    {
        using var scratch = new Generator(0, CPU);
        var generator = CreateGenerator(options, scratch);
        UseForDropout(generator, null);
        return generator;
    }

    /// <summary>The conditional discriminator sees the condition and the image concatenated on channels.</summary>
    public static nn.Module<Tensor, Tensor> CreateDiscriminator(NetworkOptions options, Generator? random = null)
    {
        int input = options.InputChannels + options.OutputChannels;
        nn.Module<Tensor, Tensor> discriminator = options.Discriminator.Trim().ToLowerInvariant() switch
        {
            "basic" => new PatchDiscriminator(input, options.DiscriminatorFilters, 3, options.Norm),
            "n_layers" => new PatchDiscriminator(input, options.DiscriminatorFilters, options.DiscriminatorLayers, options.Norm),
            "pixel" => new PixelDiscriminator(input, options.DiscriminatorFilters, options.Norm),
            var other => throw new ArgumentException($"Unknown discriminator '{other}': use basic, n_layers or pixel.", nameof(options)),
        };
        Layers.InitNormal(discriminator, random);
        return discriminator;
    }

    public static long CountParameters(nn.Module module) => module.parameters().Sum(p => p.numel());

    /// <summary>Points every dropout layer of a network at <paramref name="random"/>.</summary>
    public static void UseForDropout(nn.Module network, Generator? random)
    {
        foreach (var dropout in network.modules().OfType<SeededDropout>()) dropout.Generator = random;
    }
}
