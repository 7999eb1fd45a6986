using System.ComponentModel.DataAnnotations;
using BiasBench.Statistics;

namespace BiasBench.Plugins.Analyses.AttributeBias;

public sealed class AttributeBiasOptions
{
    /// <summary>Column joining a score table to an attribute table when two inputs are given.</summary>
    [Required] public string IdColumn { get; set; } = "image_id";

    /// <summary>Reward columns. Required unless the score columns are recognised reward models (image_reward, pick_score, hps, ...).</summary>
    public List<string>? Rewards { get; set; }

    /// <summary>Attribute columns (0/1, -1/+1 or continuous ratings). Default: every other numeric column.</summary>
    public List<string>? Attributes { get; set; }

    /// <summary>Attribute whose correlation with each reward is bootstrapped and controlled for covariates. Default: Attractive when present.</summary>
    public string? Target { get; set; }

    /// <summary>Covariate sets for the partial correlations of <see cref="Target"/>; `all` stands for every other attribute.
    /// Default: [Smiling], [Smiling, Male, Young, Heavy_Makeup], [all] (sets naming absent attributes are skipped).</summary>
    public List<List<string>>? CovariateSets { get; set; }

    /// <summary>Grouping column for stratified correlations. Default: Male when present; `none` turns it off.</summary>
    public string? StratifyBy { get; set; }

    /// <summary>Rows with a missing reward, attribute or stratum: error (default) or drop (the count is reported).</summary>
    [RegularExpression("^(error|drop)$", ErrorMessage = "missing must be 'error' or 'drop'.")]
    public string Missing { get; set; } = "error";

    /// <summary>Bootstrap intervals of the target's correlations and of the partial correlations; resamples: 0 turns them off.</summary>
    public AttributeBiasBootstrapOptions Bootstrap { get; set; } = new();

    [Range(0.5, 0.9999)] public double Confidence { get; set; } = 0.95;
}

public sealed class AttributeBiasBootstrapOptions
{
    /// <summary>
    /// Number of resamples (e.g. 2000); 0 (default) disables the bootstrap and Fisher-z intervals are reported instead.
    /// Opt-in because it multiplies the analysis time: each covariate set costs one weighted cross-product matrix per
    /// resample (shared by all rewards), about 4.5 s for 2000 BCa resamples of 4 sets (up to 39 covariates) on 20,000
    /// rows and 2 cores, proportionally more on full CelebA.
    /// </summary>
    [Range(0, 1_000_000)] public int Resamples { get; set; }

    public int Seed { get; set; }

    /// <summary>bca (default) or percentile.</summary>
    public BootstrapMethod Method { get; set; } = BootstrapMethod.Bca;
}
