using BiasBench.Abstractions;

namespace BiasBench.Plugins.Analyses.Common;

/// <summary>
/// Which reward columns a table holds and whether their scores can be compared across prompts. Reward models
/// scored in the same run declare this themselves; score tables read from disk (e.g. the hackathon CSVs) only
/// carry column names, so the well-known models are recognised by name.
/// </summary>
public static class RewardSemantics
{
    private static readonly Dictionary<string, (string Display, bool ComparableAcrossPrompts, string Why)> Known =
        new(StringComparer.OrdinalIgnoreCase)
        {
            ["image_reward"] = ("ImageReward", false, "trained on rankings of images generated for the same prompt"),
            ["imagereward"] = ("ImageReward", false, "trained on rankings of images generated for the same prompt"),
            ["pick_score"] = ("PickScore", false, "a text-image similarity trained on within-prompt preferences"),
            ["pickscore"] = ("PickScore", false, "a text-image similarity trained on within-prompt preferences"),
            ["hps"] = ("HPS v2", false, "a text-image cosine trained on within-prompt rankings"),
            ["hpsv2"] = ("HPS v2", false, "a text-image cosine trained on within-prompt rankings"),
            ["hps_v2"] = ("HPS v2", false, "a text-image cosine trained on within-prompt rankings"),
            ["hps_v21"] = ("HPS v2.1", false, "a text-image cosine trained on within-prompt rankings"),
            ["clip_score"] = ("CLIPScore", false, "a text-image similarity, which depends on the prompt's wording"),
            ["clipscore"] = ("CLIPScore", false, "a text-image similarity, which depends on the prompt's wording"),
            ["aesthetic"] = ("LAION aesthetic", true, "an image-only score"),
            ["laion_aesthetic"] = ("LAION aesthetic", true, "an image-only score"),
        };

    public static string DisplayName(string column, AnalysisInputs inputs) =>
        inputs.RewardModels.TryGetValue(column, out var info) ? info.Name
        : Known.TryGetValue(column, out var k) ? k.Display : column;

    /// <summary>Null when nothing is known about the column.</summary>
    public static bool? ComparableAcrossPrompts(string column, AnalysisInputs inputs, IReadOnlyDictionary<string, bool>? overrides, out string why)
    {
        if (overrides is not null && overrides.TryGetValue(column, out var o)) { why = "set in the analysis options"; return o; }
        if (inputs.RewardModels.TryGetValue(column, out var info)) { why = info.Semantics.Description; return info.Semantics.ComparableAcrossPrompts; }
        if (Known.TryGetValue(column, out var k)) { why = k.Why; return k.ComparableAcrossPrompts; }
        why = "unknown model";
        return null;
    }

    public static bool IsKnownReward(string column) => Known.ContainsKey(column);
}
