namespace Pix2Pix.Domain.Data;

/// <summary>
/// Counter-based randomness (Steele et al.'s SplitMix64 finalizer): a draw is a pure function of (seed, epoch, index),
/// so data order and jitter need no saved state to resume exactly, and loader threads can draw in any order.
/// Written here because System.Random can neither export its state nor be keyed like this.
/// </summary>
public static class SplitMix64
{
    public static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public static ulong Hash(long seed, long a, long b = 0, long c = 0) =>
        Mix(Mix(Mix(Mix((ulong)seed) ^ (ulong)a) ^ (ulong)b) ^ (ulong)c);

    /// <summary>A value in [0, exclusiveMax) from a hash (modulo bias is negligible for image-sized ranges).</summary>
    public static int Below(ulong hash, int exclusiveMax) => exclusiveMax <= 1 ? 0 : (int)(hash % (ulong)exclusiveMax);

    /// <summary>The order in which an epoch visits the samples: a Fisher-Yates shuffle keyed by (seed, epoch).</summary>
    public static int[] Permutation(int count, long seed, long epoch)
    {
        var order = Enumerable.Range(0, count).ToArray();
        for (int i = count - 1; i > 0; i--)
        {
            int j = Below(Hash(seed, epoch, i, 0x5eed), i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }
}
