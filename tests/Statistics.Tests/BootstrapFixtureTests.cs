using System.Buffers.Binary;
using System.Globalization;
using System.Text.Json;
using BiasBench.Statistics.Tests.Support;
using BiasBench.TestSupport;

namespace BiasBench.Statistics.Tests;

/// <summary>
/// scipy.stats.bootstrap (paired rows, percentile and BCa with its leave-one-out jackknife) fed the resample indices
/// in stats/bootstrap_indices.i32: our bootstrap given the same indices must give the same intervals, on the generic
/// path (a statistic refitted per resample) and on the shared-cross-product path the attribute-bias analysis uses.
/// Everything (rows, resample count, cases, confidence) is read from expected_effects.json.
/// </summary>
public class BootstrapFixtureTests(ITestOutputHelper output)
{
    private sealed record Setup(int Rows, BootstrapResamples Resamples, Dictionary<string, double[]> Table, JsonElement Section);

    private static Setup Load()
    {
        var section = Fixtures.Json("stats/expected_effects.json").RootElement.GetProperty("bootstrap");
        var rows = section.GetProperty("rows");
        int count = rows.GetProperty("count").GetInt32(), first = rows.GetProperty("first_data_row").GetInt32();
        int resamples = section.GetProperty("n_resamples").GetInt32();
        Assert.Contains("int32 little-endian, row-major", section.GetProperty("indices_layout").GetString());
        var bytes = File.ReadAllBytes(Fixtures.File(Path.Combine("stats", section.GetProperty("indices_file").GetString()!)));
        Assert.Equal((long)resamples * count * 4, bytes.LongLength);
        var indices = new int[resamples * count];
        for (int i = 0; i < indices.Length; i++) indices[i] = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(4 * i));
        var full = StatsInputs.ReadNumericCsv(Fixtures.File(Path.Combine("stats", rows.GetProperty("file").GetString()!)), "image_id");
        var table = full.ToDictionary(kv => kv.Key, kv => kv.Value.AsSpan(first, count).ToArray());
        return new Setup(count, BootstrapResamples.Explicit(indices, count), table, section);
    }

    /// <summary>"percentile_ci95" -> 0.95.</summary>
    private static double ConfidenceOf(string key) => double.Parse("0." + key[(key.LastIndexOf("ci", StringComparison.Ordinal) + 2)..], CultureInfo.InvariantCulture);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Percentile_and_bca_intervals_from_the_given_resamples_match_scipy(bool sharedCrossProducts)
    {
        var setup = Load();
        var agreement = new Agreement(output, sharedCrossProducts ? "bootstrap (shared cross-products)" : "bootstrap (generic)");
        Assert.Contains("leave-one-out", setup.Section.GetProperty("jackknife").GetString());
        foreach (var c in setup.Section.GetProperty("cases").EnumerateArray())
        {
            var x = setup.Table[c.GetProperty("target").GetString()!];
            var reward = c.GetProperty("reward").GetString()!;
            var y = setup.Table[reward];
            var covariates = c.GetProperty("covariates").EnumerateArray().Select(e => setup.Table[e.GetString()!]).ToArray();
            var statistic = c.GetProperty("statistic").GetString();
            Assert.Equal(covariates.Length == 0 ? "pearson" : "partial_pearson", statistic);
            var what = $"{reward} | [{string.Join(",", c.GetProperty("covariates").EnumerateArray().Select(e => e.GetString()))}]";
            foreach (var (key, method) in new[] { ("percentile_ci95", BootstrapMethod.Percentile), ("bca_ci95", BootstrapMethod.Bca) })
            {
                double confidence = ConfidenceOf(key);
                // scipy's jackknife leaves out one row at a time whatever n is.
                var interval = sharedCrossProducts
                    ? Bootstrap.PartialCorrelationCis(x, [y], covariates, setup.Resamples, method, confidence, TestContext.Current.CancellationToken, jackknifeGroups: int.MaxValue)[0].Interval!
                    : covariates.Length == 0
                        ? Bootstrap.CorrelationCi(x, y, setup.Resamples, CorrelationMethod.Pearson, method, confidence, jackknifeGroups: int.MaxValue)
                        : Bootstrap.PartialCorrelationCi(x, y, covariates, setup.Resamples, method, confidence, jackknifeGroups: int.MaxValue);
                Assert.Equal(0, interval.FailedResamples);
                Assert.Equal(setup.Section.GetProperty("n_resamples").GetInt32(), interval.Resamples);
                var expected = c.GetProperty(key);
                agreement.Value($"{what} theta_hat", c.GetProperty("theta_hat").GetDouble(), interval.Estimate);
                agreement.Value($"{what} {key} low", expected[0].GetDouble(), interval.Lower);
                agreement.Value($"{what} {key} high", expected[1].GetDouble(), interval.Upper);
                agreement.Value($"{what} standard_error", c.GetProperty("standard_error").GetDouble(), interval.StandardError);
            }
        }
        agreement.Check();
    }

    [Fact]
    public void Explicit_resamples_are_checked_against_the_data()
    {
        Assert.Throws<ArgumentException>(() => BootstrapResamples.Explicit([0, 1, 2, 0, 1], 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => BootstrapResamples.Explicit([0, 1, 3], 3));
        var resamples = BootstrapResamples.Explicit(Enumerable.Range(0, 100 * 4).Select(i => i % 4).ToArray(), 4);
        Assert.Equal(100, resamples.Count);
        var x = new double[] { 1, 2, 3, 4, 5 };
        Assert.Throws<ArgumentException>(() => Bootstrap.CorrelationCi(x, x, resamples));
    }

    [Fact]
    public void Seeded_resamples_are_the_ones_the_seeded_overloads_draw()
    {
        var rng = new Random(3);
        var x = Enumerable.Range(0, 80).Select(_ => rng.NextDouble()).ToArray();
        var y = x.Select(v => v + rng.NextDouble()).ToArray();
        var seeded = Bootstrap.CorrelationCi(x, y, CorrelationMethod.Pearson, BootstrapMethod.Bca, resamples: 200, seed: 7);
        var viaSeam = Bootstrap.CorrelationCi(x, y, BootstrapResamples.Seeded(7, 200));
        Assert.Equal(seeded, viaSeam);
    }
}
