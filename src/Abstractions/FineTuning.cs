using Microsoft.Extensions.Logging;

namespace BiasBench.Abstractions;

public sealed record FineTuneResult(string CheckpointPath, DataTable TrainingLog)
{
    public IReadOnlyDictionary<string, string> Metadata { get; init; } = new Dictionary<string, string>();

    /// <summary>Further tables for the run (e.g. evaluation metrics), written after <see cref="TrainingLog"/>.</summary>
    public IReadOnlyList<DataTable> Tables { get; init; } = [];

    /// <summary>Figures for the run (e.g. a reliability diagram, learning curves).</summary>
    public IReadOnlyList<Figure> Figures { get; init; } = [];

    /// <summary>Sentences for the report's findings (e.g. the test metrics).</summary>
    public IReadOnlyList<Finding> Findings { get; init; } = [];
}

/// <summary>
/// Fine-tunes a generator against a reward (its generator, rewards and judges are <see cref="ComponentReference{T}"/>
/// options, resolved through <see cref="ComponentContext.Components"/> when it is created). The checkpoint it returns
/// (<see cref="FineTuneResult.CheckpointPath"/>) is the stage's output: later stages load it with
/// <c>model: { from_stage: STAGE_ID }</c>.
/// </summary>
public interface IFineTuner
{
    string Name { get; }

    /// <summary>The original entry point (no work directory). Implement this or the <see cref="FineTuneContext"/>
    /// overload; the host calls the latter, which defaults to this one.</summary>
    Task<FineTuneResult> RunAsync(string outputDirectory, ILogger logger, IProgress<double>? progress, CancellationToken cancellationToken) =>
        throw new NotSupportedException($"Fine-tuner '{Name}' implements neither RunAsync overload.");

    /// <summary>
    /// Trains. Keep training state (checkpoints, the log of finished steps) in <see cref="FineTuneContext.WorkDirectory"/>
    /// and continue from it: it is the same folder whenever the stage's configuration is the same, so a run killed half
    /// way resumes from its last checkpoint, and a re-run of a finished one returns its final checkpoint without
    /// training again.
    /// </summary>
    Task<FineTuneResult> RunAsync(FineTuneContext context, CancellationToken cancellationToken) =>
        RunAsync(context.OutputDirectory, context.Logger, context.Progress, cancellationToken);
}

/// <summary>What a fine-tuning run gets from the host.</summary>
/// <param name="OutputDirectory">This run's folder for the stage (runs/&lt;run&gt;/finetune/&lt;stage&gt;/): files for
/// this run's report.</param>
/// <param name="WorkDirectory">A folder that survives re-runs (under the cache folder, named by the stage id and a
/// hash of the fine-tuner's identity and options, the identities of the components it resolved (name, version,
/// plugin build, weights checksum, options without secrets) and the seed): checkpoints to resume from and the final
/// checkpoint, which may be returned from here.</param>
/// <param name="Seed">The run's seed.</param>
/// <param name="Logger">The run's logger.</param>
/// <param name="Progress">Fraction done, 0 to 1.</param>
public sealed record FineTuneContext(string OutputDirectory, string WorkDirectory, int Seed, ILogger Logger, IProgress<double>? Progress);
