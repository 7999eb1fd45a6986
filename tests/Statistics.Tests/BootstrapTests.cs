namespace BiasBench.Statistics.Tests;

public class BootstrapTests
{
    private static (double[] X, double[] Y, double[] Z) Sample(int n, int seed, double rho)
    {
        var rng = new Random(seed);
        var x = new double[n];
        var y = new double[n];
        var z = new double[n];
        for (int i = 0; i < n; i++)
        {
            double a = Normal(rng), b = Normal(rng);
            z[i] = Normal(rng);
            x[i] = a + z[i];
            y[i] = rho * a + Math.Sqrt(1 - rho * rho) * b + z[i];
        }
        return (x, y, z);
    }

    private static double Normal(Random rng) => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

    [Theory]
    [InlineData(BootstrapMethod.Percentile)]
    [InlineData(BootstrapMethod.Bca)]
    public void SameSeedGivesSameIntervalAndTheIntervalBracketsTheEstimate(BootstrapMethod method)
    {
        var (x, y, _) = Sample(300, 1, 0.5);
        var first = Bootstrap.CorrelationCi(x, y, CorrelationMethod.Pearson, method, resamples: 500, seed: 42);
        var again = Bootstrap.CorrelationCi(x, y, CorrelationMethod.Pearson, method, resamples: 500, seed: 42);
        var other = Bootstrap.CorrelationCi(x, y, CorrelationMethod.Pearson, method, resamples: 500, seed: 43);
        Assert.Equal(first, again);
        Assert.NotEqual(first.Lower, other.Lower);
        Assert.Equal(Correlation.Pearson(x, y).R, first.Estimate, 12);
        Assert.True(first.Lower < first.Estimate && first.Estimate < first.Upper);
        Assert.Equal(method == BootstrapMethod.Bca, first.Acceleration is not null);
    }

    [Fact]
    public void PercentileIntervalWidthMatchesFisherZApproximation()
    {
        // For bivariate normal data, the 95% CI of r is about tanh(atanh r +- 1.96 / sqrt(n - 3)).
        var (x, y, _) = Sample(2000, 7, 0.5);
        var ci = Bootstrap.CorrelationCi(x, y, CorrelationMethod.Pearson, BootstrapMethod.Percentile, resamples: 1000, seed: 1);
        double r = ci.Estimate;
        double lower = Math.Tanh(Math.Atanh(r) - 1.96 / Math.Sqrt(2000 - 3)), upper = Math.Tanh(Math.Atanh(r) + 1.96 / Math.Sqrt(2000 - 3));
        Assert.Equal(upper - lower, ci.Upper - ci.Lower, 0.2 * (upper - lower));
        Assert.Equal((upper + lower) / 2, (ci.Upper + ci.Lower) / 2, 0.01);
    }

    [Fact]
    public void PartialCorrelationIntervalCoversTheTruePartialCorrelation()
    {
        // x = a + z, y = rho a + sqrt(1 - rho^2) b + z: given z, corr(x, y) = rho.
        var (x, y, z) = Sample(600, 3, 0.4);
        var ci = Bootstrap.PartialCorrelationCi(x, y, new[] { z }, BootstrapMethod.Bca, resamples: 400, seed: 5);
        Assert.Equal(Correlation.Partial(x, y, new[] { z }).R, ci.Estimate, 12);
        Assert.True(ci.Lower < 0.4 && 0.4 < ci.Upper, $"[{ci.Lower}, {ci.Upper}]");
        var spearman = Bootstrap.CorrelationCi(x, y, CorrelationMethod.Spearman, BootstrapMethod.Bca, resamples: 300, seed: 5);
        Assert.True(spearman.Lower < spearman.Estimate && spearman.Estimate < spearman.Upper);
    }

    [Theory]
    [InlineData(BootstrapMethod.Bca)]
    [InlineData(BootstrapMethod.Percentile)]
    public void SpearmanIntervalRanksByCountingExactlyAsBySorting(BootstrapMethod method)
    {
        // Heavy ties (a 1-5 rating in steps of 0.25, like SCUT's mean ratings) and n > MaxJackknifeGroups.
        var (x, y, _) = Sample(1500, 9, 0.3);
        var rating = x.Select(v => Math.Round(v * 4) / 4).ToArray();
        var fast = Bootstrap.CorrelationCi(rating, y, CorrelationMethod.Spearman, method, resamples: 300, seed: 11);
        var sorted = Bootstrap.Statistic(rating.Length, idx =>
            Correlation.Pearson(Ranking.AverageRanks(idx.Select(i => rating[i]).ToArray()), Ranking.AverageRanks(idx.Select(i => y[i]).ToArray())).R,
            method, resamples: 300, seed: 11);
        Assert.Equal(sorted, fast);
    }

    [Fact]
    public void DegenerateDataIsRejected()
    {
        var x = new double[] { 1, 2, 3, 4, 5, 6 };
        Assert.Throws<DegenerateDataException>(() => Bootstrap.CorrelationCi(x, new double[] { 1, 1, 1, 1, 1, 1 }, resamples: 200));
        // A single differing value: most resamples still vary, but many do not.
        var almost = new double[] { 0, 0, 0, 0, 0, 1 };
        Assert.Throws<DegenerateDataException>(() => Bootstrap.CorrelationCi(x, almost, resamples: 200));
    }
    [Theory]
    [InlineData(400, BootstrapMethod.Bca)]        // leave-one-out jackknife
    [InlineData(2300, BootstrapMethod.Bca)]       // grouped jackknife (n > MaxJackknifeGroups)
    [InlineData(400, BootstrapMethod.Percentile)]
    public void SharedPartialCorrelationsMatchOneAtATime(int n, BootstrapMethod method)
    {
        // Binary target and covariates like CelebA attributes, three continuous "rewards" with a large mean.
        var rng = new Random(11);
        var target = new double[n];
        var covariates = Enumerable.Range(0, 3).Select(_ => new double[n]).ToArray();
        var rewards = Enumerable.Range(0, 3).Select(_ => new double[n]).ToArray();
        for (int i = 0; i < n; i++)
        {
            for (int c = 0; c < 3; c++) covariates[c][i] = rng.NextDouble() < 0.3 + 0.1 * c ? 1 : 0;
            target[i] = rng.NextDouble() < 0.3 + 0.3 * covariates[0][i] ? 1 : 0;
            for (int t = 0; t < 3; t++)
                rewards[t][i] = 20 + 0.3 * t * target[i] + 0.5 * covariates[0][i] - 0.2 * covariates[2][i] + Normal(rng);
        }
        var shared = Bootstrap.PartialCorrelationCis(target, rewards, covariates, method, resamples: 300, seed: 9, cancellationToken: TestContext.Current.CancellationToken);
        for (int t = 0; t < 3; t++)
        {
            var single = Bootstrap.PartialCorrelationCi(target, rewards[t], covariates, method, resamples: 300, seed: 9);
            var interval = shared[t].Interval ?? throw new Xunit.Sdk.XunitException(shared[t].Error);
            Assert.Equal(single.Estimate, interval.Estimate, 14);
            Assert.Equal(single.Lower, interval.Lower, 1e-9);
            Assert.Equal(single.Upper, interval.Upper, 1e-9);
            Assert.Equal(single.FailedResamples, interval.FailedResamples);
            if (method == BootstrapMethod.Bca)
            {
                Assert.Equal(single.BiasCorrection!.Value, interval.BiasCorrection!.Value, 12);
                Assert.Equal(single.Acceleration!.Value, interval.Acceleration!.Value, 1e-7 * Math.Abs(single.Acceleration.Value) + 1e-12);
            }
        }
    }

    [Fact]
    public void SharedCorrelationsWithoutCovariatesArePearsonIntervals()
    {
        var (x, y, z) = Sample(500, 4, 0.3);
        var shared = Bootstrap.PartialCorrelationCis(x, new[] { y, z }, Array.Empty<double[]>(), BootstrapMethod.Bca, resamples: 300, seed: 2, cancellationToken: TestContext.Current.CancellationToken);
        var single = Bootstrap.CorrelationCi(x, y, CorrelationMethod.Pearson, BootstrapMethod.Bca, resamples: 300, seed: 2);
        Assert.Equal(single.Lower, shared[0].Interval!.Lower, 1e-9);
        Assert.Equal(single.Upper, shared[0].Interval!.Upper, 1e-9);
        Assert.Equal(Correlation.Pearson(x, z).R, shared[1].Interval!.Estimate, 12);
    }

    [Fact]
    public void SharedPartialCorrelationsReportEachUndefinedOutcome()
    {
        var (x, y, z) = Sample(200, 5, 0.3);
        var constant = Enumerable.Repeat(3.0, 200).ToArray();
        var collinear = z.Select(v => 2 * v + 1).ToArray(); // a linear function of the covariate: nothing left of it
        var shared = Bootstrap.PartialCorrelationCis(x, new[] { y, constant, collinear }, new[] { z }, resamples: 200, seed: 1, cancellationToken: TestContext.Current.CancellationToken);
        Assert.NotNull(shared[0].Interval);
        Assert.Null(shared[1].Interval);
        Assert.Contains("constant", shared[1].Error);
        Assert.Null(shared[2].Interval);
        Assert.False(string.IsNullOrWhiteSpace(shared[2].Error));
    }
}
