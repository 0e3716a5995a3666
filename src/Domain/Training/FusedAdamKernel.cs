using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Pix2Pix.Domain.Runtime;
using static TorchSharp.torch;

namespace Pix2Pix.Domain.Training;

/// <summary>
/// Adam's update in one pass over flat fp32 buffers on the CPU: each element of the values, gradients and moments is
/// read once and written once (TorchSharp's Adam makes about twenty passes over memory). The buffers are cut in
/// chunks small enough for a second pass to find them in cache.
/// <para>Matching TorchSharp, it reproduces its rounding exactly: m·β1 then a fused multiply-add for the gradient
/// (ATen's vectorised add with alpha), v·β2 plus a fused (1−β2)·g·g (its addcmul), the square root from MKL's
/// <c>vsSqrt</c> that ATen calls (not always correctly rounded, so .NET's would differ; a second pass per chunk),
/// then p + (−lr/bc1)·m / (√v/√bc2 + ε) in ATen's order. Otherwise the square root is the CPU's, in the same pass,
/// and a parameter may come with a bf16 copy: its gradient is read from the copy's (bf16, widened exactly) and the
/// new value is written to the copy too, rounded to nearest even as libtorch rounds fp32 to bf16.</para>
/// </summary>
public static unsafe partial class FusedAdamKernel
{
    private const int ChunkElements = 8192;

    /// <summary>β1, 1−β1, β2, 1−β2, √(1−β2^t), ε and −lr/(1−β1^t), as ATen casts them to fp32.</summary>
    public readonly record struct Scalars(float Beta1, float OneMinusBeta1, float Beta2, float OneMinusBeta2,
        float SqrtBiasCorrection2, float Epsilon, float NegativeStepSize);

    /// <summary>A piece of one parameter: its gradient (fp32, or bf16 where it has a copy) and its copy (0: none).</summary>
    private readonly record struct Chunk(long Offset, nint Gradient, nint Copy, int Length);

    /// <param name="gradients">One contiguous tensor per parameter, in the order of the parameters' segments of the flat
    /// buffers: fp32, or bf16 for a parameter with a copy.</param>
    /// <param name="copies">Per parameter, its contiguous bf16 copy or null (all null when <paramref name="matchTorchSharp"/>).</param>
    public static void Update(Tensor values, IReadOnlyList<Tensor> gradients, Tensor averages, Tensor squares, Scalars scalars,
        bool matchTorchSharp, IReadOnlyList<Tensor?> copies)
    {
        var chunks = new List<Chunk>();
        long offset = 0;
        for (int i = 0; i < gradients.Count; i++)
        {
            var (gradient, copy) = (gradients[i], copies[i]);
            if (copy is not null && matchTorchSharp) throw new ArgumentException("bf16 copies go without matchTorchSharp.", nameof(copies));
            var (address, copyAddress, elementSize) = copy is null
                ? ((nint)TensorMemory.Floats(gradient), (nint)0, sizeof(float))
                : ((nint)TensorMemory.BFloat16s(gradient), (nint)TensorMemory.BFloat16s(copy), sizeof(ushort));
            long count = gradient.numel();
            for (long start = 0; start < count; start += ChunkElements)
                chunks.Add(new Chunk(offset + start, address + (nint)(start * elementSize), copyAddress == 0 ? 0 : copyAddress + (nint)(start * sizeof(ushort)),
                    (int)Math.Min(ChunkElements, count - start)));
            offset += count;
        }
        if (offset != values.numel()) throw new ArgumentException("The gradients do not cover the flat buffers.", nameof(gradients));
        var (p, m, v) = ((nint)TensorMemory.Floats(values), (nint)TensorMemory.Floats(averages), (nint)TensorMemory.Floats(squares));
        Parallel.For(0, chunks.Count, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, get_num_threads()) }, index =>
        {
            var chunk = chunks[index];
            float* values = (float*)p + chunk.Offset, gradients = (float*)chunk.Gradient, averages = (float*)m + chunk.Offset, squares = (float*)v + chunk.Offset;
            if (matchTorchSharp)
            {
                float* roots = stackalloc float[ChunkElements];
                UpdateChunkAsTorchSharp(values, gradients, averages, squares, roots, chunk.Length, scalars);
            }
            else
            {
                UpdateChunk(values, (void*)chunk.Gradient, averages, squares, (ushort*)chunk.Copy, chunk.Length, scalars);
            }
        });
    }

    private static void UpdateChunkAsTorchSharp(float* p, float* g, float* m, float* v, float* roots, int length, in Scalars s)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var (beta1, oneMinusBeta1, beta2, oneMinusBeta2) = (Vector512.Create(s.Beta1), Vector512.Create(s.OneMinusBeta1),
                Vector512.Create(s.Beta2), Vector512.Create(s.OneMinusBeta2));
            for (; i <= length - 16; i += 16)
            {
                var gradient = Vector512.Load(g + i);
                Vector512.FusedMultiplyAdd(gradient, oneMinusBeta1, Vector512.Load(m + i) * beta1).Store(m + i);
                Vector512.FusedMultiplyAdd(oneMinusBeta2 * gradient, gradient, Vector512.Load(v + i) * beta2).Store(v + i);
            }
        }
        for (; i < length; i++)
        {
            m[i] = MathF.FusedMultiplyAdd(g[i], s.OneMinusBeta1, m[i] * s.Beta1);
            v[i] = MathF.FusedMultiplyAdd(s.OneMinusBeta2 * g[i], g[i], v[i] * s.Beta2);
        }

        vsSqrt(length, v, roots);

        i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var (sqrtBiasCorrection2, epsilon, negativeStepSize) = (Vector512.Create(s.SqrtBiasCorrection2),
                Vector512.Create(s.Epsilon), Vector512.Create(s.NegativeStepSize));
            for (; i <= length - 16; i += 16)
                (Vector512.Load(p + i) + negativeStepSize * Vector512.Load(m + i) / (Vector512.Load(roots + i) / sqrtBiasCorrection2 + epsilon)).Store(p + i);
        }
        for (; i < length; i++)
            p[i] = p[i] + s.NegativeStepSize * m[i] / (roots[i] / s.SqrtBiasCorrection2 + s.Epsilon);
    }

    /// <summary>
    /// One pass with the CPU's square root. Without a copy the gradient <paramref name="g"/> is fp32; with one it is the
    /// copy's bf16 gradient, and the copy gets the new value rounded to bf16.
    /// </summary>
    private static void UpdateChunk(float* p, void* g, float* m, float* v, ushort* copy, int length, in Scalars s)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var (beta1, oneMinusBeta1, beta2, oneMinusBeta2) = (Vector512.Create(s.Beta1), Vector512.Create(s.OneMinusBeta1),
                Vector512.Create(s.Beta2), Vector512.Create(s.OneMinusBeta2));
            var (sqrtBiasCorrection2, epsilon, negativeStepSize) = (Vector512.Create(s.SqrtBiasCorrection2),
                Vector512.Create(s.Epsilon), Vector512.Create(s.NegativeStepSize));
            for (; i <= length - 16; i += 16)
            {
                var gradient = copy == null ? Vector512.Load((float*)g + i) : Widen(Vector256.Load((ushort*)g + i));
                var average = Vector512.FusedMultiplyAdd(gradient, oneMinusBeta1, Vector512.Load(m + i) * beta1);
                var square = Vector512.FusedMultiplyAdd(oneMinusBeta2 * gradient, gradient, Vector512.Load(v + i) * beta2);
                average.Store(m + i);
                square.Store(v + i);
                var value = Vector512.Load(p + i) + negativeStepSize * average / (Vector512.Sqrt(square) / sqrtBiasCorrection2 + epsilon);
                value.Store(p + i);
                if (copy != null)
                {
                    var rounded = ToBFloat16(value);
                    Vector256.Narrow(rounded.GetLower(), rounded.GetUpper()).Store(copy + i);
                }
            }
        }
        for (; i < length; i++)
        {
            float gradient = copy == null ? ((float*)g)[i] : BitConverter.Int32BitsToSingle(((ushort*)g)[i] << 16);
            m[i] = MathF.FusedMultiplyAdd(gradient, s.OneMinusBeta1, m[i] * s.Beta1);
            v[i] = MathF.FusedMultiplyAdd(s.OneMinusBeta2 * gradient, gradient, v[i] * s.Beta2);
            p[i] = p[i] + s.NegativeStepSize * m[i] / (MathF.Sqrt(v[i]) / s.SqrtBiasCorrection2 + s.Epsilon);
            if (copy != null) copy[i] = ToBFloat16(p[i]);
        }
    }

    /// <summary>16 bf16 values to fp32: exact, the bf16 bits become the high half.</summary>
    private static Vector512<float> Widen(Vector256<ushort> bf16)
    {
        var (lower, upper) = Vector256.Widen(bf16);
        return Vector512.ShiftLeft(Vector512.Create(lower, upper), 16).AsSingle();
    }

    /// <summary>fp32 → bf16 bits, rounded to nearest even as c10::BFloat16 does (NaN → 0x7FC0), in the low 16 bits of each lane.</summary>
    private static Vector512<uint> ToBFloat16(Vector512<float> value)
    {
        var bits = value.AsUInt32();
        var rounded = (bits + Vector512.Create(0x7FFFu) + ((bits >> 16) & Vector512<uint>.One)) >> 16;
        return Vector512.ConditionalSelect(Vector512.Equals(value, value).AsUInt32(), rounded, Vector512.Create(0x7FC0u));
    }

    private static ushort ToBFloat16(float value)
    {
        if (float.IsNaN(value)) return 0x7FC0;
        uint bits = BitConverter.SingleToUInt32Bits(value);
        return (ushort)((bits + 0x7FFFu + ((bits >> 16) & 1)) >> 16);
    }

    // MKL, linked into libtorch_cpu: the square root ATen's sqrt uses for fp32 on the CPU.
    [LibraryImport("libtorch_cpu.so", EntryPoint = "vsSqrt")]
    private static partial void vsSqrt(int length, float* values, float* roots);
}
