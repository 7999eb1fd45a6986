using BiasBench.Abstractions;
using BiasBench.Host.Configuration;

namespace BiasBench.Host.Runs;

/// <summary>What a finished stage hands to later stages and to the report.</summary>
public sealed partial class StageOutput(StageConfig stage)
{
    public StageConfig Stage { get; } = stage;
    public List<ImageRef> Images { get; } = [];
    /// <summary>The first table is the stage's primary table (what later stages consume).</summary>
    public List<DataTable> Tables { get; } = [];
    public List<Figure> Figures { get; } = [];
    public List<Finding> Findings { get; } = [];
    public List<string> Warnings { get; } = [];
    public Dictionary<string, RewardModelInfo> RewardModels { get; } = new(StringComparer.Ordinal);
    /// <summary>What each expensive component recorded for the manifest (info, failures, items per device worker).</summary>
    public System.Text.Json.Nodes.JsonArray ComponentRecords { get; } = [];
    public List<string> Files { get; } = [];
    public int ItemsComputed { get; set; }
    public int ItemsFromCache { get; set; }
    public int ItemsFailed { get; set; }
    public TimeSpan Duration { get; set; }
    public DataTable? Primary => Tables.Count > 0 ? Tables[0] : null;
}
