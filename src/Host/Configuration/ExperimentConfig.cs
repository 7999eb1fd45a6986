using YamlDotNet.RepresentationModel;

namespace BiasBench.Host.Configuration;

public enum StageKind { Data, Generate, Score, Judge, Analyze, Finetune, Report }

/// <summary>A resolved experiment: a named list of stages referencing plugins by name.</summary>
public sealed class ExperimentConfig
{
    public required string FilePath { get; init; }
    public required string Experiment { get; init; }
    public string? Description { get; init; }
    public int Seed { get; init; }
    public string? Device { get; init; }
    public string? CacheDirectory { get; init; }
    public string? RunsDirectory { get; init; }
    public IReadOnlyList<string> PluginPaths { get; init; } = [];
    public required IReadOnlyList<StageConfig> Stages { get; init; }

    /// <summary>The config text after ${ENV} substitution with secrets masked, for the manifest.</summary>
    public string ResolvedYaml { get; init; } = "";

    public string Directory => Path.GetDirectoryName(Path.GetFullPath(FilePath))!;
}

/// <summary>One stage after sweep expansion. <see cref="Options"/> is still YAML: it is bound to the plugin's options type.</summary>
public sealed class StageConfig
{
    public required string Id { get; init; }
    /// <summary>The id written in the config (several expanded stages share it).</summary>
    public required string BaseId { get; init; }
    public required StageKind Kind { get; init; }
    public required IReadOnlyList<string> Plugins { get; init; }
    public required YamlMappingNode Options { get; init; }
    public IReadOnlyList<string> Inputs { get; init; } = [];
    public IReadOnlyDictionary<string, string> SweepValues { get; init; } = new Dictionary<string, string>();
    /// <summary>Score/judge stages: the prompt for images that carry none.</summary>
    public string? DefaultPrompt { get; init; }
    /// <summary>Generate stages: (condition, prompt) pairs; every prompt is generated with every seed.</summary>
    public IReadOnlyList<(string Condition, string Prompt)> Prompts { get; init; } = [];
    public IReadOnlyList<long> Seeds { get; init; } = [];
    /// <summary>Generate stages: what every image should not show (classifier-free guidance's negative prompt).</summary>
    public string? NegativePrompt { get; init; }
    /// <summary>Score stages: score every image against this prompt instead of its own (e.g. the hackathon scored all
    /// prompt conditions against the neutral prompt, so scores are compared within one prompt).</summary>
    public string? ScoringPrompt { get; init; }
    public int? BatchSize { get; init; }
    public required SourceLocation Location { get; init; }
    public SourceLocation PluginLocation { get; init; }
    public SourceLocation OptionsLocation { get; init; }
}
