using System.Text.Json;
using BiasBench.Statistics.Tests.Support;
using BiasBench.TestSupport;

namespace BiasBench.Statistics.Tests;

public class CorrelationTests(ITestOutputHelper output)
{
    [Fact]
    public void CelebaPearsonAndSpearmanMatchScipy()
    {
        var expected = StatsInputs.Expected().GetProperty("celeba").GetProperty("correlation");
        var table = StatsInputs.Celeba();
        var check = new Agreement(output, "celeba correlation");
        foreach (var reward in expected.EnumerateObject())
            foreach (var attribute in reward.Value.EnumerateObject())
            {
                var x = table[reward.Name];
                var y = table[attribute.Name];
                var e = attribute.Value;
                string at = $"{reward.Name}~{attribute.Name}";
                var pearson = Correlation.Pearson(x, y);
                check.Value(at + " pearson", e.GetProperty("pearson").GetDouble(), pearson.R);
                check.PValue(at + " pearson_p", e.GetProperty("pearson_p").GetDouble(), pearson.P);
                var spearman = Correlation.Spearman(x, y);
                check.Value(at + " spearman", e.GetProperty("spearman").GetDouble(), spearman.R);
                check.PValue(at + " spearman_p", e.GetProperty("spearman_p").GetDouble(), spearman.P);
                Assert.Equal(x.Length, pearson.N);
            }
        check.Check();
    }

    [Fact]
    public void CelebaPartialCorrelationOfAttractiveMatchesPingouin()
    {
        var celeba = StatsInputs.Expected().GetProperty("celeba");
        var attributes = celeba.GetProperty("attributes").EnumerateArray().Select(a => a.GetString()!).ToArray();
        var table = StatsInputs.Celeba();
        var check = new Agreement(output, "celeba partial correlation");
        const string target = "Attractive";
        foreach (var reward in celeba.GetProperty("partial_attractive").EnumerateObject())
            foreach (var set in reward.Value.EnumerateObject())
            {
                var covariates = CovariateSet(set.Name, attributes, target);
                var result = Correlation.Partial(table[target], table[reward.Name], covariates.Select(c => table[c]).ToArray(), covariates);
                string at = $"{reward.Name} | {set.Name}";
                check.Value(at + " r", set.Value.GetProperty("r").GetDouble(), result.R);
                check.PValue(at + " p", set.Value.GetProperty("p").GetDouble(), result.P);
                Assert.Equal(set.Value.GetProperty("dof").GetInt32(), result.Df);
            }
        check.Check();
    }

    /// <summary>'A+B+C' lists covariates; 'all_other_N' means every other attribute (N of them).</summary>
    internal static string[] CovariateSet(string key, string[] attributes, string target)
    {
        if (key.StartsWith("all_other_", StringComparison.Ordinal))
        {
            var others = attributes.Where(a => a != target).ToArray();
            Assert.Equal(int.Parse(key["all_other_".Length..]), others.Length);
            return others;
        }
        return key.Split('+');
    }

    [Fact]
    public void CelebaStratifiedByMaleMatchesPerStratumPearson()
    {
        var celeba = StatsInputs.Expected().GetProperty("celeba");
        var table = StatsInputs.Celeba();
        var check = new Agreement(output, "celeba stratified correlation");
        foreach (var stratifier in celeba.EnumerateObject().Where(p => p.Name.StartsWith("stratified_by_", StringComparison.Ordinal)))
        {
            var strata = table[stratifier.Name["stratified_by_".Length..]];
            foreach (var reward in stratifier.Value.EnumerateObject())
            {
                var results = Correlation.Stratified(table["Attractive"], table[reward.Name], strata);
                foreach (var level in reward.Value.EnumerateObject())
                {
                    var stratum = results.Single(s => s.Stratum == double.Parse(level.Name, System.Globalization.CultureInfo.InvariantCulture));
                    Assert.NotNull(stratum.Result);
                    check.Value($"{stratifier.Name} {reward.Name} stratum {level.Name}", level.Value.GetDouble(), stratum.Result!.R);
                }
            }
        }
        check.Check();
    }

    [Fact]
    public void HackathonCorrelationWithPromptConditionMatchesScipy()
    {
        var check = new Agreement(output, "hackathon correlation");
        foreach (var (file, expected, rows) in HackathonData.All())
            foreach (var reward in expected.EnumerateObject().Where(p => p.Value.ValueKind == JsonValueKind.Object))
            {
                var condition = rows.Select(r => r.Condition).ToArray();
                var scores = rows.Select(r => r.Scores[reward.Name]).ToArray();
                var pearson = Correlation.Pearson(scores, condition);
                var spearman = Correlation.Spearman(scores, condition);
                string at = $"{file} {reward.Name}";
                check.Value(at + " pearson", reward.Value.GetProperty("pearson").GetDouble(), pearson.R);
                check.PValue(at + " pearson_p", reward.Value.GetProperty("pearson_p").GetDouble(), pearson.P);
                check.Value(at + " spearman", reward.Value.GetProperty("spearman").GetDouble(), spearman.R);
                check.PValue(at + " spearman_p", reward.Value.GetProperty("spearman_p").GetDouble(), spearman.P);
            }
        check.Check();
    }

    [Fact]
    public void ConstantColumnIsReportedNotNaN()
    {
        var x = new double[] { 1, 2, 3, 4 };
        var constant = new double[] { 5, 5, 5, 5 };
        var error = Assert.Throws<DegenerateDataException>(() => Correlation.Pearson(x, constant));
        Assert.Contains("constant", error.Message);
        Assert.Throws<DegenerateDataException>(() => Correlation.Spearman(constant, x));
    }

    [Fact]
    public void TooFewObservationsOrNaNAreRejected()
    {
        Assert.Throws<DegenerateDataException>(() => Correlation.Pearson(new double[] { 1, 2 }, new double[] { 2, 1 }));
        var error = Assert.Throws<DegenerateDataException>(() => Correlation.Pearson(new double[] { 1, double.NaN, 3 }, new double[] { 2, 1, 0 }));
        Assert.Contains("index 1", error.Message);
        Assert.Throws<ArgumentException>(() => Correlation.Pearson(new double[] { 1, 2, 3 }, new double[] { 2, 1 }));
    }

    [Fact]
    public void PerfectCorrelationHasZeroPValue()
    {
        var x = new double[] { 1, 2, 3, 4, 5 };
        var y = x.Select(v => 3 * v - 1).ToArray();
        var r = Correlation.Pearson(x, y);
        Assert.Equal(1.0, r.R, 12);
        Assert.Equal(0.0, r.P);
        Assert.Equal(-1.0, Correlation.Spearman(x, y.Select(v => -v * v * v).ToArray()).R, 12);
    }

    [Fact]
    public void PartialCorrelationWithCollinearCovariatesNamesThem()
    {
        var rng = new Random(5);
        var x = Enumerable.Range(0, 50).Select(_ => rng.NextDouble()).ToArray();
        var y = Enumerable.Range(0, 50).Select(_ => rng.NextDouble()).ToArray();
        var a = Enumerable.Range(0, 50).Select(_ => (double)rng.Next(2)).ToArray();
        var notA = a.Select(v => 1 - v).ToArray();
        var error = Assert.Throws<DegenerateDataException>(() => Correlation.Partial(x, y, new[] { a, notA }, new[] { "A", "NotA" }));
        Assert.Contains("NotA", error.OffendingColumns);
    }

    [Fact]
    public void StratumWithConstantColumnCarriesAReason()
    {
        var x = new double[] { 1, 2, 3, 4, 1, 1, 1, 1 };
        var y = new double[] { 2, 1, 4, 3, 5, 6, 7, 8 };
        var strata = new double[] { 0, 0, 0, 0, 1, 1, 1, 1 };
        var results = Correlation.Stratified(x, y, strata);
        Assert.NotNull(results[0].Result);
        Assert.Null(results[1].Result);
        Assert.Contains("constant", results[1].Reason);
    }
}

/// <summary>The hackathon score files named in expected_stats.json (keys ending in .csv), read from the data folder.</summary>
internal static class HackathonData
{
    public static IEnumerable<(string File, JsonElement Expected, List<StatsInputs.HackathonRow> Rows)> All()
    {
        foreach (var entry in StatsInputs.Expected().EnumerateObject().Where(p => p.Name.EndsWith(".csv", StringComparison.Ordinal)))
        {
            var rows = StatsInputs.ReadHackathon(Fixtures.Data("hackathon/" + entry.Name));
            Assert.Equal(entry.Value.GetProperty("n").GetInt32(), rows.Count);
            yield return (entry.Name, entry.Value, rows);
        }
    }

    /// <summary>Scores of one reward for one condition, ordered by seed (pairs conditions by seed).</summary>
    public static double[] BySeed(List<StatsInputs.HackathonRow> rows, string reward, double condition, IReadOnlyList<int> seeds)
    {
        var map = rows.Where(r => r.Condition == condition).ToDictionary(r => r.Seed, r => r.Scores[reward]);
        return seeds.Select(s => map[s]).ToArray();
    }

    public static int[] CommonSeeds(List<StatsInputs.HackathonRow> rows, params double[] conditions)
        => conditions.Select(c => rows.Where(r => r.Condition == c).Select(r => r.Seed).ToHashSet())
            .Aggregate((a, b) => { a.IntersectWith(b); return a; }).OrderBy(s => s).ToArray();
}
