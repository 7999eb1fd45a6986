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
        registrar.AddAnalysis<AttributeBias.AttributeBiasOptions>("attribute-bias", Version,
            "Scores joined to face attributes (CelebA, SCUT): Pearson/Spearman with BH q and Cohen's d per reward x attribute, partial correlations of the target attribute given covariate sets, OLS with HC3, stratified correlations, bootstrap CIs.",
            (_, o) => new AttributeBias.AttributeBiasAnalysis(o));
        registrar.AddAnalysis<ProportionShift.ProportionShiftOptions>("proportion-shift", Version,
            "Share of items with a property before vs after (e.g. judged attractive before/after fine-tuning): two-proportion z, Wilson and Newcombe intervals.",
            (_, o) => new ProportionShift.ProportionShiftAnalysis(o));
        registrar.AddAnalysis<JudgeBias.JudgeBiasOptions>("judge-bias", Version,
            "Logistic regression of a judge's binary verdict on attractiveness and covariates: coefficients, SEs, p-values, odds ratios with CIs.",
            (_, o) => new JudgeBias.JudgeBiasAnalysis(o));
        registrar.AddAnalysis<RatingCorrelation.RatingCorrelationOptions>(RatingCorrelation.RatingCorrelationAnalysis.AnalysisName, Version,
            "A continuous human rating (e.g. SCUT-FBP5500 beauty) against each reward: Pearson/Spearman with Fisher-z and bootstrap intervals per group and pooled, group-adjusted partial r, Fisher z tests between groups, HC3 slope, scatter grid.",
            (_, o) => new RatingCorrelation.RatingCorrelationAnalysis(o));
        registrar.AddAnalysis<DatasetSummary.DatasetSummaryOptions>("dataset-summary", Version,
            "Group means, one-way ANOVA F and Kruskal-Wallis H (e.g. SCUT-FBP5500 by AF/AM/CF/CM).",
            (_, o) => new DatasetSummary.DatasetSummaryAnalysis(o));
    }
}
