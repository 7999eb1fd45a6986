using System.Globalization;
using BiasBench.Abstractions;
using BiasBench.Data;
using BiasBench.Statistics;

namespace BiasBench.Plugins.ResNetJudge.Training;

/// <summary>
/// The trained classifier's report card: the threshold chosen on validation and, on validation and test, accuracy,
/// balanced accuracy, ROC-AUC, ECE, log loss, confusion counts; per-group metrics on test (a classifier that is right
/// for one group and wrong for another would confound the study); the reliability diagram of the test split.
/// </summary>
public sealed record Evaluation(double Threshold, double ValidationAuc, IReadOnlyList<DataTable> Tables, Figure Reliability, IReadOnlyList<Finding> Findings)
{
    public static Evaluation Run(ClassifierScorer scorer, TrainingData data, TrainerOptions options, CancellationToken ct)
    {
        var splits = new List<(string Name, IReadOnlyList<Example> Examples, double[] P, int[] Y)>();
        foreach (var (name, split) in new[] { ("validation", DataSplit.Validation), ("test", DataSplit.Test) })
        {
            var examples = data.Of(split);
            if (examples.Count == 0) continue;
            var p = scorer.ProbabilitiesOfFiles(examples.Select(e => e.Path).ToList(), options.BatchSize, ct).Select(v => (double)v).ToArray();
            splits.Add((name, examples, p, examples.Select(e => e.Label).ToArray()));
        }
        var val = splits[0];
        var threshold = Classification.ChooseThreshold(val.P, val.Y, options.ThresholdCriterion);
        // Report on test when there is one, else (stated) on validation.
        var report = splits[^1];

        var metrics = new DataTable("metrics")
        {
            Caption = $"Threshold {threshold:0.####} chosen on validation ({options.ThresholdCriterion}); positive = P >= threshold. " +
                      $"ECE over {options.CalibrationBins} equal-width bins; ROC-AUC = P(positive scores above negative), ties 1/2.",
        };
        var rows = splits.Select(s => (s.Name, s.P, s.Y, C: Classification.Confusion(s.P, s.Y, threshold))).ToList();
        metrics.Add("split", rows.Select(r => (string?)r.Name).ToArray())
            .Add("n", rows.Select(r => (double)r.Y.Length).ToArray())
            .Add("positives", rows.Select(r => (double)r.Y.Sum()).ToArray())
            .Add("threshold", rows.Select(_ => threshold).ToArray())
            .Add("accuracy", rows.Select(r => r.C.Accuracy).ToArray())
            .Add("balanced_accuracy", rows.Select(r => r.C.BalancedAccuracy).ToArray())
            .Add("roc_auc", rows.Select(r => Classification.RocAuc(r.P, r.Y)).ToArray())
            .Add("ece", rows.Select(r => Classification.ExpectedCalibrationError(r.P, r.Y, options.CalibrationBins)).ToArray())
            .Add("log_loss", rows.Select(r => Classification.LogLoss(r.P, r.Y)).ToArray())
            .Add("precision", rows.Select(r => r.C.Precision).ToArray())
            .Add("recall", rows.Select(r => r.C.TruePositiveRate).ToArray())
            .Add("specificity", rows.Select(r => r.C.TrueNegativeRate).ToArray())
            .Add("f1", rows.Select(r => r.C.F1).ToArray())
            .Add("accuracy_at_0_5", rows.Select(r => Classification.Confusion(r.P, r.Y, 0.5).Accuracy).ToArray());

        var confusion = new DataTable("confusion") { Caption = $"Counts at threshold {threshold:0.####} (rows: split x actual; columns: predicted)." }
            .Add("split", rows.SelectMany(r => new string?[] { r.Name, r.Name }).ToArray())
            .Add("actual", rows.SelectMany(_ => new string?[] { "positive", "negative" }).ToArray())
            .Add("predicted_positive", rows.SelectMany(r => new double[] { r.C.TruePositives, r.C.FalsePositives }).ToArray())
            .Add("predicted_negative", rows.SelectMany(r => new double[] { r.C.FalseNegatives, r.C.TrueNegatives }).ToArray());

        var groupRows = new List<(string Column, string Value, int N, double Pos, ConfusionMatrix C, double Auc, double Ece, double PredRate)>();
        foreach (var column in data.GroupColumns)
            foreach (var value in report.Examples.Select(e => e.Groups[column]).Distinct().Order(StringComparer.Ordinal))
            {
                var idx = Enumerable.Range(0, report.Examples.Count).Where(i => report.Examples[i].Groups[column] == value).ToList();
                var p = idx.Select(i => report.P[i]).ToArray(); var y = idx.Select(i => report.Y[i]).ToArray();
                var c = Classification.Confusion(p, y, threshold);
                groupRows.Add((column, value, idx.Count, y.Average(), c, Classification.RocAuc(p, y),
                    Classification.ExpectedCalibrationError(p, y, options.CalibrationBins), c.PredictedPositiveRate));
            }
        var groups = new DataTable("per_group")
            {
                Caption = $"{report.Name} split by group (threshold {threshold:0.####}): the classifier should be equally right and equally calibrated across groups.",
            }
            .Add("group_column", groupRows.Select(r => (string?)r.Column).ToArray())
            .Add("group", groupRows.Select(r => (string?)r.Value).ToArray())
            .Add("n", groupRows.Select(r => (double)r.N).ToArray())
            .Add("observed_positive_rate", groupRows.Select(r => r.Pos).ToArray())
            .Add("predicted_positive_rate", groupRows.Select(r => r.PredRate).ToArray())
            .Add("accuracy", groupRows.Select(r => r.C.Accuracy).ToArray())
            .Add("balanced_accuracy", groupRows.Select(r => r.C.BalancedAccuracy).ToArray())
            .Add("roc_auc", groupRows.Select(r => r.Auc).ToArray())
            .Add("ece", groupRows.Select(r => r.Ece).ToArray());

        var bins = Classification.Reliability(report.P, report.Y, options.CalibrationBins);
        var reliability = new DataTable("reliability") { Caption = $"Reliability bins of the {report.Name} split: mean predicted P(positive) vs observed positive rate." }
            .Add("bin_lower", bins.Select(b => b.Lower).ToArray()).Add("bin_upper", bins.Select(b => b.Upper).ToArray())
            .Add("count", bins.Select(b => (double)b.Count).ToArray())
            .Add("mean_probability", bins.Select(b => b.MeanProbability).ToArray())
            .Add("observed_rate", bins.Select(b => b.ObservedRate).ToArray());

        var r0 = rows[^1];
        var ece = Classification.ExpectedCalibrationError(r0.P, r0.Y, options.CalibrationBins);
        var findings = new List<Finding>
        {
            new($"Classifier on the {r0.Name} split (n={r0.Y.Length}, {r0.Y.Average():P0} positive): ROC-AUC {Fmt(Classification.RocAuc(r0.P, r0.Y))}, " +
                $"balanced accuracy {Fmt(r0.C.BalancedAccuracy)}, accuracy {Fmt(r0.C.Accuracy)} at threshold {threshold:0.###} (chosen on validation), ECE {Fmt(ece)}."),
        };
        foreach (var column in data.GroupColumns)
        {
            var g = groupRows.Where(r => r.Column == column && !double.IsNaN(r.C.BalancedAccuracy)).ToList();
            if (g.Count >= 2)
                findings.Add(new Finding($"By {column}: balanced accuracy {string.Join(", ", g.Select(r => $"{r.Value}: {Fmt(r.C.BalancedAccuracy)} (n={r.N})"))}; " +
                                         $"predicted positive rate {string.Join(", ", g.Select(r => $"{r.Value}: {Fmt(r.PredRate)}"))}."));
        }
        var figure = Figures.ReliabilityDiagram(bins, ece, r0.Name);
        return new Evaluation(threshold, Classification.RocAuc(val.P, val.Y), [metrics, confusion, groups, reliability], figure, findings);
    }

    private static string Fmt(double v) => double.IsNaN(v) ? "n/a" : v.ToString("0.000", CultureInfo.InvariantCulture);
}
