namespace BiasBench.Statistics;

/// <summary>Counts of a binary decision at a threshold (positive = probability &gt;= threshold).</summary>
public readonly record struct ConfusionMatrix(long TruePositives, long FalsePositives, long TrueNegatives, long FalseNegatives)
{
    public long N => TruePositives + FalsePositives + TrueNegatives + FalseNegatives;
    public long Positives => TruePositives + FalseNegatives;
    public long Negatives => TrueNegatives + FalsePositives;
    public double Accuracy => N == 0 ? double.NaN : (double)(TruePositives + TrueNegatives) / N;
    /// <summary>Recall of the positive class (sensitivity); NaN without positives.</summary>
    public double TruePositiveRate => Positives == 0 ? double.NaN : (double)TruePositives / Positives;
    /// <summary>Specificity; NaN without negatives.</summary>
    public double TrueNegativeRate => Negatives == 0 ? double.NaN : (double)TrueNegatives / Negatives;
    /// <summary>(TPR + TNR) / 2 (sklearn's balanced_accuracy_score for two classes); NaN when a class is absent.</summary>
    public double BalancedAccuracy => (TruePositiveRate + TrueNegativeRate) / 2;
    public double Precision => TruePositives + FalsePositives == 0 ? double.NaN : (double)TruePositives / (TruePositives + FalsePositives);
    public double F1 => 2.0 * TruePositives + FalsePositives + FalseNegatives == 0 ? double.NaN : 2.0 * TruePositives / (2.0 * TruePositives + FalsePositives + FalseNegatives);
    public double PredictedPositiveRate => N == 0 ? double.NaN : (double)(TruePositives + FalsePositives) / N;
}

/// <summary>One bin of a reliability diagram: predictions with probability in [Lower, Upper).</summary>
public sealed record ReliabilityBin(double Lower, double Upper, int Count, double MeanProbability, double ObservedRate);

public enum ThresholdCriterion { BalancedAccuracy, Accuracy, F1 }

/// <summary>
/// Metrics of a binary probabilistic classifier, each with its textbook definition: ROC-AUC as the Mann-Whitney
/// probability that a random positive outscores a random negative (ties count one half; sklearn's roc_auc_score), the
/// expected calibration error over equal-width probability bins, and threshold-based counts.
/// </summary>
public static class Classification
{
    /// <summary>ROC-AUC from average ranks (O(n log n)); NaN when only one class is present.</summary>
    public static double RocAuc(IReadOnlyList<double> scores, IReadOnlyList<int> labels)
    {
        Check(scores, labels);
        long positives = labels.Count(l => l == 1), negatives = labels.Count - positives;
        if (positives == 0 || negatives == 0) return double.NaN;
        var ranks = Ranking.AverageRanks(scores.ToArray());
        double positiveRankSum = 0;
        for (var i = 0; i < labels.Count; i++) if (labels[i] == 1) positiveRankSum += ranks[i];
        var u = positiveRankSum - positives * (positives + 1) / 2.0;
        return u / ((double)positives * negatives);
    }

    public static ConfusionMatrix Confusion(IReadOnlyList<double> probabilities, IReadOnlyList<int> labels, double threshold)
    {
        Check(probabilities, labels);
        long tp = 0, fp = 0, tn = 0, fn = 0;
        for (var i = 0; i < labels.Count; i++)
        {
            var predicted = probabilities[i] >= threshold;
            if (labels[i] == 1) { if (predicted) tp++; else fn++; }
            else { if (predicted) fp++; else tn++; }
        }
        return new ConfusionMatrix(tp, fp, tn, fn);
    }

    /// <summary>
    /// Reliability bins of P(y = 1): <paramref name="bins"/> equal-width bins over [0, 1] (a probability of exactly 1
    /// falls in the last), each with its count, mean predicted probability and observed positive rate.
    /// </summary>
    public static IReadOnlyList<ReliabilityBin> Reliability(IReadOnlyList<double> probabilities, IReadOnlyList<int> labels, int bins = 15)
    {
        Check(probabilities, labels);
        if (bins < 1) throw new ArgumentOutOfRangeException(nameof(bins), "At least one bin is needed.");
        var count = new int[bins]; var sumP = new double[bins]; var sumY = new double[bins];
        for (var i = 0; i < labels.Count; i++)
        {
            var p = probabilities[i];
            if (p is < 0 or > 1 || double.IsNaN(p)) throw new ArgumentException($"Probability {p} at index {i} is outside [0, 1].", nameof(probabilities));
            var b = Math.Min((int)(p * bins), bins - 1);
            count[b]++; sumP[b] += p; sumY[b] += labels[i];
        }
        return Enumerable.Range(0, bins).Select(b => new ReliabilityBin((double)b / bins, (double)(b + 1) / bins, count[b],
            count[b] == 0 ? double.NaN : sumP[b] / count[b], count[b] == 0 ? double.NaN : sumY[b] / count[b])).ToList();
    }

    /// <summary>Expected calibration error: sum over bins of (n_bin / n) |observed rate - mean probability|.</summary>
    public static double ExpectedCalibrationError(IReadOnlyList<double> probabilities, IReadOnlyList<int> labels, int bins = 15)
    {
        var reliability = Reliability(probabilities, labels, bins);
        var n = labels.Count;
        if (n == 0) return double.NaN;
        return reliability.Where(b => b.Count > 0).Sum(b => (double)b.Count / n * Math.Abs(b.ObservedRate - b.MeanProbability));
    }

    /// <summary>Mean binary cross-entropy of probabilities (clipped to [1e-12, 1 - 1e-12]).</summary>
    public static double LogLoss(IReadOnlyList<double> probabilities, IReadOnlyList<int> labels)
    {
        Check(probabilities, labels);
        double sum = 0;
        for (var i = 0; i < labels.Count; i++)
        {
            var p = Math.Clamp(probabilities[i], 1e-12, 1 - 1e-12);
            sum -= labels[i] == 1 ? Math.Log(p) : Math.Log(1 - p);
        }
        return labels.Count == 0 ? double.NaN : sum / labels.Count;
    }

    /// <summary>
    /// The threshold that maximises <paramref name="criterion"/> among the observed probabilities (and 0.5); ties go to
    /// the candidate closest to 0.5, so a perfectly separating validation set keeps a central threshold.
    /// </summary>
    public static double ChooseThreshold(IReadOnlyList<double> probabilities, IReadOnlyList<int> labels, ThresholdCriterion criterion = ThresholdCriterion.BalancedAccuracy)
    {
        Check(probabilities, labels);
        var candidates = probabilities.Append(0.5).Distinct().Order().ToList();
        double best = 0.5, bestScore = double.NegativeInfinity;
        foreach (var t in candidates)
        {
            var c = Confusion(probabilities, labels, t);
            var score = criterion switch
            {
                ThresholdCriterion.Accuracy => c.Accuracy,
                ThresholdCriterion.F1 => c.F1,
                _ => c.BalancedAccuracy,
            };
            if (double.IsNaN(score)) continue;
            if (score > bestScore + 1e-12 || (Math.Abs(score - bestScore) <= 1e-12 && Math.Abs(t - 0.5) < Math.Abs(best - 0.5)))
            {
                best = t; bestScore = score;
            }
        }
        return best;
    }

    private static void Check(IReadOnlyList<double> scores, IReadOnlyList<int> labels)
    {
        ArgumentNullException.ThrowIfNull(scores);
        ArgumentNullException.ThrowIfNull(labels);
        Validation.SameLength(labels.Count, scores.Count, nameof(scores));
        for (var i = 0; i < labels.Count; i++)
            if (labels[i] is not (0 or 1)) throw new ArgumentException($"Label {labels[i]} at index {i} is not 0 or 1.", nameof(labels));
    }
}
