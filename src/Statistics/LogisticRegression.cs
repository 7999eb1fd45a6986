namespace BiasBench.Statistics;

/// <summary>
/// Maximum-likelihood logistic regression (statsmodels Logit semantics). Arrays are parallel to <see cref="Names"/>
/// (intercept "const" first when added). SEs from the inverse observed information; p-values from the normal
/// distribution; odds ratios exp(beta) with Wald intervals exp(beta +- z SE) at <see cref="Confidence"/>.
/// </summary>
public sealed record LogisticResult(
    IReadOnlyList<string> Names,
    double[] Params,
    double[] Se,
    double[] Z,
    double[] P,
    double[] OddsRatios,
    double[] OddsRatioLower,
    double[] OddsRatioUpper,
    double Confidence,
    double LogLikelihood,
    double? NullLogLikelihood,
    int Iterations,
    int N)
{
    public int IndexOf(string name)
    {
        for (int i = 0; i < Names.Count; i++)
            if (Names[i] == name) return i;
        throw new KeyNotFoundException($"No coefficient named '{name}' (have: {string.Join(", ", Names)}).");
    }

    /// <summary>Wald interval of each coefficient, beta -+ z SE at <see cref="Confidence"/> (statsmodels' conf_int()).</summary>
    public double[] ParamsLower { get; init; } = [];

    /// <inheritdoc cref="ParamsLower"/>
    public double[] ParamsUpper { get; init; } = [];

    /// <summary>McFadden's pseudo R^2 = 1 - llf / llnull (null when there is no intercept).</summary>
    public double? PseudoRSquared => NullLogLikelihood is { } ll0 ? 1.0 - LogLikelihood / ll0 : null;
}

/// <summary>Logistic regression fitted by Newton-Raphson (IRLS) with step halving.</summary>
public static class LogisticRegression
{
    /// <summary>
    /// Fits P(y = 1) = logistic(X beta). Throws <see cref="DegenerateDataException"/> for a non-binary or single-class
    /// outcome, a rank-deficient design, (quasi-)complete separation, or non-convergence, naming the columns involved.
    /// </summary>
    public static LogisticResult Fit(double[] y, IReadOnlyList<double[]> columns, IReadOnlyList<string>? names = null,
        bool addIntercept = true, double confidence = 0.95, int maxIterations = 100, double tolerance = 1e-10)
    {
        Validation.NotNull(y, nameof(y));
        if (!Kernels.IsBinary(y, out int ones))
            throw new DegenerateDataException("Logistic regression outcome must contain only 0 and 1.", new[] { "y" });
        if (ones == 0 || ones == y.Length)
            throw new DegenerateDataException($"Logistic regression outcome has a single class (all {(ones == 0 ? 0 : 1)}).", new[] { "y" });
        var design = OlsDesign.Create(columns, names, addIntercept); // validates lengths, finiteness, collinearity
        Validation.SameLength(design.N, y.Length, nameof(y));
        var x = design.Columns;
        int n = y.Length, p = x.Length;
        var beta = new double[p];
        var eta = new double[n];
        var weights = new double[n];
        var score = new double[n];
        double llf = LogLikelihood(y, eta);
        bool converged = false;
        int iteration = 0;
        for (; iteration < maxIterations && !converged; iteration++)
        {
            for (int i = 0; i < n; i++)
            {
                double mu = Sigmoid(eta[i]);
                weights[i] = mu * (1 - mu);
                score[i] = y[i] - mu;
            }
            var gradient = new double[p];
            Parallel.For(0, p, j => gradient[j] = Kernels.Dot(x[j], score));
            var hessian = OlsDesign.WeightedGram(x, weights);
            var upper = OlsDesign.TryCholesky(hessian, p)
                ?? throw SeparationError(design, beta, "the information matrix became singular");
            var step = OlsDesign.CholeskySolve(upper, p, gradient);

            double scale = 1.0, newLlf = double.NegativeInfinity;
            double[] candidate = new double[p];
            double[] newEta = new double[n];
            for (int halving = 0; halving < 40; halving++, scale *= 0.5)
            {
                for (int j = 0; j < p; j++) candidate[j] = beta[j] + scale * step[j];
                LinearPredictor(x, candidate, newEta);
                newLlf = LogLikelihood(y, newEta);
                if (newLlf >= llf - 1e-12 * Math.Abs(llf)) break;
            }
            double maxChange = 0, maxBeta = 0;
            for (int j = 0; j < p; j++)
            {
                maxChange = Math.Max(maxChange, Math.Abs(candidate[j] - beta[j]));
                maxBeta = Math.Max(maxBeta, Math.Abs(candidate[j]));
            }
            Array.Copy(candidate, beta, p);
            Array.Copy(newEta, eta, n);
            bool smallStep = maxChange <= tolerance * (1 + maxBeta);
            bool flatLikelihood = Math.Abs(newLlf - llf) <= 1e-14 * Math.Abs(llf) && maxChange <= 1e-6 * (1 + maxBeta);
            llf = newLlf;
            converged = smallStep || flatLikelihood;
        }

        // Perfect prediction: every fitted probability equals its outcome, the MLE does not exist.
        double worst = 0;
        for (int i = 0; i < n; i++) worst = Math.Max(worst, Math.Abs(y[i] - Sigmoid(eta[i])));
        if (worst < 1e-8) throw SeparationError(design, beta, "perfect separation: the predictors classify every row exactly");
        if (!converged)
            throw SeparationError(design, beta, $"Newton-Raphson did not converge in {maxIterations} iterations");

        for (int i = 0; i < n; i++)
        {
            double mu = Sigmoid(eta[i]);
            weights[i] = mu * (1 - mu);
        }
        var finalUpper = OlsDesign.TryCholesky(OlsDesign.WeightedGram(x, weights), p)
            ?? throw SeparationError(design, beta, "the information matrix is singular at the estimate");
        var covariance = OlsDesign.InverseFromUpper(finalUpper, p);
        double crit = Proportions.CriticalValue(confidence);
        var se = new double[p];
        var z = new double[p];
        var pv = new double[p];
        var or = new double[p];
        var orLow = new double[p];
        var orHigh = new double[p];
        var suspicious = new List<string>();
        for (int j = 0; j < p; j++)
        {
            se[j] = Math.Sqrt(covariance[j * p + j]);
            z[j] = beta[j] / se[j];
            pv[j] = Distributions.NormalTwoSided(z[j]);
            or[j] = Math.Exp(beta[j]);
            orLow[j] = Math.Exp(beta[j] - crit * se[j]);
            orHigh[j] = Math.Exp(beta[j] + crit * se[j]);
            // Quasi-complete separation drives a coefficient to a huge value with an even larger SE.
            if (Math.Abs(beta[j]) > 15 && se[j] > 100) suspicious.Add(design.Names[j]);
        }
        if (suspicious.Count > 0)
            throw new DegenerateDataException(
                $"Logistic regression shows quasi-complete separation: coefficient(s) of {string.Join(", ", suspicious.Select(s => $"'{s}'"))} diverge (|beta| > 15 with SE > 100); the MLE does not exist.",
                suspicious);
        double? llNull = null;
        if (design.HasIntercept)
        {
            double rate = (double)ones / n;
            llNull = ones * Math.Log(rate) + (n - ones) * Math.Log(1 - rate);
        }
        return new LogisticResult(design.Names, beta, se, z, pv, or, orLow, orHigh, confidence, llf, llNull, iteration, n)
        {
            ParamsLower = [.. Enumerable.Range(0, p).Select(j => beta[j] - crit * se[j])],
            ParamsUpper = [.. Enumerable.Range(0, p).Select(j => beta[j] + crit * se[j])],
        };
    }

    private static DegenerateDataException SeparationError(OlsDesign design, double[] beta, string reason)
    {
        // Name the columns with the largest coefficients: those are the ones being pushed to infinity.
        var order = Enumerable.Range(0, beta.Length).OrderByDescending(j => Math.Abs(beta[j])).Take(3).ToArray();
        var named = order.Select(j => design.Names[j]).ToArray();
        return new DegenerateDataException(
            $"Logistic regression failed: {reason} (likely separation; largest coefficients: {string.Join(", ", order.Select(j => $"{design.Names[j]}={beta[j]:G4}"))}).",
            named);
    }

    private static void LinearPredictor(double[][] x, double[] beta, double[] eta)
    {
        Array.Clear(eta);
        for (int j = 0; j < x.Length; j++) Kernels.SubtractScaled(eta, -beta[j], x[j]);
    }

    /// <summary>sum_i y_i eta_i - log(1 + exp(eta_i)), evaluated without overflow.</summary>
    private static double LogLikelihood(double[] y, double[] eta)
    {
        double total = 0;
        for (int i = 0; i < y.Length; i++)
        {
            double e = eta[i];
            double softplus = e > 0 ? e + Math.Log(1 + Math.Exp(-e)) : Math.Log(1 + Math.Exp(e));
            total += y[i] * e - softplus;
        }
        return total;
    }

    private static double Sigmoid(double e) => e >= 0 ? 1.0 / (1.0 + Math.Exp(-e)) : Math.Exp(e) / (1.0 + Math.Exp(e));
}
