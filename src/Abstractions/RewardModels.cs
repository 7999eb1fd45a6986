namespace BiasBench.Abstractions;

/// <summary>What a reward model's number means. Analyses use this to refuse or warn about invalid comparisons.</summary>
public sealed record ScoreSemantics(
    string Description,
    bool ComparableAcrossPrompts,
    bool HigherIsBetter = true,
    double? Minimum = null,
    double? Maximum = null);

public sealed record RewardModelInfo(
    string Name,
    string Version,
    ScoreSemantics Semantics,
    string Preprocessing)
{
    /// <summary>SHA-256 (or other stable digest) of the weights, recorded in the run manifest and cache keys.</summary>
    public string? WeightsChecksum { get; init; }
}

/// <summary>One image + prompt pair to score.</summary>
public sealed record RewardRequest(ImageRef Image, string Prompt);

/// <summary>A reward model scores image + prompt pairs.</summary>
public interface IRewardModel : IDisposable
{
    RewardModelInfo Info { get; }

    /// <summary>Preferred batch size (the host batches requests to this size).</summary>
    int PreferredBatchSize => 16;

    /// <summary>
    /// How many batches the host may have in flight on this instance at once (default 1: one after the other). A model
    /// whose <see cref="ScoreAsync"/> is thread-safe and prepares its inputs on the CPU before using its device can allow
    /// 2, so that the next batch is decoded while the device scores this one.
    /// </summary>
    int ConcurrentBatches => 1;

    /// <summary>Scores a batch; the result list has one entry per request, in order.</summary>
    Task<IReadOnlyList<ItemResult<double>>> ScoreAsync(IReadOnlyList<RewardRequest> batch, CancellationToken cancellationToken);
}
