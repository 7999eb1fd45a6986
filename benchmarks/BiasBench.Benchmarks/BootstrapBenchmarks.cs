using BenchmarkDotNet.Attributes;
using BiasBench.Statistics;

namespace BiasBench.Benchmarks;

/// <summary>
/// BCa bootstrap intervals of one attribute's partial correlation with 3 rewards, controlling for the 39 other binary
/// attributes (5,000 rows, 200 resamples, 1,000-group jackknife): the shared cross-product path against refitting each
/// reward on every resample and jackknife sample (the reference it must agree with to 1e-9).
/// </summary>
[Config(typeof(ShortInProcessConfig))]
[MemoryDiagnoser]
public class BootstrapBenchmarks
{
    private const int Rows = 5_000, Covariates = 39, Rewards = 3, Resamples = 200;
    private double[] _target = null!;
    private double[][] _covariates = null!;
    private double[][] _rewards = null!;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(7);
        _covariates = Enumerable.Range(0, Covariates).Select(j =>
            Enumerable.Range(0, Rows).Select(_ => rng.NextDouble() < 0.1 + 0.8 * j / Covariates ? 1.0 : 0.0).ToArray()).ToArray();
        _target = Enumerable.Range(0, Rows).Select(i => rng.NextDouble() < 0.3 + 0.3 * _covariates[5][i] ? 1.0 : 0.0).ToArray();
        _rewards = Enumerable.Range(0, Rewards).Select(r => Enumerable.Range(0, Rows).Select(i =>
            20 + 0.2 * r * _target[i] + 0.3 * _covariates[r][i] + rng.NextDouble()).ToArray()).ToArray();
    }

    [Benchmark(Baseline = true)]
    public double RefitEachReward()
    {
        double sum = 0;
        foreach (var y in _rewards) sum += Bootstrap.PartialCorrelationCi(_target, y, _covariates, BootstrapMethod.Bca, Resamples, 0.95, 1).Lower;
        return sum;
    }

    [Benchmark]
    public double SharedCrossProducts() =>
        Bootstrap.PartialCorrelationCis(_target, _rewards, _covariates, BootstrapMethod.Bca, Resamples, 0.95, 1).Sum(o => o.Interval!.Lower);
}
