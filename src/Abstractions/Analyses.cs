using Microsoft.Extensions.Logging;

namespace BiasBench.Abstractions;

/// <summary>A rendered figure: PNG for reports, SVG for papers.</summary>
public sealed record Figure(string Name, string Caption, byte[] Png, string? Svg);

/// <summary>A sentence written from the numbers, for the report's findings section.</summary>
public sealed record Finding(string Text, string? Detail = null);

public sealed class AnalysisInputs
{
    public AnalysisInputs(IReadOnlyDictionary<string, DataTable> tables, IReadOnlyDictionary<string, RewardModelInfo>? rewardModels = null)
    {
        Tables = tables;
        RewardModels = rewardModels ?? new Dictionary<string, RewardModelInfo>();
    }

    /// <summary>Input tables by the id of the stage that produced them.</summary>
    public IReadOnlyDictionary<string, DataTable> Tables { get; }

    /// <summary>Semantics of the reward models whose scores appear in the tables, by column or model name.</summary>
    public IReadOnlyDictionary<string, RewardModelInfo> RewardModels { get; }

    public DataTable Single(string analysisName)
    {
        if (Tables.Count != 1)
            throw new InvalidOperationException($"Analysis '{analysisName}' takes exactly one input table, got {Tables.Count} ({string.Join(", ", Tables.Keys)}).");
        return Tables.Values.First();
    }
}

public sealed class AnalysisResult
{
    public List<DataTable> Tables { get; } = [];
    public List<Figure> Figures { get; } = [];
    public List<Finding> Findings { get; } = [];
    public List<string> Warnings { get; } = [];
}

/// <summary>Tables in; tables, figures, findings and warnings out.</summary>
public interface IAnalysis
{
    string Name { get; }
    Task<AnalysisResult> RunAsync(AnalysisInputs inputs, ILogger logger, CancellationToken cancellationToken);
}
