using Pix2Pix.Domain.Networks;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pix2Pix.Domain.Training;

/// <summary>The four losses the reference logs for each iteration.</summary>
public readonly record struct StepLosses(double GeneratorGan, double GeneratorL1, double DiscriminatorReal, double DiscriminatorFake);

/// <summary>
/// Generator, discriminator and their Adam optimizers, and the paper's update: D on (condition, fake) and
/// (condition, real) with its loss halved, then G on the non-saturating cGAN loss plus λ·L1.
/// </summary>
public sealed class Pix2PixModel : IDisposable
{
    private readonly TrainingRecipe options;

    public Pix2PixModel(TrainingRecipe options, Device device)
    {
        this.options = options;
        Device = device;
        Random = new torch.Generator((ulong)options.Seed, device);
        Generator = NetworkFactory.CreateGenerator(options.Network, Random);
        Discriminator = NetworkFactory.CreateDiscriminator(options.Network, Random);
        Generator.to(device);
        Discriminator.to(device);
        Generator.train();
        Discriminator.train();
        GeneratorOptimizer = optim.Adam(Generator.parameters(), options.LearningRate, options.Beta1, options.Beta2);
        DiscriminatorOptimizer = optim.Adam(Discriminator.parameters(), options.LearningRate, options.Beta1, options.Beta2);
    }

    public Device Device { get; }

    /// <summary>The run's own randomness: initial weights, then dropout. Part of the checkpoint.</summary>
    public torch.Generator Random { get; }
    public nn.Module<Tensor, Tensor> Generator { get; }
    public nn.Module<Tensor, Tensor> Discriminator { get; }
    public Adam GeneratorOptimizer { get; }
    public Adam DiscriminatorOptimizer { get; }

    public void SetLearningRate(double learningRate)
    {
        foreach (var group in GeneratorOptimizer.ParamGroups) group.LearningRate = learningRate;
        foreach (var group in DiscriminatorOptimizer.ParamGroups) group.LearningRate = learningRate;
    }

    /// <summary>One optimisation step on a batch (condition, target), both in [-1, 1] on <see cref="Device"/>.</summary>
    public StepLosses TrainStep(Tensor condition, Tensor target)
    {
        using var scope = NewDisposeScope();
        var fake = Generator.forward(condition);

        SetRequiresGrad(Discriminator, true);
        DiscriminatorOptimizer.zero_grad();
        var lossFake = GanLoss.Compute(options.GanMode, Discriminator.forward(cat([condition, fake.detach()], 1)), targetIsReal: false);
        var lossReal = GanLoss.Compute(options.GanMode, Discriminator.forward(cat([condition, target], 1)), targetIsReal: true);
        var lossD = (lossFake + lossReal) * 0.5;
        lossD.backward();
        DiscriminatorOptimizer.step();

        // D's weights get no gradients from G's loss (the reference's set_requires_grad(netD, False)).
        SetRequiresGrad(Discriminator, false);
        GeneratorOptimizer.zero_grad();
        var lossGan = GanLoss.Compute(options.GanMode, Discriminator.forward(cat([condition, fake], 1)), targetIsReal: true);
        var lossL1 = nn.functional.l1_loss(fake, target) * options.LambdaL1;
        var lossG = lossGan + lossL1;
        lossG.backward();
        GeneratorOptimizer.step();

        return new StepLosses(lossGan.item<float>(), lossL1.item<float>(), lossReal.item<float>(), lossFake.item<float>());
    }

    private static void SetRequiresGrad(nn.Module module, bool value)
    {
        foreach (var parameter in module.parameters()) parameter.requires_grad = value;
    }

    public void Dispose()
    {
        GeneratorOptimizer.Dispose();
        DiscriminatorOptimizer.Dispose();
        Generator.Dispose();
        Discriminator.Dispose();
        Random.Dispose();
    }
}
