using System.ComponentModel.DataAnnotations;

namespace BiasBench.Plugins.Analyses.PromptCondition;

public sealed class PromptConditionEffectOptions
{
    /// <summary>Text column naming the prompt variant of each row (e.g. unattractive / normal / attractive).</summary>
    [Required] public string ConditionColumn { get; set; } = "condition";

    /// <summary>Column identifying the pair (same seed, different prompt variant).</summary>
    [Required] public string PairColumn { get; set; } = "seed";

    /// <summary>Conditions from least to most attractive. Default: ordered by <see cref="LevelColumn"/>, else
    /// the hackathon's unattractive, normal, attractive.</summary>
    public List<string>? Conditions { get; set; }

    /// <summary>Numeric prompt-attractiveness level correlated with each reward (default the hackathon's
    /// 0/1/2 `attractiveness`; when absent, the position in <see cref="Conditions"/>).</summary>
    public string LevelColumn { get; set; } = "attractiveness";

    /// <summary>Reward columns to analyse. Default: every numeric column except the pair and level columns.</summary>
    public List<string>? Rewards { get; set; }

    /// <summary>Column that splits rows into groups analysed separately (e.g. generator); input tables are always separate groups.</summary>
    public string GroupColumn { get; set; } = "generator";

    /// <summary>Column holding the prompt each image was SCORED with. When every pair was scored with one shared
    /// prompt, scores are compared within a prompt and no comparability warning is needed.</summary>
    public string PromptColumn { get; set; } = "prompt";

    /// <summary>Overrides, per reward column, of whether its scores can be compared across different prompts.</summary>
    public Dictionary<string, bool>? ComparableAcrossPrompts { get; set; }

    /// <summary>What to do with pairs missing a condition or a score: drop (reported) or error.</summary>
    [RegularExpression("^(drop|error)$", ErrorMessage = "incomplete_pairs must be 'drop' or 'error'.")]
    public string IncompletePairs { get; set; } = "drop";

    [Range(0.5, 0.9999)] public double Confidence { get; set; } = 0.95;
}
