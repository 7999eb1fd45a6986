using System.ComponentModel.DataAnnotations;
using BiasBench.Abstractions;

[assembly: BiasBenchPlugin(typeof(BiasBench.Samples.EntropyReward.EntropyRewardPlugin))]

namespace BiasBench.Samples.EntropyReward;

/// <summary>
/// Sample third-party plugin: shows the whole plugin surface (entry point, options with validation, per-item errors)
/// with a deliberately simple reward that needs no model weights.
/// </summary>
public sealed class EntropyRewardPlugin : IBiasBenchPlugin
{
    public void Register(IPluginRegistrar registrar) =>
        registrar.AddRewardModel<EntropyRewardOptions>("byte-entropy", "1.2.0",
            "Shannon entropy of the encoded image file in bits per byte: a crude compressibility/detail proxy, not a human-preference model.",
            (_, options) => new EntropyRewardModel(options));
}

public sealed class EntropyRewardOptions
{
    /// <summary>Files smaller than this are reported as errors (e.g. to reject empty or truncated downloads).</summary>
    [Range(0, int.MaxValue)]
    public int MinimumBytes { get; set; } = 1;

    /// <summary>Artificial per-item latency, to demonstrate progress display and resuming of long runs.</summary>
    [Range(0, 60_000)]
    public int DelayMs { get; set; }
}

public sealed class EntropyRewardModel(EntropyRewardOptions options) : IRewardModel
{
    public RewardModelInfo Info { get; } = new("byte-entropy", "1.2.0",
        new ScoreSemantics("bits per byte of the encoded file (0-8)", ComparableAcrossPrompts: true, Minimum: 0, Maximum: 8),
        "none (encoded bytes)");

    public int PreferredBatchSize => 4;

    public async Task<IReadOnlyList<ItemResult<double>>> ScoreAsync(IReadOnlyList<RewardRequest> batch, CancellationToken cancellationToken)
    {
        var results = new List<ItemResult<double>>(batch.Count);
        foreach (var request in batch)
        {
            if (options.DelayMs > 0) await Task.Delay(options.DelayMs, cancellationToken);
            var bytes = await request.Image.ReadBytesAsync(cancellationToken);
            results.Add(bytes.Length < Math.Max(1, options.MinimumBytes)
                ? ItemResult<double>.Failure($"{request.Image}: {bytes.Length} bytes is below minimum_bytes={options.MinimumBytes}")
                : ItemResult<double>.Success(Entropy(bytes.Span)));
        }
        return results;
    }

    public static double Entropy(ReadOnlySpan<byte> data)
    {
        Span<long> counts = stackalloc long[256];
        foreach (var b in data) counts[b]++;
        double h = 0;
        foreach (var c in counts)
        {
            if (c == 0) continue;
            var p = (double)c / data.Length;
            h -= p * Math.Log2(p);
        }
        return h;
    }

    public void Dispose() { }
}
