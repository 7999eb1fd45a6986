using Microsoft.Extensions.Logging;

namespace BiasBench.Abstractions;

public sealed record FineTuneResult(string CheckpointPath, DataTable TrainingLog)
{
    public IReadOnlyDictionary<string, string> Metadata { get; init; } = new Dictionary<string, string>();
}

/// <summary>Fine-tunes a generator against a reward; writes checkpoints under the run folder.</summary>
public interface IFineTuner
{
    string Name { get; }
    Task<FineTuneResult> RunAsync(string outputDirectory, ILogger logger, IProgress<double>? progress, CancellationToken cancellationToken);
}
