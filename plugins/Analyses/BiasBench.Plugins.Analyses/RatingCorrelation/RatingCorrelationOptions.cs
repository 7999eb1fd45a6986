using System.ComponentModel.DataAnnotations;
using BiasBench.Statistics;

namespace BiasBench.Plugins.Analyses.RatingCorrelation;

public sealed class RatingCorrelationOptions
{
    /// <summary>Column joining the score table(s) to the rating table when several inputs are given.</summary>
    [Required] public string IdColumn { get; set; } = "image_id";

    /// <summary>The continuous human rating (SCUT-FBP5500: <c>beauty</c>, the mean of 60 raters on a 1-5 scale).</summary>
    [Required] public string Rating { get; set; } = "beauty";

    /// <summary>Reward columns. Default: the reward models scored in this run and recognised reward columns (image_reward, pick_score, hps, ...).</summary>
    public List<string>? Rewards { get; set; }

    /// <summary>Grouping column (SCUT-FBP5500: <c>group</c>, AF/AM/CF/CM). Default: <c>group</c> when present; <c>none</c> turns groups off.</summary>
    public string? GroupColumn { get; set; }

    /// <summary>Rows with a missing rating, reward (e.g. an image that failed to score) or group: error (default) or drop (the count is reported).</summary>
    [RegularExpression("^(error|drop)$", ErrorMessage = "missing must be 'error' or 'drop'.")]
    public string Missing { get; set; } = "error";

    /// <summary>Bootstrap intervals of every correlation (Pearson, Spearman, group-adjusted partial); resamples: 0 turns them off.</summary>
    public RatingCorrelationBootstrapOptions Bootstrap { get; set; } = new();

    [Range(0.5, 0.9999)] public double Confidence { get; set; } = 0.95;
}

public sealed class RatingCorrelationBootstrapOptions
{
    /// <summary>Resamples of the rows (within the scope: all rows, or one group); 0 turns the bootstrap off.</summary>
    [Range(0, 1_000_000)] public int Resamples { get; set; } = 2000;

    public int Seed { get; set; }

    /// <summary>bca (default) or percentile.</summary>
    public BootstrapMethod Method { get; set; } = BootstrapMethod.Bca;
}
