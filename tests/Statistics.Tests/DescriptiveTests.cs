using System.Globalization;
using System.Text.Json;
using BiasBench.Statistics.Tests.Support;
using BiasBench.TestSupport;

namespace BiasBench.Statistics.Tests;

public class DescriptiveTests(ITestOutputHelper output)
{
    [Fact]
    public void ScutSummaryMatchesFixture()
    {
        var scut = StatsInputs.Expected().GetProperty("scut");
        var labels = StatsInputs.ReadScut(Fixtures.Data("scut_fbp5500/All_labels.txt"));
        var scores = labels.Select(l => l.Score).ToArray();
        Assert.Equal(scut.GetProperty("n").GetInt32(), scores.Length);
        var check = new Agreement(output, "SCUT summary");
        check.Value("mean", scut.GetProperty("mean").GetDouble(), Descriptive.Mean(scores));
        check.Value("std (ddof 1)", scut.GetProperty("std").GetDouble(), Descriptive.StandardDeviation(scores, ddof: 1));
        var means = Descriptive.GroupMeans(scores, labels.Select(l => l.Group).ToArray()).ToDictionary(g => g.Key, g => g.Value);
        foreach (var group in scut.GetProperty("by_group_mean").EnumerateObject())
            check.Value($"mean[{group.Name}]", group.Value.GetDouble(), means[group.Name]);
        check.Check();
    }

    [Fact]
    public void HackathonMeansByConditionMatchFixture()
    {
        var check = new Agreement(output, "hackathon means by condition");
        foreach (var (file, expected, rows) in HackathonData.All())
            foreach (var reward in expected.EnumerateObject().Where(p => p.Value.ValueKind == JsonValueKind.Object))
            {
                var means = Descriptive.GroupMeans(rows.Select(r => r.Scores[reward.Name]).ToArray(), rows.Select(r => r.Condition).ToArray())
                    .ToDictionary(g => g.Key, g => g.Value);
                foreach (var condition in reward.Value.GetProperty("means_by_condition").EnumerateObject())
                    check.Value($"{file} {reward.Name} mean[{condition.Name}]", condition.Value.GetDouble(),
                        means[double.Parse(condition.Name, CultureInfo.InvariantCulture)]);
            }
        check.Check();
    }

    [Fact]
    public void VarianceNeedsEnoughObservations()
    {
        Assert.Equal(2.5, Descriptive.Variance(new double[] { 1, 2, 3, 4, 5 }), 12);
        Assert.Equal(2.0, Descriptive.Variance(new double[] { 1, 2, 3, 4, 5 }, ddof: 0), 12);
        Assert.Throws<DegenerateDataException>(() => Descriptive.Variance(new double[] { 1 }));
        Assert.Throws<DegenerateDataException>(() => Descriptive.Mean(Array.Empty<double>()));
    }
}
