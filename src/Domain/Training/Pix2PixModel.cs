using Pix2Pix.Domain.Networks;
using Pix2Pix.Domain.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pix2Pix.Domain.Training;

/// <summary>The four losses the reference logs for each iteration.</summary>
public readonly record struct StepLosses(double GeneratorGan, double GeneratorL1, double DiscriminatorReal, double DiscriminatorFake);

/// <summary>
/// Generator, discriminator and their Adam optimizers, and the paper's update: D on (condition, fake) and
/// (condition, real) with its loss halved, then G on the non-saturating cGAN loss plus λ·L1. In bf16-mixed
/// precision the forward passes run under autocast (convolutions in bf16, fp32 master weights, batch norm
/// statistics and losses in fp32).
/// </summary>
public sealed class Pix2PixModel : IDisposable
{
    private readonly TrainingRecipe options;
    private readonly ScalarType computeType;

    /// <param name="precision">Fp32 or Bf16Mixed (resolve <see cref="TrainingPrecision.Auto"/> first).</param>
    public Pix2PixModel(TrainingRecipe options, Device device, TrainingPrecision precision = TrainingPrecision.Fp32)
    {
        if (precision == TrainingPrecision.Auto) throw new ArgumentException("Resolve the precision before building the model.", nameof(precision));
        this.options = options;
        Device = device;
        Precision = precision;
        computeType = precision == TrainingPrecision.Bf16Mixed ? ScalarType.BFloat16 : ScalarType.Float32;
        Random = new torch.Generator((ulong)options.Seed, device);
        Generator = NetworkFactory.CreateGenerator(options.Network, Random);
        Discriminator = NetworkFactory.CreateDiscriminator(options.Network, Random);
        Generator.to(device);
        Discriminator.to(device);
        Generator.train();
        Discriminator.train();
        // fp32 keeps TorchSharp's Adam to the bit; mixed precision has no such reference and takes the faster square root,
        // and on the CPU the optimizer keeps the U-Net's bf16 weight copies so autocast need not cast them every step.
        bool matchTorchSharp = precision == TrainingPrecision.Fp32;
        var weightCopies = precision == TrainingPrecision.Bf16Mixed && device.type == DeviceType.CPU
            ? Generator.modules().OfType<IHasTrainingWeightCopy>() : [];
        GeneratorOptimizer = new FlatAdam(Generator.parameters(), options.LearningRate, options.Beta1, options.Beta2,
            matchTorchSharp: matchTorchSharp, weightCopies: weightCopies);
        DiscriminatorOptimizer = new FlatAdam(Discriminator.parameters(), options.LearningRate, options.Beta1, options.Beta2, matchTorchSharp: matchTorchSharp);
    }

    public Device Device { get; }

    /// <summary>The precision the step runs in: <see cref="TrainingPrecision.Fp32"/> or <see cref="TrainingPrecision.Bf16Mixed"/>.</summary>
    public TrainingPrecision Precision { get; }

    /// <summary>The run's own randomness: initial weights, then dropout. Part of the checkpoint.</summary>
    public torch.Generator Random { get; }
    public nn.Module<Tensor, Tensor> Generator { get; }
    public nn.Module<Tensor, Tensor> Discriminator { get; }
    public FlatAdam GeneratorOptimizer { get; }
    public FlatAdam DiscriminatorOptimizer { get; }

    /// <summary>Set to time the phases of each step (a profile); null, the default, times nothing.</summary>
    public StepPhaseTimes? PhaseTimes { get; set; }

    public void SetLearningRate(double learningRate)
    {
        GeneratorOptimizer.LearningRate = learningRate;
        DiscriminatorOptimizer.LearningRate = learningRate;
    }

    /// <summary>After loading weights or optimizer state: every tensor back into the optimizers' flat buffers.</summary>
    public void AfterLoad()
    {
        GeneratorOptimizer.Bind();
        DiscriminatorOptimizer.Bind();
    }

    /// <summary>One optimisation step on a batch (condition, target), both in [-1, 1] on <see cref="Device"/>.</summary>
    public StepLosses TrainStep(Tensor condition, Tensor target)
    {
        using var scope = NewDisposeScope();
        PhaseTimes?.Start();
        Tensor fake, predictionFake, predictionReal;
        // Autocast covers the forward passes only; backward runs each op in the type its forward used. Losses in fp32.
        using (Autocast.Enter(Device, computeType))
        {
            fake = Generator.forward(condition);
            PhaseTimes?.End("G forward");
            SetRequiresGrad(Discriminator, true);
            predictionFake = Discriminator.forward(cat([condition, fake.detach()], 1));
            predictionReal = Discriminator.forward(cat([condition, target], 1));
        }
        PhaseTimes?.End("D forward (fake, real)");
        DiscriminatorOptimizer.ZeroGrad();
        var lossFake = GanLoss.Compute(options.GanMode, predictionFake.to(ScalarType.Float32), targetIsReal: false);
        var lossReal = GanLoss.Compute(options.GanMode, predictionReal.to(ScalarType.Float32), targetIsReal: true);
        var lossD = (lossFake + lossReal) * 0.5;
        lossD.backward();
        PhaseTimes?.End("D loss and backward");
        DiscriminatorOptimizer.Step();
        PhaseTimes?.End("D Adam");

        // D's weights get no gradients from G's loss (the reference's set_requires_grad(netD, False)).
        SetRequiresGrad(Discriminator, false);
        Tensor predictionForGenerator;
        using (Autocast.Enter(Device, computeType))
            predictionForGenerator = Discriminator.forward(cat([condition, fake], 1));
        PhaseTimes?.End("D forward (for G)");
        GeneratorOptimizer.ZeroGrad();
        var lossGan = GanLoss.Compute(options.GanMode, predictionForGenerator.to(ScalarType.Float32), targetIsReal: true);
        var lossL1 = nn.functional.l1_loss(fake.to(ScalarType.Float32), target) * options.LambdaL1;
        var lossG = lossGan + lossL1;
        lossG.backward();
        PhaseTimes?.End("G loss and backward");
        GeneratorOptimizer.Step();
        PhaseTimes?.End("G Adam");

        var losses = new StepLosses(lossGan.item<float>(), lossL1.item<float>(), lossReal.item<float>(), lossFake.item<float>());
        PhaseTimes?.End("losses to the host");
        return losses;
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
