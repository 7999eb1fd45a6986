using BiasBench.Abstractions;

[assembly: BiasBenchPlugin(typeof(BiasBench.Plugins.Analyses.AnalysesPlugin))]

namespace BiasBench.Plugins.Analyses;

/// <summary>The built-in beauty-bias statistics suite.</summary>
public sealed class AnalysesPlugin : IBiasBenchPlugin
{
    public const string Version = "1.0.0";

    public void Register(IPluginRegistrar registrar)
    {
        registrar.AddAnalysis<PromptCondition.PromptConditionEffectOptions>("prompt-condition-effect", Version,
            "Same seed, prompts differing only in 'attractive'/'unattractive': means by condition, paired t and Wilcoxon per seed pair, Friedman, effect sizes, slope plot.",
            (_, o) => new PromptCondition.PromptConditionEffectAnalysis(o));
    }
}
