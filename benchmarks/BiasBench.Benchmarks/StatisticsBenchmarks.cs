using BenchmarkDotNet.Attributes;
using BiasBench.Statistics;

namespace BiasBench.Benchmarks;

/// <summary>
/// Full-CelebA-size correlation study: 202,599 rows x 40 binary attributes x 3 rewards. One operation = Pearson +
/// Spearman (with p-values) for all 120 reward x attribute pairs plus an OLS of each reward on all 40 attributes with
/// classic and HC3 standard errors. Target: &lt;= 1 s on a 2-core machine.
/// </summary>
[Config(typeof(ShortInProcessConfig))]
[MemoryDiagnoser]
public class StatisticsBenchmarks
{
    public const int Rows = 202_599;
    public const int Attributes = 40;
    public const int Rewards = 3;

    private double[][] _attributes = null!;
    private double[][] _rewards = null!;
    private string[] _attributeNames = null!;
    private string[] _rewardNames = null!;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(20240601);
        // Prevalences spread like CelebA's (from rare ~2% attributes such as Bald to ~80% such as No_Beard).
        _attributes = new double[Attributes][];
        var latent = new double[Rows];
        for (int i = 0; i < Rows; i++) latent[i] = Gaussian(rng);
        for (int j = 0; j < Attributes; j++)
        {
            double prevalence = 0.02 + 0.78 * j / (Attributes - 1);
            double loading = (j % 3 - 1) * 0.6; // some attributes share a latent factor (like Male/No_Beard/Heavy_Makeup)
            double threshold = InverseNormal(1 - prevalence) * Math.Sqrt(1 + loading * loading);
            var column = new double[Rows];
            for (int i = 0; i < Rows; i++) column[i] = loading * latent[i] + Gaussian(rng) > threshold ? 1.0 : 0.0;
            _attributes[j] = column;
        }
        _rewards = new double[Rewards][];
        for (int r = 0; r < Rewards; r++)
        {
            var y = new double[Rows];
            for (int i = 0; i < Rows; i++)
            {
                double v = 0.3 * Gaussian(rng) + 0.05 * r * latent[i];
                for (int j = r; j < Attributes; j += 7) v += 0.1 * _attributes[j][i];
                y[i] = 20 + v;
            }
            _rewards[r] = y;
        }
        _attributeNames = Enumerable.Range(0, Attributes).Select(j => $"attr{j}").ToArray();
        _rewardNames = Enumerable.Range(0, Rewards).Select(r => $"reward{r}").ToArray();
    }

    [Benchmark]
    public double CorrelationsAndOlsHc3()
    {
        var scan = CorrelationScan.Run(_rewards, _attributes, _rewardNames, _attributeNames, spearman: true);
        var design = OlsDesign.Create(_attributes, _attributeNames);
        double checksum = scan.Pearson[0][0]!.R + scan.Spearman![Rewards - 1][Attributes - 1]!.R;
        foreach (var y in _rewards) checksum += design.Fit(y, robust: true).SeHc3![1];
        return checksum;
    }

    [Benchmark]
    public double CorrelationScanOnly()
    {
        var scan = CorrelationScan.Run(_rewards, _attributes, _rewardNames, _attributeNames, spearman: true);
        return scan.Spearman![0][0]!.R;
    }

    [Benchmark]
    public double OlsHc3Only()
    {
        var design = OlsDesign.Create(_attributes, _attributeNames);
        double checksum = 0;
        foreach (var y in _rewards) checksum += design.Fit(y, robust: true).SeHc3![1];
        return checksum;
    }

    private static double Gaussian(Random rng) => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

    private static double InverseNormal(double p) => MathNet.Numerics.Distributions.Normal.InvCDF(0, 1, p);
}
