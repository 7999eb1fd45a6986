using TorchSharp;

namespace BiasBench.Training;

/// <summary>
/// Every random draw of a training run comes from a generator derived from the run seed and the draw's coordinates
/// (e.g. epoch and sample index, or step), never from global state: a draw does not depend on thread scheduling or on
/// what ran before in the process, and a resumed run makes exactly the draws the uninterrupted one made.
/// </summary>
public static class Seeding
{
    /// <summary>A 64-bit seed from the run seed and any coordinates (SplitMix64 over the sequence).</summary>
    public static ulong Derive(long seed, params long[] coordinates)
    {
        var state = Mix((ulong)seed ^ 0x9E3779B97F4A7C15UL);
        foreach (var c in coordinates) state = Mix(state ^ Mix((ulong)c + 0xD1B54A32D192ED03UL));
        return state;
    }

    /// <summary>System.Random with a derived seed (the seeded constructor's algorithm is fixed across .NET versions).</summary>
    public static Random Random(long seed, params long[] coordinates) => new((int)(Derive(seed, coordinates) & 0x7FFFFFFF));

    /// <summary>A CPU torch generator with a derived seed.</summary>
    public static torch.Generator Torch(long seed, params long[] coordinates) => new(Derive(seed, coordinates) & 0x7FFFFFFFFFFFFFFFUL);

    /// <summary>A seeded permutation of 0..count-1 (Fisher-Yates).</summary>
    public static int[] Permutation(int count, Random rng)
    {
        var order = Enumerable.Range(0, count).ToArray();
        for (var i = count - 1; i > 0; i--)
        {
            var j = rng.Next(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }

    private static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
