using Pix2Pix.Domain.Runtime;
using Pix2Pix.Domain.Training;
using static TorchSharp.torch;

namespace Pix2Pix.Bench;

/// <summary>
/// <c>bench profile</c>: where a training step's time goes, phase by phase (<see cref="StepPhaseTimes"/>), on one
/// random batch of <c>--size</c>² with <c>--generator</c> in <c>--precision</c>, averaged over <c>--steps</c> after five
/// untimed ones.
/// </summary>
public static class StepProfile
{
    public static int Run(BenchArguments arguments)
    {
        int size = arguments.Int("size", 64), steps = arguments.Int("steps", 60), batch = arguments.Int("batch", 1);
        if (arguments.Int("threads", 0) is > 0 and var threads) set_num_threads(threads);
        string allocator = NativeMemory.EnsureConfigured();
        var requested = Enum.Parse<TrainingPrecision>((arguments.String("precision") ?? "auto").Replace("-", ""), ignoreCase: true);
        var precision = TrainingPrecisions.Resolve(requested, CPU);
        var recipe = new TrainingRecipe { Generator = arguments.String("generator") ?? "unet_64", CropSize = size, LoadSize = size, BatchSize = batch, Precision = precision };
        using var model = new Pix2PixModel(recipe, CPU, precision);
        using var condition = rand(batch, 3, size, size) * 2 - 1;
        using var target = rand(batch, 3, size, size) * 2 - 1;
        for (int step = 0; step < 5; step++) model.TrainStep(condition, target);
        model.PhaseTimes = new StepPhaseTimes();
        for (int step = 0; step < steps; step++) model.TrainStep(condition, target);

        var phases = model.PhaseTimes.Totals;
        double stepMs = phases.Sum(p => p.Total.TotalMilliseconds) / steps;
        Benchmarks.Emit(new
        {
            command = "profile", size, generator = recipe.Generator, batch, steps, precision = Benchmarks.PrecisionName(precision),
            threads = get_num_threads(), allocator, step_ms = Math.Round(stepMs, 2),
            phases_ms = phases.ToDictionary(p => p.Phase, p => Math.Round(p.Total.TotalMilliseconds / steps, 2)),
        });
        return 0;
    }
}
