using System.Diagnostics;
using BiasBench.Abstractions;
using BiasBench.Statistics;
using Microsoft.Extensions.Logging;

namespace BiasBench.Plugins.Analyses.AttributeBias;

/// <summary>
/// "Which face attributes does each reward model like?" A score table joined to an attribute table (CelebA's 40 binary
/// attributes, SCUT ratings): correlations of every reward with every attribute, partial correlations of the target
/// attribute (Attractive) controlling for confounders, OLS on all attributes, correlations within strata (e.g. Male)
/// and bootstrap intervals.
/// </summary>
public sealed class AttributeBiasAnalysis(AttributeBiasOptions options) : IAnalysis
{
    public const string AnalysisName = "attribute-bias";

    /// <summary>Stands for every attribute except the target in a covariate set.</summary>
    public const string AllOthers = "all";

    public string Name => AnalysisName;

    public Task<AnalysisResult> RunAsync(AnalysisInputs inputs, ILogger logger, CancellationToken cancellationToken)
    {
        options.Bootstrap ??= new AttributeBiasBootstrapOptions();
        // Nested options are not validated by the config binder; check here so a typo fails before any work.
        if (options.Bootstrap.Resamples is < 0 or > 0 and < 100)
            throw new InvalidDataException($"bootstrap.resamples is {options.Bootstrap.Resamples}; use 0 (no bootstrap) or at least 100 (e.g. 2000).");
        var result = new AnalysisResult();
        var clock = Stopwatch.StartNew();
        var data = AttributeData.Prepare(inputs, options, result.Warnings);
        if (data.Target is null)
            result.Warnings.Add($"No target attribute (default 'Attractive' is not among the attributes): set `target` for partial " +
                                "correlations, bootstrap intervals and stratified summaries.");
        var constant = data.Attributes.Where((_, j) => data.Constant[j]).ToList();
        if (constant.Count > 0)
            result.Warnings.Add($"Constant attribute(s) {AttributeData.Preview(constant)}: correlations and Cohen's d are undefined and they were left out of the OLS.");

        var stages = new List<string> { $"prepare {clock.ElapsedMilliseconds} ms" };
        void Lap(string stage) { stages.Add($"{stage} {clock.ElapsedMilliseconds} ms"); cancellationToken.ThrowIfCancellationRequested(); clock.Restart(); }
        clock.Restart();
        var correlations = Correlations(data);
        Lap("correlations");
        var (coefficients, fits) = FitOls(data, result.Warnings);
        Lap("OLS");
        var partials = data.Target is null ? [] : Partials(data, correlations, result.Warnings);
        Lap("partial");
        var strata = Stratified(data);
        Lap("strata");
        logger.LogInformation("attribute-bias: {Rows} rows x {Attributes} attributes x {Rewards} rewards: {Stages}",
            data.N, data.Attributes.Length, data.Rewards.Length, string.Join(", ", stages));

        if (options.Bootstrap.Resamples > 0 && data.Target is not null)
        {
            clock.Restart();
            BootstrapTarget(data, correlations, partials, cancellationToken);
            logger.LogInformation("attribute-bias: bootstrap ({Resamples} resamples, {Method}) in {Ms} ms",
                options.Bootstrap.Resamples, options.Bootstrap.Method, clock.ElapsedMilliseconds);
        }

        result.Tables.Add(ResultTables.Correlations(correlations, options.Confidence));
        if (partials.Count > 0) result.Tables.Add(ResultTables.Partials(partials, options.Confidence));
        result.Tables.Add(ResultTables.OlsCoefficients(coefficients));
        result.Tables.Add(ResultTables.OlsFit(fits));
        if (data.StratifyBy is not null) result.Tables.Add(ResultTables.Stratified(strata, data.StratifyBy));

        result.Figures.Add(Charts.CorrelationBars(correlations, data, inputs, options.Confidence));
        result.Figures.Add(Charts.Heatmap(correlations, data, inputs));
        if (partials.Count > 0) result.Figures.Add(Charts.RawVsPartial(partials, inputs));
        result.Findings.AddRange(Findings.Write(data, correlations, partials, coefficients, fits, strata, inputs));
        return Task.FromResult(result);
    }

    /// <summary>All rewards x attributes in one scan; BH per reward across attributes; Cohen's d for binary attributes.</summary>
    private List<CorrelationRow> Correlations(AttributeData data)
    {
        var scan = CorrelationScan.Run(data.RewardValues, data.AttributeValues, data.Rewards, data.Attributes, spearman: true);
        int nr = data.Rewards.Length, na = data.Attributes.Length;
        var rows = new CorrelationRow[nr * na];
        Parallel.For(0, nr * na, k =>
        {
            int t = k / na, a = k % na;
            var row = rows[k] = new CorrelationRow(data.Rewards[t], data.Attributes[a], data.N);
            if (scan.Pearson[t][a] is { } p) (row.PearsonR, row.PearsonP) = (p.R, p.P);
            if (scan.Spearman![t][a] is { } s) (row.SpearmanRho, row.SpearmanP) = (s.R, s.P);
            if (scan.Reasons[t][a] is { } reason) row.Notes.Add("Correlation undefined: " + reason);
            if (!data.Binary[a]) return;
            if (data.Constant[a]) { row.Notes.Add("Cohen's d undefined: the attribute is constant."); return; }
            try { row.CohensD = EffectSize.CohensDByBinaryGroup(data.RewardValues[t], data.AttributeValues[a]); }
            catch (DegenerateDataException e) { row.Notes.Add("Cohen's d: " + e.Message); }
        });
        foreach (var group in rows.GroupBy(r => r.Reward))
        {
            FillQ(group.ToList(), r => r.PearsonP, (r, q) => r.PearsonQ = q);
            FillQ(group.ToList(), r => r.SpearmanP, (r, q) => r.SpearmanQ = q);
        }
        foreach (var row in rows)
        {
            (row.CiLow, row.CiHigh) = FisherCi(row.PearsonR, row.N, 0, options.Confidence);
            if (!double.IsNaN(row.CiLow)) row.CiMethod = "fisher_z";
        }
        return rows.ToList();
    }

    private static void FillQ(List<CorrelationRow> rows, Func<CorrelationRow, double> p, Action<CorrelationRow, double> set)
    {
        var tested = rows.Where(r => !double.IsNaN(p(r))).ToList();
        if (tested.Count == 0) return;
        var q = MultipleTesting.BenjaminiHochberg(tested.Select(p).ToList());
        for (var i = 0; i < tested.Count; i++) set(tested[i], q[i]);
    }

    /// <summary>Each reward on all non-constant attributes: one factorised design shared by every reward.</summary>
    private static (List<(string, OlsCoefficient)> Coefficients, List<OlsFitRow> Fits) FitOls(AttributeData data, List<string> warnings)
    {
        var coefficients = new List<(string, OlsCoefficient)>();
        var fits = new List<OlsFitRow>();
        var used = Enumerable.Range(0, data.Attributes.Length).Where(j => !data.Constant[j]).ToList();
        OlsDesign design;
        try
        {
            design = OlsDesign.Create(used.Select(j => data.AttributeValues[j]).ToArray(), used.Select(j => data.Attributes[j]).ToArray());
        }
        catch (DegenerateDataException e)
        {
            var message = $"OLS on all attributes is not estimable: {e.Message} Drop or merge the redundant attributes via `attributes`.";
            warnings.Add(message);
            fits.AddRange(data.Rewards.Select(r => new OlsFitRow(r, data.N, used.Count + 1, double.NaN, double.NaN, double.NaN, message)));
            return (coefficients, fits);
        }
        var results = new OlsResult?[data.Rewards.Length];
        var notes = new string?[data.Rewards.Length];
        for (var t = 0; t < data.Rewards.Length; t++)
        {
            try
            {
                var fit = results[t] = design.Fit(data.RewardValues[t], robust: true);
                if (fit.Hc3Unavailable is not null) notes[t] = fit.Hc3Unavailable;
            }
            catch (DegenerateDataException e) { notes[t] = $"OLS of '{data.Rewards[t]}': {e.Message}"; }
        }
        for (var t = 0; t < data.Rewards.Length; t++)
        {
            var fit = results[t];
            if (fit is not null) coefficients.AddRange(fit.Coefficients.Select(c => (data.Rewards[t], c)));
            fits.Add(new OlsFitRow(data.Rewards[t], data.N, design.P, fit?.RSquared ?? double.NaN, fit?.AdjRSquared ?? double.NaN,
                fit?.DfResid ?? double.NaN, notes[t]));
        }
        return (coefficients, fits);
    }

    private List<List<string>> ResolveCovariateSets(AttributeData data, List<string> warnings)
    {
        var target = data.Target!;
        var sets = options.CovariateSets is { Count: > 0 } configured ? configured : data.DefaultCovariateSets(warnings);
        var resolved = new List<List<string>>();
        foreach (var set in sets)
        {
            if (set is null || set.Count == 0) throw new InvalidDataException("covariate_sets contains an empty set; use [] only for the raw correlation, which is always reported.");
            if (set.Contains(AllOthers))
            {
                if (set.Count > 1) throw new InvalidDataException($"Covariate set [{string.Join(", ", set)}]: '{AllOthers}' already means every other attribute; list it alone.");
                resolved.Add([AllOthers]);
                continue;
            }
            foreach (var name in set)
            {
                if (name == target) throw new InvalidDataException($"Covariate set [{string.Join(", ", set)}] contains the target attribute '{target}' itself.");
                if (!data.Attributes.Contains(name))
                    throw new InvalidDataException($"Covariate '{name}' of set [{string.Join(", ", set)}] is not among the attributes of '{data.TableName}' " +
                                                   $"(attributes: {AttributeData.Preview(data.Attributes)}).");
            }
            resolved.Add(set.Distinct().ToList());
        }
        return resolved;
    }

    /// <summary>
    /// Partial r of target and reward given each covariate set: one design per set, shared by the target and every
    /// reward (the same residual-correlation definition as Correlation.Partial).
    /// </summary>
    private List<PartialRow> Partials(AttributeData data, List<CorrelationRow> correlations, List<string> warnings)
    {
        var target = data.Target!;
        var x = data.Attribute(target);
        var rows = new List<PartialRow>();
        foreach (var set in ResolveCovariateSets(data, warnings))
        {
            var names = set;
            string label;
            var notes = new List<string>();
            if (set is [AllOthers])
            {
                var others = data.Attributes.Where((a, j) => a != target).ToList();
                names = others.Where(a => !data.Constant[data.AttributeIndex(a)]).ToList();
                if (names.Count < others.Count) notes.Add($"Constant attribute(s) left out of '{AllOthers}': {string.Join(", ", others.Except(names))}.");
                label = $"all_other_{names.Count}";
            }
            else label = string.Join("+", set);

            var setRows = data.Rewards.Select(r => new PartialRow(r, target, label, names, data.N)).ToList();
            foreach (var row in setRows)
            {
                row.Notes.AddRange(notes);
                row.Raw = correlations.First(c => c.Reward == row.Reward && c.Attribute == target);
                row.RawR = row.Raw.PearsonR;
            }
            rows.AddRange(setRows);

            var k = names.Count;
            if (data.Constant[data.AttributeIndex(target)])
            {
                foreach (var row in setRows) row.Notes.Add($"Partial correlation undefined: '{target}' is constant.");
                continue;
            }
            if (k == 0)
            {
                // e.g. `all` with a single attribute: nothing to hold fixed, the partial is the raw correlation.
                foreach (var row in setRows) row.Notes.Add("No covariates in this set: the partial correlation is the raw one.");
                continue;
            }
            if (data.N - 2 - k < 1)
            {
                foreach (var row in setRows) row.Notes.Add($"Partial correlation with {k} covariates needs more than {k + 2} rows, got {data.N}.");
                continue;
            }
            double[] rx;
            try
            {
                var design = OlsDesign.Create(names.Select(data.Attribute).ToArray(), names);
                rx = design.Residuals(x);
                Parallel.For(0, setRows.Count, t =>
                {
                    var row = setRows[t];
                    try
                    {
                        var ry = design.Residuals(data.RewardValues[t]);
                        var r = Correlation.Pearson(rx, ry).R;
                        (row.R, row.Df) = (r, data.N - 2 - k);
                        row.P = Distributions.CorrelationTwoSided(r, data.N - 2 - k);
                        (row.CiLow, row.CiHigh) = FisherCi(r, data.N, k, options.Confidence);
                        row.CiMethod = "fisher_z";
                    }
                    catch (DegenerateDataException e)
                    {
                        row.Notes.Add(Explain(e, target, label));
                    }
                });
            }
            catch (DegenerateDataException e)
            {
                var message = $"Covariate set '{label}': {e.Message}";
                warnings.Add($"Partial correlations of '{target}' controlling for {label} are undefined. {message}");
                foreach (var row in setRows) row.Notes.Add(message);
            }
        }
        return rows;
    }

    /// <summary>Residual correlations fail when the target (or reward) is a linear function of the covariates; say so in words.</summary>
    private static string Explain(DegenerateDataException e, string target, string label) =>
        e.Message.Contains("'x' is constant", StringComparison.Ordinal)
            ? $"Partial correlation undefined: '{target}' is a linear function of the covariates in '{label}' (nothing is left of it after controlling for them)."
            : e.Message.Contains("'y' is constant", StringComparison.Ordinal)
                ? $"Partial correlation undefined: the reward is a linear function of the covariates in '{label}'."
                : "Partial correlation undefined: " + e.Message;

    private List<StratumRow> Stratified(AttributeData data)
    {
        var rows = new List<StratumRow>();
        if (data.StratifyBy is null) return rows;
        var features = Enumerable.Range(0, data.Attributes.Length).Where(j => data.Attributes[j] != data.StratifyBy).ToList();
        var labels = data.Strata!;
        foreach (var level in labels.Distinct().OrderBy(l => l, StratumOrder.Instance))
        {
            var idx = Enumerable.Range(0, data.N).Where(i => labels[i] == level).ToArray();
            double[] Sub(double[] v) { var s = new double[idx.Length]; for (var i = 0; i < idx.Length; i++) s[i] = v[idx[i]]; return s; }
            if (idx.Length < 3)
            {
                foreach (var reward in data.Rewards)
                foreach (var j in features)
                    rows.Add(new StratumRow(reward, data.Attributes[j], level!, idx.Length, double.NaN, double.NaN, double.NaN, double.NaN,
                        $"Only {idx.Length} row(s) in this stratum; a correlation needs at least 3."));
                continue;
            }
            var scan = CorrelationScan.Run(data.RewardValues.Select(Sub).ToArray(), features.Select(j => Sub(data.AttributeValues[j])).ToArray(),
                data.Rewards, features.Select(j => data.Attributes[j]).ToArray());
            for (var t = 0; t < data.Rewards.Length; t++)
            for (var f = 0; f < features.Count; f++)
            {
                var p = scan.Pearson[t][f]; var s = scan.Spearman![t][f];
                rows.Add(new StratumRow(data.Rewards[t], data.Attributes[features[f]], level!, idx.Length,
                    p?.R ?? double.NaN, p?.P ?? double.NaN, s?.R ?? double.NaN, s?.P ?? double.NaN,
                    scan.Reasons[t][f] is { } reason ? "Correlation undefined in this stratum: " + reason : null));
            }
        }
        return rows;
    }

    /// <summary>
    /// Bootstrap intervals replace the Fisher-z ones for the target's raw and partial correlations. Every reward shares
    /// the resamples of one covariate set (the raw correlations are the empty set), so each set costs one pass.
    /// </summary>
    private void BootstrapTarget(AttributeData data, List<CorrelationRow> correlations, List<PartialRow> partials, CancellationToken token)
    {
        var b = options.Bootstrap;
        var method = $"bootstrap_{b.Method.ToString().ToLowerInvariant()}";
        var x = data.Attribute(data.Target!);

        void Apply(IReadOnlyList<string> covariates, IReadOnlyList<IIntervalRow> rows)
        {
            if (rows.Count == 0) return;
            token.ThrowIfCancellationRequested();
            var rewards = rows.Select(r => data.RewardValues[Array.IndexOf(data.Rewards, r.Reward)]).ToArray();
            var outcomes = Bootstrap.PartialCorrelationCis(x, rewards, covariates.Select(data.Attribute).ToArray(),
                b.Method, b.Resamples, options.Confidence, b.Seed, token);
            for (var i = 0; i < rows.Count; i++)
            {
                if (outcomes[i].Interval is { } ci)
                {
                    (rows[i].CiLow, rows[i].CiHigh, rows[i].CiMethod) = (ci.Lower, ci.Upper, method);
                    if (ci.FailedResamples > 0) rows[i].Notes.Add($"{ci.FailedResamples} bootstrap resample(s) were degenerate and left out.");
                }
                else rows[i].Notes.Add("Bootstrap interval unavailable (Fisher z shown): " + outcomes[i].Error);
            }
        }

        Apply([], data.Rewards
            .Select(reward => correlations.First(c => c.Reward == reward && c.Attribute == data.Target))
            .Where(c => !double.IsNaN(c.PearsonR))
            .ToList<IIntervalRow>());
        foreach (var set in partials.Where(p => !double.IsNaN(p.R)).GroupBy(p => p.CovariateSet))
            Apply(set.First().Covariates, set.ToList<IIntervalRow>());
    }

    /// <summary>Fisher-z interval of a (partial) correlation: tanh(atanh r ± z / sqrt(n - 3 - k)).</summary>
    public static (double Low, double High) FisherCi(double r, int n, int k, double confidence) => FisherZ.Interval(r, n, k, confidence);

    /// <summary>Numeric stratum labels in numeric order, text ones ordinally.</summary>
    private sealed class StratumOrder : IComparer<string?>
    {
        public static readonly StratumOrder Instance = new();

        public int Compare(string? a, string? b)
        {
            var na = double.TryParse(a, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var x);
            var nb = double.TryParse(b, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var y);
            return na && nb ? x.CompareTo(y) : string.CompareOrdinal(a, b);
        }
    }
}
