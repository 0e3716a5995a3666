using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pix2Pix.Domain.Inference;

/// <summary>
/// Puts a generator in its inference mode for a block and restores it afterwards. <see cref="InferenceMode.Paper"/>
/// runs in train mode (batch statistics, dropout) but leaves the running statistics untouched (momentum 0) and
/// draws dropout from a generator of its own seeded with <c>seed</c>, so the same input gives the same output and
/// a training run evaluating in this mode keeps its own random stream.
/// </summary>
public sealed class GeneratorMode : IDisposable
{
    private readonly nn.Module generator;
    private readonly bool wasTraining;
    private readonly List<(NormBase Norm, double? Momentum)> norms = [];
    private readonly Generator? dropoutRandom;
    private readonly List<(Networks.SeededDropout Dropout, Generator? Random)> dropouts = [];

    private GeneratorMode(nn.Module generator, InferenceMode mode, long seed)
    {
        this.generator = generator;
        wasTraining = generator.training;
        if (mode == InferenceMode.Eval)
        {
            generator.eval();
            return;
        }
        generator.train();
        foreach (var module in generator.modules())
            if (module is NormBase norm)
            {
                norms.Add((norm, norm.momentum));
                norm.momentum = 0.0;
            }
        var device = generator.parameters().First().device;
        dropoutRandom = new Generator((ulong)seed, device);
        foreach (var dropout in generator.modules().OfType<Networks.SeededDropout>())
        {
            dropouts.Add((dropout, dropout.Generator));
            dropout.Generator = dropoutRandom;
        }
    }

    public static GeneratorMode Enter(nn.Module generator, InferenceMode mode, long seed = 0) => new(generator, mode, seed);

    public void Dispose()
    {
        foreach (var (norm, momentum) in norms) norm.momentum = momentum;
        foreach (var (dropout, random) in dropouts) dropout.Generator = random;
        dropoutRandom?.Dispose();
        generator.train(wasTraining);
    }
}
