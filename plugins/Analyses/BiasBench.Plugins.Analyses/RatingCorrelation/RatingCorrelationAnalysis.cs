using System.Diagnostics;
using BiasBench.Abstractions;
using BiasBench.Statistics;
using MathNet.Numerics.Distributions;
using Microsoft.Extensions.Logging;

namespace BiasBench.Plugins.Analyses.RatingCorrelation;

/// <summary>
/// "Do the reward models score the faces people rate as more beautiful higher?" A continuous human rating (SCUT-FBP5500's
/// mean beauty rating) against every reward: Pearson and Spearman with Fisher-z and bootstrap intervals over all rows and
/// within each group, the group-adjusted partial correlation, tests of whether the correlation differs between groups,
/// and the slope of the reward on the rating with HC3 errors; a scatter grid (reward x group) with fitted lines.
/// </summary>
public sealed class RatingCorrelationAnalysis(RatingCorrelationOptions options) : IAnalysis
{
    public const string AnalysisName = "rating-correlation";

    /// <summary>Scope of the slope fitted with one intercept per group.</summary>
    public const string WithinGroups = "within groups";

    /// <summary>Fewest rows for a correlation with a Fisher-z interval (n - 3 must be positive).</summary>
    public const int MinRows = 4;

    public string Name => AnalysisName;

    public Task<AnalysisResult> RunAsync(AnalysisInputs inputs, ILogger logger, CancellationToken cancellationToken)
    {
        options.Bootstrap ??= new RatingCorrelationBootstrapOptions();
        // Nested options are not validated by the config binder; check here so a typo fails before any work.
        if (options.Bootstrap.Resamples is < 0 or > 0 and < 100)
            throw new InvalidDataException($"bootstrap.resamples is {options.Bootstrap.Resamples}; use 0 (no bootstrap) or at least 100 (e.g. 2000).");
        var result = new AnalysisResult();
        var clock = Stopwatch.StartNew();
        var data = RatingData.Prepare(inputs, options, result.Warnings);
        if (data.GroupColumn is null && options.GroupColumn is null)
            result.Warnings.Add("No 'group' column: correlations over all rows only; set group_column for per-group statistics and group comparisons.");
        else if (data.GroupColumn is not null && data.Groups.Length < 2)
            result.Warnings.Add($"Only one value of '{data.GroupColumn}' ({string.Join("", data.Groups)}): no group adjustment or group comparison.");
        var grouped = data.GroupColumn is not null && data.Groups.Length >= 2;

        var correlations = new List<CorrelationRow>();
        var slopes = new List<SlopeRow>();
        foreach (var (scope, rows) in data.Scopes())
        {
            cancellationToken.ThrowIfCancellationRequested();
            var x = RatingData.Take(data.RatingValues, rows);
            var ys = data.RewardValues.Select(v => RatingData.Take(v, rows)).ToArray();
            var scopeRows = data.Rewards.Select(r => new CorrelationRow(r, scope, rows.Length)).ToList();
            Correlate(data, scope, x, ys, scopeRows);
            if (options.Bootstrap.Resamples > 0) BootstrapScope(x, ys, scopeRows, cancellationToken);
            correlations.AddRange(scopeRows);
            slopes.AddRange(data.Rewards.Select((r, t) => Slope(data, r, scope, x, ys[t])));
        }

        var partials = new List<PartialRow>();
        var differences = new List<DifferenceRow>();
        var homogeneity = new List<HomogeneityRow>();
        if (grouped)
        {
            partials = GroupAdjusted(data, correlations, cancellationToken);
            slopes.AddRange(WithinGroupSlopes(data));
            (differences, homogeneity) = CompareGroups(data, correlations);
        }
        logger.LogInformation("rating-correlation: {Rows} rows x {Rewards} rewards x {Groups} groups in {Ms} ms (bootstrap: {Resamples} resamples)",
            data.N, data.Rewards.Length, data.Groups.Length, clock.ElapsedMilliseconds, options.Bootstrap.Resamples);

        var bootstrap = options.Bootstrap.Resamples > 0
            ? $"a seeded row bootstrap ({options.Bootstrap.Resamples} resamples within the scope, {options.Bootstrap.Method.ToString().ToLowerInvariant()}, seed {options.Bootstrap.Seed})"
            : null;
        result.Tables.Add(ResultTables.Correlations(correlations, data.Rating, options.Confidence, bootstrap));
        if (grouped)
        {
            result.Tables.Add(ResultTables.Partials(partials, data.Rating, options.Confidence, bootstrap));
            result.Tables.Add(ResultTables.Differences(differences, data.GroupColumn!));
            result.Tables.Add(ResultTables.Homogeneity(homogeneity, data.GroupColumn!));
        }
        result.Tables.Add(ResultTables.Slopes(slopes, data.Rating, options.Confidence));
        clock.Restart();
        result.Figures.Add(ScatterGrid.Render(data, correlations, slopes, inputs, options.Confidence));
        logger.LogInformation("rating-correlation: scatter grid ({Panels} panels) in {Ms} ms", data.Rewards.Length * (data.Groups.Length + 1), clock.ElapsedMilliseconds);
        result.Findings.AddRange(Findings.Write(data, correlations, partials, differences, homogeneity, slopes, inputs));
        var noted = correlations.Count(r => r.Notes.Count > 0 && double.IsNaN(r.PearsonR));
        if (noted > 0)
            result.Warnings.Add($"{noted} correlation(s) are undefined (too few rows or a constant column); see the note column of rating_correlations.");
        return Task.FromResult(result);
    }

    private static string Where(RatingData data, string scope) =>
        scope == RatingData.AllScope ? "all rows" : $"{data.GroupColumn} {scope}";

    private void Correlate(RatingData data, string scope, double[] x, double[][] ys, List<CorrelationRow> rows)
    {
        string? shared = x.Length < MinRows
            ? $"Only {x.Length} row(s) in {Where(data, scope)}; a correlation with an interval needs at least {MinRows}."
            : IsConstant(x) ? $"'{data.Rating}' is constant in {Where(data, scope)}: correlations are undefined." : null;
        for (var t = 0; t < rows.Count; t++)
        {
            var row = rows[t];
            if (shared is not null) { row.Notes.Add(shared); continue; }
            if (IsConstant(ys[t])) { row.Notes.Add($"'{row.Reward}' is constant in {Where(data, scope)}: correlations are undefined."); continue; }
            try
            {
                var pearson = Correlation.Pearson(x, ys[t]);
                var spearman = Correlation.Spearman(x, ys[t]);
                (row.PearsonR, row.PearsonP) = (pearson.R, pearson.P);
                (row.SpearmanRho, row.SpearmanP) = (spearman.R, spearman.P);
                (row.PearsonLow, row.PearsonHigh) = FisherZ.Interval(pearson.R, x.Length, 0, options.Confidence);
                (row.SpearmanLow, row.SpearmanHigh) = FisherZ.SpearmanInterval(spearman.R, x.Length, options.Confidence);
                foreach (var (what, r) in new[] { ("Pearson r", pearson.R), ("Spearman rho", spearman.R) })
                    if (Math.Abs(r) >= 1)
                        row.Notes.Add($"{what} = {r} in {Where(data, scope)} (a perfect relation in {x.Length} rows): its Fisher-z interval collapses to a point.");
            }
            catch (DegenerateDataException e) { row.Notes.Add($"{Where(data, scope)}: {e.Message}"); }
        }
    }

    /// <summary>Pearson intervals share the resamples across rewards (one weighted cross-product per resample); Spearman re-ranks each resample.</summary>
    private void BootstrapScope(double[] x, double[][] ys, List<CorrelationRow> rows, CancellationToken token)
    {
        var b = options.Bootstrap;
        var valid = Enumerable.Range(0, rows.Count).Where(t => !double.IsNaN(rows[t].PearsonR)).ToList();
        if (valid.Count == 0) return;
        var outcomes = Bootstrap.PartialCorrelationCis(x, valid.Select(t => ys[t]).ToArray(), [], b.Method, b.Resamples, options.Confidence, b.Seed, token);
        for (var i = 0; i < valid.Count; i++)
        {
            var row = rows[valid[i]];
            if (outcomes[i].Interval is { } ci) { (row.PearsonBootLow, row.PearsonBootHigh) = (ci.Lower, ci.Upper); NoteFailures(row.Notes, ci, "Pearson"); }
            else row.Notes.Add("Pearson bootstrap interval unavailable: " + outcomes[i].Error);
        }
        foreach (var t in valid)
        {
            token.ThrowIfCancellationRequested();
            var row = rows[t];
            try
            {
                var ci = Bootstrap.CorrelationCi(x, ys[t], CorrelationMethod.Spearman, b.Method, b.Resamples, options.Confidence, b.Seed);
                (row.SpearmanBootLow, row.SpearmanBootHigh) = (ci.Lower, ci.Upper);
                NoteFailures(row.Notes, ci, "Spearman");
            }
            catch (DegenerateDataException e) { row.Notes.Add("Spearman bootstrap interval unavailable: " + e.Message); }
        }
    }

    private static void NoteFailures(List<string> notes, BootstrapInterval ci, string what)
    {
        if (ci.FailedResamples > 0) notes.Add($"{ci.FailedResamples} {what} bootstrap resample(s) were degenerate and left out.");
    }

    /// <summary>Partial r of the rating and each reward given the group dummies: the correlation within groups, pooled.</summary>
    private List<PartialRow> GroupAdjusted(RatingData data, List<CorrelationRow> correlations, CancellationToken token)
    {
        var (dummies, names) = data.Dummies();
        var label = $"{data.GroupColumn}: {names.Length} dummies ({string.Join(", ", names)}; reference {data.Groups[0]})";
        var rows = data.Rewards.Select(r => new PartialRow(r, label, data.N, names.Length)).ToList();
        for (var t = 0; t < rows.Count; t++)
        {
            var row = rows[t];
            row.RawR = correlations.First(c => c.Reward == row.Reward && c.Scope == RatingData.AllScope).PearsonR;
            try
            {
                var partial = Correlation.Partial(data.RatingValues, data.RewardValues[t], dummies, names);
                (row.R, row.P, row.Df) = (partial.R, partial.P, partial.Df);
                (row.Low, row.High) = FisherZ.Interval(partial.R, data.N, names.Length, options.Confidence);
                if (double.IsNaN(row.Low)) row.Notes.Add($"Fisher-z interval needs more than {3 + names.Length} rows.");
            }
            catch (DegenerateDataException e) { row.Notes.Add("Group-adjusted correlation undefined: " + e.Message); }
        }
        var b = options.Bootstrap;
        var valid = Enumerable.Range(0, rows.Count).Where(t => !double.IsNaN(rows[t].R)).ToList();
        if (b.Resamples > 0 && valid.Count > 0)
        {
            var outcomes = Bootstrap.PartialCorrelationCis(data.RatingValues, valid.Select(t => data.RewardValues[t]).ToArray(), dummies,
                b.Method, b.Resamples, options.Confidence, b.Seed, token);
            for (var i = 0; i < valid.Count; i++)
            {
                var row = rows[valid[i]];
                if (outcomes[i].Interval is { } ci)
                {
                    (row.BootLow, row.BootHigh) = (ci.Lower, ci.Upper);
                    if (ci.FailedResamples > 0) row.Notes.Add($"{ci.FailedResamples} bootstrap resample(s) were degenerate (e.g. a group absent) and left out.");
                }
                else row.Notes.Add("Bootstrap interval unavailable: " + outcomes[i].Error);
            }
        }
        return rows;
    }

    private SlopeRow Slope(RatingData data, string reward, string scope, double[] x, double[] y)
    {
        var row = new SlopeRow(reward, scope, x.Length);
        if (x.Length < MinRows) { row.Notes.Add($"Only {x.Length} row(s) in {Where(data, scope)}; the slope needs at least {MinRows}."); return row; }
        if (IsConstant(x)) { row.Notes.Add($"'{data.Rating}' is constant in {Where(data, scope)}: no slope."); return row; }
        Fit(row, y, [x], [data.Rating]);
        return row;
    }

    private IEnumerable<SlopeRow> WithinGroupSlopes(RatingData data)
    {
        var (dummies, names) = data.Dummies();
        for (var t = 0; t < data.Rewards.Length; t++)
        {
            var row = new SlopeRow(data.Rewards[t], WithinGroups, data.N);
            row.Notes.Add($"One intercept per {data.GroupColumn} (reference {data.Groups[0]}), so no single intercept.");
            Fit(row, data.RewardValues[t], [data.RatingValues, .. dummies], [data.Rating, .. names]);
            row.Intercept = double.NaN;
            yield return row;
        }
    }

    /// <summary>OLS of y on the columns; the slope is the first column's coefficient.</summary>
    private void Fit(SlopeRow row, double[] y, double[][] columns, string[] names)
    {
        try
        {
            var fit = Ols.Fit(y, columns, names, robust: true);
            var c = fit.Coefficient(1);
            (row.Slope, row.Intercept, row.Se, row.R2, row.DfResid) = (c.Estimate, fit.Params[0], c.Se, fit.RSquared, fit.DfResid);
            if (c.SeHc3 is { } se)
            {
                var q = StudentT.InvCDF(0, 1, fit.DfResid, 1 - (1 - options.Confidence) / 2);
                (row.SeHc3, row.THc3, row.PHc3) = (se, c.THc3!.Value, c.PHc3!.Value);
                (row.LowHc3, row.HighHc3) = (c.Estimate - q * se, c.Estimate + q * se);
            }
            else row.Notes.Add(fit.Hc3Unavailable ?? "HC3 is unavailable.");
        }
        catch (DegenerateDataException e) { row.Notes.Add($"Slope of '{row.Reward}' undefined: {e.Message}"); }
    }

    /// <summary>Fisher z tests of equal Pearson correlations for every pair of groups (BH per reward) and across all groups.</summary>
    private static (List<DifferenceRow>, List<HomogeneityRow>) CompareGroups(RatingData data, List<CorrelationRow> correlations)
    {
        var differences = new List<DifferenceRow>();
        var homogeneity = new List<HomogeneityRow>();
        foreach (var reward in data.Rewards)
        {
            var byGroup = data.Groups.ToDictionary(g => g, g => correlations.First(c => c.Reward == reward && c.Scope == g));
            string? Unusable(CorrelationRow c) =>
                double.IsNaN(c.PearsonR) ? $"{data.GroupColumn} {c.Scope} has no correlation ({c.Notes.FirstOrDefault() ?? "undefined"})"
                : Math.Abs(c.PearsonR) >= 1 ? $"{data.GroupColumn} {c.Scope} has r = {c.PearsonR}, where Fisher's z is infinite"
                : null;

            var pairs = new List<DifferenceRow>();
            for (var i = 0; i < data.Groups.Length; i++)
            for (var j = i + 1; j < data.Groups.Length; j++)
            {
                var (a, b) = (byGroup[data.Groups[i]], byGroup[data.Groups[j]]);
                var row = new DifferenceRow(reward, a.Scope, b.Scope, a.N, b.N) { RA = a.PearsonR, RB = b.PearsonR };
                var why = Unusable(a) ?? Unusable(b);
                if (why is not null) row.Notes.Add($"Not tested: {why}.");
                else
                {
                    try
                    {
                        var test = FisherZ.CompareIndependent(a.PearsonR, a.N, b.PearsonR, b.N);
                        (row.Z, row.P) = (test.Z, test.P);
                    }
                    catch (DegenerateDataException e) { row.Notes.Add("Not tested: " + e.Message); }
                }
                pairs.Add(row);
            }
            var tested = pairs.Where(p => !double.IsNaN(p.P)).ToList();
            if (tested.Count > 0)
            {
                var q = MultipleTesting.BenjaminiHochberg(tested.Select(p => p.P).ToList());
                for (var k = 0; k < tested.Count; k++) tested[k].Q = q[k];
            }
            differences.AddRange(pairs);

            var h = new HomogeneityRow(reward);
            var usable = data.Groups.Select(g => byGroup[g]).Where(c => Unusable(c) is null).ToList();
            foreach (var c in data.Groups.Select(g => byGroup[g]).Where(c => Unusable(c) is not null)) h.Notes.Add($"Left out: {Unusable(c)}.");
            h.Tested.AddRange(usable.Select(c => c.Scope));
            h.N = usable.Sum(c => c.N);
            if (usable.Count < 2) h.Notes.Add($"A homogeneity test needs at least 2 groups with a correlation, got {usable.Count}.");
            else
            {
                var test = FisherZ.Homogeneity(usable.Select(c => c.PearsonR).ToList(), usable.Select(c => c.N).ToList());
                (h.ChiSquare, h.Df, h.P, h.PooledR) = (test.ChiSquare, test.Df, test.P, test.PooledR);
            }
            homogeneity.Add(h);
        }
        return (differences, homogeneity);
    }

    private static bool IsConstant(double[] v)
    {
        for (var i = 1; i < v.Length; i++)
            if (v[i] != v[0]) return false;
        return true;
    }
}
