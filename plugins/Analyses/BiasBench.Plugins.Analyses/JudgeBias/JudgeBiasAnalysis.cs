using System.ComponentModel.DataAnnotations;
using BiasBench.Abstractions;
using BiasBench.Plugins.Analyses.Common;
using BiasBench.Statistics;
using Microsoft.Extensions.Logging;
using ScottPlot;

namespace BiasBench.Plugins.Analyses.JudgeBias;

public sealed class JudgeBiasOptions
{
    /// <summary>The judge's binary verdict (e.g. a VLM answering "real"): 0/1, -1/+1, or text with <see cref="PositiveLabel"/>.</summary>
    [Required] public string VerdictColumn { get; set; } = "judged_real";

    /// <summary>Text verdict that counts as 1 (e.g. "real").</summary>
    public string? PositiveLabel { get; set; }

    /// <summary>Predictors of the verdict; the first is the one the findings are about (default Attractive).</summary>
    [Required, MinLength(1)] public List<string> Predictors { get; set; } = ["Attractive"];

    /// <summary>Id column used to join a judgements table with an attribute table (when there are two inputs).</summary>
    public string IdColumn { get; set; } = "image_id";

    /// <summary>Rows with a missing verdict or predictor: error, or drop (reported).</summary>
    [RegularExpression("^(error|drop)$", ErrorMessage = "missing must be 'error' or 'drop'.")]
    public string Missing { get; set; } = "error";

    [Range(0.5, 0.9999)] public double Confidence { get; set; } = 0.95;
}

/// <summary>
/// Does a judge's verdict follow attractiveness? Logistic regression (statsmodels Logit) of the verdict on
/// attractiveness and covariates: coefficients, SEs, Wald z p-values, odds ratios with Wald intervals.
/// </summary>
public sealed class JudgeBiasAnalysis(JudgeBiasOptions options) : IAnalysis
{
    public string Name => "judge-bias";

    public Task<AnalysisResult> RunAsync(AnalysisInputs inputs, ILogger logger, CancellationToken cancellationToken)
    {
        var result = new AnalysisResult();
        var table = InputTables.SingleOrJoined(inputs, Name, options.IdColumn, result.Warnings);
        foreach (var c in options.Predictors.Append(options.VerdictColumn))
            if (!table.Contains(c))
                throw new InvalidDataException($"Table '{table.Name}'{(table.Source is null ? "" : $" ({table.Source})")} has no column '{c}' (columns: {string.Join(", ", table.Columns.Select(x => x.Name))}).");
        var y = InputTables.Binary(table, options.VerdictColumn, options.PositiveLabel);
        var xs = options.Predictors.Select(p => table[p] is NumericColumn n ? n.Values
            : throw new InvalidDataException($"Predictor '{p}' of '{table.Name}' is text; logistic regression needs numeric predictors (0/1 for attributes).")).ToList();

        var complete = Enumerable.Range(0, y.Length).Where(r => !double.IsNaN(y[r]) && xs.All(x => !double.IsNaN(x[r]))).ToList();
        if (complete.Count < y.Length)
        {
            var message = $"{y.Length - complete.Count} of {y.Length} rows have a missing verdict or predictor";
            if (options.Missing == "error") throw new InvalidDataException(message + "; set missing: drop to fit on the complete rows.");
            result.Warnings.Add(message + " and were dropped (missing: drop).");
        }
        var yc = complete.Select(r => y[r]).ToArray();
        var xc = xs.Select(x => complete.Select(r => x[r]).ToArray()).ToList();
        var fit = LogisticRegression.Fit(yc, xc, options.Predictors, confidence: options.Confidence);

        result.Tables.Add(new DataTable("judge_logit_coefficients")
            {
                Caption = $"Logit of P({options.VerdictColumn} = 1): maximum likelihood (Newton), SEs from the observed information, Wald {options.Confidence:P0} intervals of beta (ci_low, ci_high), Wald z p-values, " +
                          $"odds ratios exp(beta) with Wald {options.Confidence:P0} intervals. n = {fit.N}.",
            }
            .Add("term", fit.Names.Select(n => (string?)n).ToArray())
            .Add("estimate", fit.Params).Add("se", fit.Se).Add("ci_low", fit.ParamsLower).Add("ci_high", fit.ParamsUpper).Add("z", fit.Z).Add("p", fit.P)
            .Add("odds_ratio", fit.OddsRatios).Add("or_low", fit.OddsRatioLower).Add("or_high", fit.OddsRatioUpper));
        result.Tables.Add(new DataTable("judge_logit_fit")
            .Add("n", new[] { (double)fit.N })
            .Add("positive_rate", new[] { yc.Average() })
            .Add("log_likelihood", new[] { fit.LogLikelihood })
            .Add("null_log_likelihood", new[] { fit.NullLogLikelihood ?? double.NaN })
            .Add("pseudo_r2_mcfadden", new[] { fit.PseudoRSquared ?? double.NaN })
            .Add("iterations", new[] { (double)fit.Iterations }));

        var focus = options.Predictors[0];
        var i = fit.IndexOf(focus);
        var controls = options.Predictors.Skip(1).ToList();
        result.Findings.Add(new Finding(
            $"Judge verdict '{options.VerdictColumn}': odds {(fit.OddsRatios[i] >= 1 ? "×" : "×")}{Format.Num(fit.OddsRatios[i])} when {focus} = 1 " +
            $"({options.Confidence:P0} CI {Format.Num(fit.OddsRatioLower[i])}–{Format.Num(fit.OddsRatioUpper[i])}, {Format.P(fit.P[i])}, n={fit.N})" +
            (controls.Count > 0 ? $", controlling for {string.Join(", ", controls)}." : ".")));
        result.Figures.Add(Forest(fit));
        logger.LogInformation("judge-bias: logit on {N} rows converged in {Iterations} iterations", fit.N, fit.Iterations);
        return Task.FromResult(result);
    }

    /// <summary>Forest plot of the odds ratios (log axis drawn as log10 values with labelled ticks).</summary>
    private Figure Forest(LogisticResult fit)
    {
        var plot = new Plot();
        var terms = Enumerable.Range(0, fit.Names.Count).Where(k => fit.Names[k] != "const").ToList();
        var ticks = new List<Tick>();
        for (var j = 0; j < terms.Count; j++)
        {
            var k = terms[j]; var yPos = terms.Count - 1 - j;
            var or = Math.Log10(fit.OddsRatios[k]);
            var line = plot.Add.Line(Math.Log10(fit.OddsRatioLower[k]), yPos, Math.Log10(fit.OddsRatioUpper[k]), yPos);
            line.LineWidth = 2; line.Color = Colors.Black;
            var m = plot.Add.Marker(or, yPos); m.Size = 9; m.Color = Colors.Black;
            ticks.Add(new Tick(yPos, fit.Names[k]));
        }
        plot.Add.VerticalLine(0, 1, Colors.Gray);
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks.ToArray());
        var labels = new[] { 0.25, 0.5, 1, 2, 4, 8 }.Select(v => new Tick(Math.Log10(v), v.ToString(System.Globalization.CultureInfo.InvariantCulture))).ToArray();
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(labels);
        plot.XLabel("odds ratio (log scale)");
        plot.Title($"{options.VerdictColumn}: odds ratios ({options.Confidence:P0} CI)", size: 13);
        return FigureGrid.Render("judge-odds-ratios", "Odds ratios of the judge's verdict with Wald intervals (log scale).", [plot], 1, 560, 120 + 60 * terms.Count);
    }
}
