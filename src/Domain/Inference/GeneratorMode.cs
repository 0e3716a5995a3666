using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pix2Pix.Domain.Inference;

/// <summary>
/// Puts a generator in its inference mode for a block and restores it afterwards. <see cref="InferenceMode.Paper"/>
/// runs in train mode (batch statistics, dropout) but leaves the running statistics untouched (momentum 0) and draws
/// dropout from a fixed seed, restoring the caller's RNG state on exit so training randomness is unaffected.
/// </summary>
public sealed class GeneratorMode : IDisposable
{
    private readonly nn.Module generator;
    private readonly bool wasTraining;
    private readonly List<(NormBase Norm, double? Momentum)> norms = [];
    private readonly Tensor? savedRngState;

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
        savedRngState = random.get_rng_state();
        random.manual_seed(seed);
    }

    public static GeneratorMode Enter(nn.Module generator, InferenceMode mode, long seed = 0) => new(generator, mode, seed);

    public void Dispose()
    {
        foreach (var (norm, momentum) in norms) norm.momentum = momentum;
        if (savedRngState is not null)
        {
            random.set_rng_state(savedRngState);
            savedRngState.Dispose();
        }
        generator.train(wasTraining);
    }
}
