namespace BiasBench.Statistics.Tests;

/// <summary>Classifier metrics against independent, deliberately naive computations (no sklearn here).</summary>
public sealed class ClassificationTests
{
    private static (double[] P, int[] Y) Sample(int n, int seed, bool ties)
    {
        var rng = new Random(seed);
        var y = Enumerable.Range(0, n).Select(_ => rng.NextDouble() < 0.4 ? 1 : 0).ToArray();
        var p = y.Select(l => Math.Clamp(0.35 + 0.3 * l + 0.25 * (rng.NextDouble() - 0.5) * 2, 0, 1)).ToArray();
        if (ties) p = p.Select(v => Math.Round(v * 10) / 10).ToArray();
        return (p, y);
    }

    /// <summary>AUC by counting every (positive, negative) pair: 1 if the positive scores higher, 1/2 on a tie.</summary>
    private static double PairCountingAuc(double[] p, int[] y)
    {
        double wins = 0; long pairs = 0;
        for (var i = 0; i < p.Length; i++)
            for (var j = 0; j < p.Length; j++)
                if (y[i] == 1 && y[j] == 0)
                {
                    pairs++;
                    wins += p[i] > p[j] ? 1 : p[i] == p[j] ? 0.5 : 0;
                }
        return wins / pairs;
    }

    [Theory]
    [InlineData(50, 1, false)]
    [InlineData(300, 2, true)]
    [InlineData(7, 3, true)]
    public void Roc_auc_equals_pair_counting(int n, int seed, bool ties)
    {
        var (p, y) = Sample(n, seed, ties);
        Assert.Equal(PairCountingAuc(p, y), Classification.RocAuc(p, y), 12);
    }

    [Fact]
    public void Roc_auc_of_a_single_class_is_nan_and_perfect_ranking_is_one()
    {
        Assert.True(double.IsNaN(Classification.RocAuc([0.1, 0.9], [1, 1])));
        Assert.Equal(1.0, Classification.RocAuc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]));
        Assert.Equal(0.0, Classification.RocAuc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1]));
    }

    [Fact]
    public void Ece_equals_the_bin_by_bin_definition_computed_by_hand()
    {
        // 10 bins; by hand: bin [0.1,0.2): p = 0.1, 0.15 -> mean 0.125, labels 0, 1 -> 0.5 -> |0.5-0.125| * 2/6
        // bin [0.7,0.8): p = 0.7 -> 0.7, label 1 -> |1-0.7| * 1/6 ; bin [0.9,1.0]: p = 0.9, 0.95, 1.0 -> mean 0.95, labels 1,1,0
        double[] p = [0.1, 0.15, 0.7, 0.9, 0.95, 1.0];
        int[] y = [0, 1, 1, 1, 1, 0];
        var expected = 2.0 / 6 * Math.Abs(0.5 - 0.125) + 1.0 / 6 * Math.Abs(1 - 0.7) + 3.0 / 6 * Math.Abs(2.0 / 3 - 0.95);
        Assert.Equal(expected, Classification.ExpectedCalibrationError(p, y, bins: 10), 12);
        var bins = Classification.Reliability(p, y, 10);
        Assert.Equal(10, bins.Count);
        Assert.Equal(3, bins[9].Count);
        Assert.True(double.IsNaN(bins[0].MeanProbability));
    }

    [Fact]
    public void Ece_of_random_data_matches_a_naive_loop()
    {
        var (p, y) = Sample(500, 4, ties: false);
        double naive = 0;
        for (var b = 0; b < 15; b++)
        {
            var members = Enumerable.Range(0, p.Length).Where(i => Math.Min((int)Math.Floor(p[i] * 15), 14) == b).ToList();
            if (members.Count == 0) continue;
            naive += (double)members.Count / p.Length * Math.Abs(members.Average(i => (double)y[i]) - members.Average(i => p[i]));
        }
        Assert.Equal(naive, Classification.ExpectedCalibrationError(p, y), 12);
    }

    [Fact]
    public void Confusion_matrix_and_rates_follow_their_definitions()
    {
        double[] p = [0.9, 0.6, 0.4, 0.2, 0.7, 0.1];
        int[] y = [1, 0, 1, 0, 1, 0];
        var c = Classification.Confusion(p, y, 0.5);
        Assert.Equal(new ConfusionMatrix(2, 1, 2, 1), c);
        Assert.Equal(4.0 / 6, c.Accuracy, 12);
        Assert.Equal((2.0 / 3 + 2.0 / 3) / 2, c.BalancedAccuracy, 12);
        Assert.Equal(2.0 / 3, c.Precision, 12);
        Assert.Equal(2.0 / 3, c.F1, 12);
        Assert.Equal(-(Math.Log(0.9) + Math.Log(0.4) + Math.Log(0.4) + Math.Log(0.8) + Math.Log(0.7) + Math.Log(0.9)) / 6, Classification.LogLoss(p, y), 12);
    }

    [Fact]
    public void Chosen_threshold_maximises_balanced_accuracy_on_the_validation_set()
    {
        var (p, y) = Sample(200, 5, ties: false);
        var t = Classification.ChooseThreshold(p, y);
        var best = Classification.Confusion(p, y, t).BalancedAccuracy;
        foreach (var candidate in p)
            Assert.True(Classification.Confusion(p, y, candidate).BalancedAccuracy <= best + 1e-12);
        // Perfect separation: many thresholds tie, the one nearest 0.5 wins.
        Assert.Equal(0.5, Classification.ChooseThreshold([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]));
    }
}
