using Pix2Pix.Domain.Networks;
using Pix2Pix.Domain.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pix2Pix.Bench;

/// <summary>
/// The yardstick for <c>bench train</c>: the plain TorchSharp pix2pix step as the trainer first ran it — fp32,
/// contiguous NCHW, one <see cref="torch.optim.Adam"/> per network — on the same networks.
/// </summary>
public sealed class ReferenceLoop : IDisposable
{
    private readonly TrainingRecipe recipe;
    private readonly nn.Module<Tensor, Tensor> generator, discriminator;
    private readonly Adam generatorOptimizer, discriminatorOptimizer;

    public ReferenceLoop(TrainingRecipe recipe)
    {
        this.recipe = recipe;
        using var random = new torch.Generator((ulong)recipe.Seed);
        generator = NetworkFactory.CreateGenerator(recipe.Network, random);
        discriminator = NetworkFactory.CreateDiscriminator(recipe.Network, random);
        generator.train();
        discriminator.train();
        generatorOptimizer = optim.Adam(generator.parameters(), recipe.LearningRate, recipe.Beta1, recipe.Beta2);
        discriminatorOptimizer = optim.Adam(discriminator.parameters(), recipe.LearningRate, recipe.Beta1, recipe.Beta2);
    }

    public void Step(Tensor condition, Tensor target)
    {
        using var scope = NewDisposeScope();
        var fake = generator.forward(condition);

        SetRequiresGrad(discriminator, true);
        discriminatorOptimizer.zero_grad();
        var lossFake = GanLoss.Compute(recipe.GanMode, discriminator.forward(cat([condition, fake.detach()], 1)), targetIsReal: false);
        var lossReal = GanLoss.Compute(recipe.GanMode, discriminator.forward(cat([condition, target], 1)), targetIsReal: true);
        ((lossFake + lossReal) * 0.5).backward();
        discriminatorOptimizer.step();

        SetRequiresGrad(discriminator, false);
        generatorOptimizer.zero_grad();
        var lossGan = GanLoss.Compute(recipe.GanMode, discriminator.forward(cat([condition, fake], 1)), targetIsReal: true);
        (lossGan + nn.functional.l1_loss(fake, target) * recipe.LambdaL1).backward();
        generatorOptimizer.step();
    }

    private static void SetRequiresGrad(nn.Module module, bool value)
    {
        foreach (var parameter in module.parameters()) parameter.requires_grad = value;
    }

    public void Dispose()
    {
        generatorOptimizer.Dispose();
        discriminatorOptimizer.Dispose();
        generator.Dispose();
        discriminator.Dispose();
    }
}
