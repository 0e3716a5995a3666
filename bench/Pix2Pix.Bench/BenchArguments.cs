using System.Globalization;

namespace Pix2Pix.Bench;

public sealed record BenchArguments(string Command, Dictionary<string, string> Values)
{
    public static BenchArguments Parse(string[] args)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 1; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal)) continue;
            bool hasValue = i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal);
            values[args[i][2..]] = hasValue ? args[++i] : "true";
        }
        return new BenchArguments(args.Length > 0 ? args[0] : "", values);
    }

    public int Int(string name, int fallback) => Values.TryGetValue(name, out var v) ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;
    public string? String(string name) => Values.GetValueOrDefault(name);
    public bool Flag(string name) => Values.ContainsKey(name);

    /// <summary>A comma-separated option: <c>--batch 1,4,8</c>.</summary>
    public IReadOnlyList<string> List(string name, string fallback) =>
        (String(name) ?? fallback).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    public static int Usage()
    {
        Console.Error.WriteLine("""
            usage: Pix2Pix.Bench <command> [options] [--matmul-max-pixels N (default 64; 0: deep U-Net layers as libtorch convolutions)]
              info                                         parameter counts of the default networks
              train --size 256 --batch 1 --steps 200       trainer vs bare vs reference step time, RSS, GFLOP/s
                    [--data DIR] [--threads N] [--generator unet_256] [--precision auto|fp32|bf16-mixed]
              infer --size 256 [--batch 1,4,8] [--precision float32,bfloat16,auto] [--iterations 20] [--threads N]
                    [--package FILE | --save FILE] [--onnx FILE]
                                                           bare translator per image, each precision and batch; ONNX Runtime
              load --url URL --model ID --key KEY --image FILE [--clients 1:20,8:20,48:20] [--query mode=pad]
                                                           HTTP clients on translate (waiting out Retry-After): codes, p50, p99
              precision --package FILE.safetensors --data SPLIT_DIR [--mode resize|pad]
                                                           bf16 vs fp32 output: mean and max difference in levels
            """);
        return 2;
    }
}
