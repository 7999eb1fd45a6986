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

/// <summary>Fine-tunes a generator against a reward; writes checkpoints under the run folder.</summary>
public interface IFineTuner
{
    string Name { get; }
    Task<FineTuneResult> RunAsync(string outputDirectory, ILogger logger, IProgress<double>? progress, CancellationToken cancellationToken);
}
