using Pix2Pix.Domain.Data;
using Pix2Pix.Domain.Inference;
using static TorchSharp.torch;

namespace Pix2Pix.Domain.Evaluation;

/// <summary>Runs a generator over a split in its inference mode and measures it; optionally keeps rows for a snapshot grid.</summary>
public static class Evaluator
{
    public sealed record Result(EvaluationMetrics Metrics, IReadOnlyList<SnapshotGrid.Row> Rows);

    /// <param name="snapshotRows">How many of the first images (in file-name order) to keep as grid rows.</param>
    public static Result Run(nn.Module<Tensor, Tensor> generator, SampleLoader loader, InferenceMode mode, Device device,
        int snapshotRows = 0, long seed = 0, CancellationToken cancellationToken = default)
    {
        var values = new List<(double, double, double)>();
        var rows = new List<SnapshotGrid.Row>();
        using (GeneratorMode.Enter(generator, mode, seed))
        {
            for (int i = 0; i < loader.Split.Count; i++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var sample = loader.Load(i, Jitter.None);
                using var scope = NewDisposeScope();
                var input = tensor(sample.Input, [1, sample.InputChannels, sample.Height, sample.Width]).to(device);
                var target = tensor(sample.Target, [1, sample.OutputChannels, sample.Height, sample.Width]).to(device);
                Tensor output;
                using (no_grad()) output = generator.forward(input);
                values.AddRange(ImageMetrics.PerImage(output, target));
                if (rows.Count < snapshotRows)
                    rows.Add(new SnapshotGrid.Row(sample.Input, sample.InputChannels, output.cpu().data<float>().ToArray(),
                        sample.Target, sample.OutputChannels, sample.Width, sample.Height));
            }
        }
        return new Result(ImageMetrics.Average(values), rows);
    }
}
