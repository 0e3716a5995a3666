using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using DenseTensor = Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<float>;
using Pix2Pix.Domain.Data;
using Pix2Pix.Domain.Inference;
using Pix2Pix.Domain.Networks;
using Pix2Pix.Domain.Runtime;
using Pix2Pix.Domain.Training;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Processing;
using SixLabors.ImageSharp.PixelFormats;
using static TorchSharp.torch;

namespace Pix2Pix.Bench;

public static class Benchmarks
{
    public static int Info(BenchArguments arguments)
    {
        var options = new NetworkOptions();
        using var generator = NetworkFactory.CreateGenerator(options);
        using var discriminator = NetworkFactory.CreateDiscriminator(options);
        Emit(new { command = "info", generator = options.Generator, discriminator = options.Discriminator,
            params_G = NetworkFactory.CountParameters(generator), params_D = NetworkFactory.CountParameters(discriminator) });
        return 0;
    }

    /// <summary>
    /// Trainer: Pix2PixTrainer on an aligned dataset read from disk through the prefetching pipeline, timed per
    /// iteration as the trainer reports it (data wait included), in <c>--precision</c> (default auto). Bare: the same
    /// model stepping on one batch already in memory. Reference: the plain TorchSharp loop (fp32, torch.optim.Adam),
    /// the yardstick for the speed targets. All in one process, bare and reference halves before and after the trainer.
    /// </summary>
    public static int Train(BenchArguments arguments)
    {
        int size = arguments.Int("size", 256), batch = arguments.Int("batch", 1), steps = arguments.Int("steps", 200);
        int threads = arguments.Int("threads", 0);
        if (threads > 0) set_num_threads(threads);
        string allocator = NativeMemory.EnsureConfigured();
        var requested = Enum.Parse<TrainingPrecision>((arguments.String("precision") ?? "auto").Replace("-", ""), ignoreCase: true);
        var precision = TrainingPrecisions.Resolve(requested, CPU);
        var options = new TrainingRecipe
        {
            Generator = arguments.String("generator") ?? "unet_256",
            CropSize = size,
            LoadSize = size + size / 8 + (size >= 256 ? 0 : 2), // 286 for 256, as the paper
            BatchSize = batch,
            Epochs = 1000,
            DecayEpochs = 0,
            SnapshotEvery = 100_000,
            CheckpointEvery = int.MaxValue,
            Seed = 1,
            Precision = precision,
        };
        if (size == 256) options = options with { LoadSize = 286 };
        string dataDirectory = arguments.String("data") ?? SyntheticAlignedSet(size, count: 64);
        var split = DatasetSplit.Open(dataDirectory);
        Log($"train: {split.Count} images from {dataDirectory}, {steps} steps, batch {batch}, {size}², {precision}, allocator {allocator}");

        // Bare and reference halves before and after the trainer, so slow drifts of a shared machine hit all sides alike.
        int bareSteps = Math.Max(4, Math.Min(steps, 40) / 2);
        var reference = ReferenceSteps(options, size, batch, bareSteps);
        var bare = BareSteps(options, size, batch, bareSteps);
        var stepSeconds = new List<double>();
        double rssAtStep20 = 0;
        var observer = new StepRecorder(steps, progress =>
        {
            if (progress.GlobalIteration > 3) stepSeconds.Add(batch / progress.ImagesPerSecond);
            if (progress.GlobalIteration == 20) rssAtStep20 = NativeMemory.ResidentBytes() / 1048576.0;
            if (progress.GlobalIteration % 20 == 0) Log($"  trainer step {progress.GlobalIteration}: {batch / progress.ImagesPerSecond:F3} s, RSS {NativeMemory.ResidentBytes() / 1048576.0:F0} MB");
        });
        var work = Directory.CreateTempSubdirectory("pix2pix-bench-");
        try
        {
            new Pix2PixTrainer(options, new TrainingRuntime(), DatasetRoot.Of(split), work.FullName, observer).Run();
        }
        catch (StepRecorder.Done)
        {
        }
        double rssEnd = NativeMemory.ResidentBytes() / 1048576.0;
        work.Delete(recursive: true);

        bare.AddRange(BareSteps(options, size, batch, bareSteps));
        reference.AddRange(ReferenceSteps(options, size, batch, bareSteps));
        double trainerMedian = Median(stepSeconds), bareMedian = Median(bare), referenceMedian = Median(reference);
        double gflop = TrainingStepGflop(options.Network, size, batch);
        Emit(new
        {
            command = "train", size, generator = options.Generator, batch, steps, precision = PrecisionName(precision),
            threads = get_num_threads(), allocator,
            step_s_median = Math.Round(trainerMedian, 4), bare_step_s_median = Math.Round(bareMedian, 4),
            reference_step_s_median = Math.Round(referenceMedian, 4),
            ratio = Math.Round(bareMedian / trainerMedian, 3), vs_reference = Math.Round(trainerMedian / referenceMedian, 3),
            rss_mb_step20 = Math.Round(rssAtStep20), rss_mb_end = Math.Round(rssEnd),
            gflop_per_step = Math.Round(gflop, 1), gflops_per_s = Math.Round(gflop / trainerMedian, 1),
        });
        return 0;
    }

    internal static string PrecisionName(TrainingPrecision precision) =>
        JsonSerializer.Serialize(precision, TrainingRecipe.Json).Trim('"');

    /// <summary>
    /// The bare translator, no HTTP: <see cref="Pix2PixTranslator.TranslateBatch"/> (prepare, forward, finish) and its
    /// forward alone, for every <c>--precision</c> and <c>--batch</c> (comma lists), all in this process. With
    /// <c>--onnx FILE</c> (the same package exported by <c>bench/onnx/export_onnx.py</c>) also ONNX Runtime's forward
    /// on the same input, and how far its output is from libtorch's fp32 one. The package is <c>--package FILE</c> or a
    /// randomly initialised one, which <c>--save FILE</c> writes (to import into the service for <c>load</c>).
    /// </summary>
    public static int Infer(BenchArguments arguments)
    {
        int size = arguments.Int("size", 256), iterations = arguments.Int("iterations", 20);
        if (arguments.Int("threads", 0) is > 0 and var threads) set_num_threads(threads);
        var precisions = arguments.List("precision", "float32,bfloat16,auto").Select(p => Enum.Parse<InferencePrecision>(p, ignoreCase: true)).ToList();
        var batches = arguments.List("batch", "1,4,8").Select(b => int.Parse(b, CultureInfo.InvariantCulture)).ToList();
        var package = arguments.String("package") is { } packagePath ? File.ReadAllBytes(packagePath) : RandomPackage(size);
        if (arguments.String("save") is { } savePath) File.WriteAllBytes(savePath, package);
        using var image = NoiseImage(size, size);
        float[]? fp32Output = null;

        foreach (var precision in precisions)
        {
            using var translator = Pix2PixTranslator.Load(new MemoryStream(package), new TranslatorOptions { Precision = precision });
            var prepared = translator.Prepare(image, FitMode.Pad);
            if (translator.Precision == InferencePrecision.Float32) fp32Output ??= translator.Forward([prepared])[0];
            foreach (int batch in batches)
            {
                var images = Enumerable.Repeat(image, batch).ToList();
                var inputs = Enumerable.Repeat(prepared, batch).ToList();
                double whole = MedianMilliseconds(iterations, () => { foreach (var output in translator.TranslateBatch(images, FitMode.Pad)) output.Dispose(); });
                double forward = MedianMilliseconds(iterations, () => translator.Forward(inputs));
                Emit(new { command = "infer", engine = "libtorch", size, batch, precision = translator.Precision.ToString(), threads = get_num_threads(),
                    ms_per_image = Math.Round(whole / batch, 2), forward_ms_per_image = Math.Round(forward / batch, 2), allocator = NativeMemory.EnsureConfigured() });
            }
        }

        if (arguments.String("onnx") is { } onnxPath)
        {
            using var translator = Pix2PixTranslator.Load(new MemoryStream(package), new TranslatorOptions { Precision = InferencePrecision.Float32 });
            var prepared = translator.Prepare(image, FitMode.Pad);
            fp32Output ??= translator.Forward([prepared])[0];
            using var sessionOptions = new SessionOptions
            {
                IntraOpNumThreads = get_num_threads(), InterOpNumThreads = 1, ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
                GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            };
            using var session = new InferenceSession(onnxPath, sessionOptions);
            foreach (int batch in batches)
            {
                var data = Enumerable.Repeat(prepared.Data, batch).SelectMany(d => d).ToArray();
                var input = new[] { NamedOnnxValue.CreateFromTensor("input", new DenseTensor(data, [batch, translator.Manifest.InputChannels, size, size])) };
                float maxDifference = 0;
                using (var results = session.Run(input))
                {
                    var output = results[0].AsEnumerable<float>().Take(fp32Output.Length).ToArray();
                    for (int i = 0; i < output.Length; i++) maxDifference = Math.Max(maxDifference, Math.Abs(output[i] - fp32Output[i]));
                }
                double forward = MedianMilliseconds(iterations, () => session.Run(input).Dispose());
                Emit(new { command = "infer", engine = "onnxruntime", size, batch, precision = "Float32", threads = get_num_threads(),
                    forward_ms_per_image = Math.Round(forward / batch, 2), max_abs_levels_vs_libtorch_fp32 = Math.Round(maxDifference * 127.5, 3) });
            }
        }
        return 0;
    }

    private static byte[] RandomPackage(int size)
    {
        var manifest = new ModelManifest { TrainingWidth = size, TrainingHeight = size };
        random.manual_seed(1);
        using var package = new MemoryStream();
        using (var generator = NetworkFactory.CreateGenerator(manifest.ToNetworkOptions()))
            ModelPackage.Save(generator, manifest, package);
        return package.ToArray();
    }

    /// <summary>Random pixels (seeded): every output pixel depends on the weights, unlike a flat colour.</summary>
    private static Image<Rgb24> NoiseImage(int width, int height)
    {
        var noise = new Random(1);
        var image = new Image<Rgb24>(width, height);
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                image[x, y] = new Rgb24((byte)noise.Next(256), (byte)noise.Next(256), (byte)noise.Next(256));
        return image;
    }

    /// <summary>The median of <paramref name="iterations"/> timed calls, after three untimed ones.</summary>
    private static double MedianMilliseconds(int iterations, Action action)
    {
        var times = new List<double>();
        for (int i = 0; i < iterations + 3; i++)
        {
            var clock = Stopwatch.StartNew();
            action();
            if (i >= 3) times.Add(clock.Elapsed.TotalMilliseconds);
        }
        return Median(times);
    }

    /// <summary>
    /// How far bf16 inference is from fp32 for a model package on a split of aligned or paired images: mean and maximum
    /// absolute difference of the output pixels, in 0–255 levels, over every image of the split.
    /// </summary>
    public static int PrecisionDifference(BenchArguments arguments)
    {
        var packagePath = arguments.String("package") ?? throw new ArgumentException("--package FILE.safetensors is required");
        var split = DatasetSplit.Open(arguments.String("data") ?? throw new ArgumentException("--data DIR (a split: train/, val/...) is required"));
        var mode = Enum.Parse<FitMode>(arguments.String("mode") ?? "Resize", ignoreCase: true);
        using var fp32 = Pix2PixTranslator.Load(packagePath, new TranslatorOptions { Precision = InferencePrecision.Float32 });
        using var bf16 = Pix2PixTranslator.Load(packagePath, new TranslatorOptions { Precision = InferencePrecision.BFloat16 });
        double sum = 0;
        long count = 0;
        int max = 0;
        for (int i = 0; i < split.Count; i++)
        {
            using var input = InputImage(split.Pairs[i], fp32.Manifest.Direction);
            using var a = fp32.Translate(input, mode);
            using var b = bf16.Translate(input, mode);
            for (int y = 0; y < a.Height; y++)
                for (int x = 0; x < a.Width; x++)
                {
                    var (p, q) = (a[x, y], b[x, y]);
                    foreach (var d in new[] { Math.Abs(p.R - q.R), Math.Abs(p.G - q.G), Math.Abs(p.B - q.B) })
                    {
                        sum += d;
                        max = Math.Max(max, d);
                        count++;
                    }
                }
        }
        Emit(new { command = "precision", package = Path.GetFileName(packagePath), generator = fp32.Manifest.Generator, images = split.Count,
            mode = mode.ToString().ToLowerInvariant(), mean_abs_levels = Math.Round(sum / count, 3), max_abs_levels = max });
        return 0;
    }

    /// <summary>The input half of a pair: the left or right half of an aligned image, or the A or B file.</summary>
    private static Image<Rgb24> InputImage(ImagePairFile pair, Direction direction)
    {
        if (!pair.IsAligned) return Image.Load<Rgb24>(direction == Direction.AtoB ? pair.PathA : pair.PathB!);
        var whole = Image.Load<Rgb24>(pair.PathA);
        int half = whole.Width / 2;
        whole.Mutate(c => c.Crop(new Rectangle(direction == Direction.AtoB ? 0 : half, 0, half, whole.Height)));
        return whole;
    }

    private static List<double> BareSteps(TrainingRecipe options, int size, int batch, int steps)
    {
        random.manual_seed(2);
        using var model = new Pix2PixModel(options, CPU, options.Precision);
        var seconds = TimeSteps(size, batch, steps, (input, target) => model.TrainStep(input, target));
        Log($"bare ({options.Precision}): median {Median(seconds):F3} s over {steps} steps");
        return seconds;
    }

    private static List<double> ReferenceSteps(TrainingRecipe options, int size, int batch, int steps)
    {
        random.manual_seed(2);
        using var loop = new ReferenceLoop(options);
        var seconds = TimeSteps(size, batch, steps, loop.Step);
        Log($"reference (fp32, torch.optim.Adam): median {Median(seconds):F3} s over {steps} steps");
        return seconds;
    }

    private static List<double> TimeSteps(int size, int batch, int steps, Action<Tensor, Tensor> step)
    {
        using var input = rand(batch, 3, size, size) * 2 - 1;
        using var target = rand(batch, 3, size, size) * 2 - 1;
        var seconds = new List<double>();
        for (int i = 0; i < steps + 3; i++)
        {
            var clock = Stopwatch.StartNew();
            step(input, target);
            if (i >= 3) seconds.Add(clock.Elapsed.TotalSeconds);
        }
        return seconds;
    }

    /// <summary>
    /// Multiply-adds ×2 of one step: G forward once and backward (≈2× forward); D forward three times (fake for D,
    /// real, fake for G), backward twice for its own update (≈2× forward each) and once more for G's gradient.
    /// </summary>
    private static double TrainingStepGflop(NetworkOptions network, int size, int batch)
    {
        double generator = ForwardFlops(NetworkFactory.CreateGenerator(network), [batch, network.InputChannels, size, size]);
        double discriminator = ForwardFlops(NetworkFactory.CreateDiscriminator(network), [batch, network.InputChannels + network.OutputChannels, size, size]);
        return (3 * generator + 8 * discriminator) / 1e9;
    }

    private static double ForwardFlops(nn.Module<Tensor, Tensor> network, long[] shape)
    {
        double flops = 0;
        foreach (var module in network.modules().OfType<nn.Module<Tensor, Tensor>>())
        {
            var weight = module.named_parameters(recurse: false).FirstOrDefault(p => p.name == "weight").parameter;
            if (weight is null || weight.dim() != 4) continue;
            bool transposed = module is TorchSharp.Modules.ConvTranspose2d or StridedTransposedConvolution;
            module.register_forward_hook((_, input, output) =>
            {
                var positions = transposed ? input.numel() / input.shape[1] : output.numel() / output.shape[1];
                flops += 2.0 * positions * weight.numel();
                return output;
            });
        }
        using (no_grad())
        using (var input = zeros(shape))
            network.forward(input).Dispose();
        network.Dispose();
        return flops;
    }

    private static string SyntheticAlignedSet(int size, int count)
    {
        var directory = Directory.CreateTempSubdirectory("pix2pix-bench-data-").FullName;
        var random = new Random(1);
        for (int i = 0; i < count; i++)
        {
            using var image = new Image<Rgb24>(2 * size, size);
            image.ProcessPixelRows(rows =>
            {
                for (int y = 0; y < rows.Height; y++)
                {
                    var row = rows.GetRowSpan(y);
                    for (int x = 0; x < row.Length; x++)
                        row[x] = new Rgb24((byte)(x * 7 + i), (byte)(y * 3 + random.Next(8)), (byte)((x ^ y) + i));
                }
            });
            image.SaveAsJpeg(Path.Combine(directory, $"{i:D3}.jpg"));
        }
        return directory;
    }

    private static double Median(List<double> values)
    {
        if (values.Count == 0) return double.NaN;
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }

    internal static void Emit(object measurement) => Console.WriteLine(JsonSerializer.Serialize(measurement));

    private static void Log(string message) => Console.Error.WriteLine(message.ToString(CultureInfo.InvariantCulture));

    private sealed class StepRecorder(int steps, Action<IterationProgress> onStep) : ITrainingObserver
    {
        public sealed class Done : Exception;

        public void OnIteration(IterationProgress progress)
        {
            onStep(progress);
            if (progress.GlobalIteration >= steps + 3) throw new Done();
        }
    }
}
