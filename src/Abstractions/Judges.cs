namespace BiasBench.Abstractions;

public sealed record Judgement(string Label, IReadOnlyDictionary<string, double> Probabilities)
{
    public string? Rationale { get; init; }

    /// <summary>Further numbers, each written as a column of the judge table (e.g. per-dimension expected scores).</summary>
    public IReadOnlyDictionary<string, double> Values { get; init; } = new Dictionary<string, double>();

    /// <summary>Further text, each written as a column of the judge table (e.g. the served model, the prompt, raw log-probabilities).</summary>
    public IReadOnlyDictionary<string, string> Details { get; init; } = new Dictionary<string, string>();
}

public sealed record JudgeInfo(string Name, string Version, IReadOnlyList<string> Labels, string Description)
{
    /// <summary>SHA-256 (or other stable digest) of the weights, or the served model id for hosted APIs; part of the cache key.</summary>
    public string? WeightsChecksum { get; init; }
}

/// <summary>Image in, label and probabilities out (an attractiveness classifier, a real-vs-AI VLM...).</summary>
public interface IJudge : IDisposable
{
    JudgeInfo Info { get; }
    int PreferredBatchSize => 16;
    Task<IReadOnlyList<ItemResult<Judgement>>> JudgeAsync(IReadOnlyList<ImageRef> batch, CancellationToken cancellationToken);
}
