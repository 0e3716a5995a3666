using Pix2Pix.Bench;

// One JSON line per measurement on stdout; progress on stderr.
// dotnet run -c Release --project bench/Pix2Pix.Bench -- info | train [...] | infer [...] | precision [...] | load [...]
var arguments = BenchArguments.Parse(args);
// --matmul-max-pixels 0 runs the U-Net's deep layers as libtorch convolutions, for a before/after comparison.
if (arguments.Int("matmul-max-pixels", -1) is >= 0 and var matmulPixels) Pix2Pix.Domain.Networks.MatmulConvolutions.MaxInputPixels = matmulPixels;
return arguments.Command switch
{
    "info" => Benchmarks.Info(arguments),
    "train" => Benchmarks.Train(arguments),
    "infer" => Benchmarks.Infer(arguments),
    "precision" => Benchmarks.PrecisionDifference(arguments),
    "load" => LoadBenchmark.Run(arguments),
    "profile" => StepProfile.Run(arguments),
    _ => BenchArguments.Usage(),
};
