namespace Pix2Pix.Domain.Data;

/// <summary>A batch ready to become tensors: samples stacked channel-major (N, C, H, W).</summary>
public sealed record TrainingBatch(int Epoch, int Iteration, string[] Names, float[] Input, float[] Target, long[] InputShape, long[] TargetShape);

/// <summary>
/// Yields training batches in order while the next ones are decoded and jittered on thread-pool threads, so the
/// compute rarely waits for data. The order and jitter are pure functions of (seed, epoch, position): resuming at
/// any iteration gives the batches an uninterrupted run would have seen.
/// </summary>
public sealed class PrefetchingBatchReader
{
    private readonly SampleLoader loader;
    private readonly long seed;
    private readonly int batchSize;
    private readonly int lookahead;

    public PrefetchingBatchReader(SampleLoader loader, long seed, int batchSize, int lookahead = 4)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(lookahead, 1);
        this.loader = loader;
        this.seed = seed;
        this.batchSize = batchSize;
        this.lookahead = lookahead;
    }

    public int IterationsPerEpoch => (loader.Split.Count + batchSize - 1) / batchSize;

    /// <param name="firstEpoch">1-based epoch to start in.</param>
    /// <param name="iterationsDone">Iterations of <paramref name="firstEpoch"/> already trained (skipped).</param>
    /// <param name="lastEpoch">Last epoch, inclusive.</param>
    /// <remarks>The consumer decides when to stop (cancellation included); abandoned look-ahead just finishes.</remarks>
    public IEnumerable<TrainingBatch> Read(int firstEpoch, int iterationsDone, int lastEpoch)
    {
        var pending = new Queue<Task<TrainingBatch>>();
        using var positions = Positions(firstEpoch, iterationsDone, lastEpoch).GetEnumerator();
        try
        {
            while (true)
            {
                while (pending.Count < lookahead && positions.MoveNext())
                {
                    var (epoch, iteration, indices) = positions.Current;
                    pending.Enqueue(Task.Run(() => LoadBatch(epoch, iteration, indices)));
                }
                if (pending.Count == 0) yield break;
                yield return pending.Dequeue().GetAwaiter().GetResult();
            }
        }
        finally
        {
            // Abandoned look-ahead (cancellation, an error in the consumer): let it finish and observe its faults.
            foreach (var task in pending)
                task.ContinueWith(t => _ = t.Exception, TaskScheduler.Default);
        }
    }

    private IEnumerable<(int Epoch, int Iteration, int[] Indices)> Positions(int firstEpoch, int iterationsDone, int lastEpoch)
    {
        int count = loader.Split.Count;
        for (int epoch = firstEpoch; epoch <= lastEpoch; epoch++)
        {
            var order = SplitMix64.Permutation(count, seed, epoch);
            int start = epoch == firstEpoch ? iterationsDone : 0;
            for (int iteration = start; iteration < IterationsPerEpoch; iteration++)
            {
                int from = iteration * batchSize;
                yield return (epoch, iteration + 1, order[from..Math.Min(from + batchSize, count)]);
            }
        }
    }

    private TrainingBatch LoadBatch(int epoch, int iteration, int[] indices)
    {
        var samples = indices.Select(i => loader.Load(i, loader.DrawJitter(i, seed, epoch))).ToArray();
        return Stack(samples, epoch, iteration);
    }

    /// <summary>Stacks samples of one size into a batch; different sizes (preprocess none/scale_width) need batch size 1.</summary>
    public static TrainingBatch Stack(IReadOnlyList<PairSample> samples, int epoch = 0, int iteration = 0)
    {
        var first = samples[0];
        if (samples.Any(s => s.Height != first.Height || s.Width != first.Width))
            throw new DatasetException($"Images of different sizes cannot share a batch ({string.Join(", ", samples.Select(s => $"{s.Name} {s.Width}×{s.Height}"))}); " +
                "use batch size 1 or a preprocess that crops to one size.", samples[0].Name);
        var input = new float[samples.Sum(s => s.Input.Length)];
        var target = new float[samples.Sum(s => s.Target.Length)];
        int inputOffset = 0, targetOffset = 0;
        foreach (var s in samples)
        {
            s.Input.CopyTo(input, inputOffset);
            s.Target.CopyTo(target, targetOffset);
            inputOffset += s.Input.Length;
            targetOffset += s.Target.Length;
        }
        return new TrainingBatch(epoch, iteration, samples.Select(s => s.Name).ToArray(), input, target,
            [samples.Count, first.InputChannels, first.Height, first.Width],
            [samples.Count, first.OutputChannels, first.Height, first.Width]);
    }
}
