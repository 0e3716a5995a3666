using Pix2Pix.Bench;

// One JSON line per measurement on stdout; progress on stderr.
// dotnet run -c Release --project bench/Pix2Pix.Bench -- info | train [...] | infer [...] | precision [...] | load [...]
var arguments = BenchArguments.Parse(args);
return arguments.Command switch
{
    "info" => Benchmarks.Info(arguments),
    "train" => Benchmarks.Train(arguments),
    "infer" => Benchmarks.Infer(arguments),
    "precision" => Benchmarks.PrecisionDifference(arguments),
    "load" => LoadBenchmark.Run(arguments),
    _ => BenchArguments.Usage(),
};
