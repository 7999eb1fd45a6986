namespace BiasBench.Statistics;

/// <summary>One coefficient of an OLS fit; the HC3 fields are null when HC3 is unavailable (see <see cref="OlsResult.Hc3Unavailable"/>).</summary>
public sealed record OlsCoefficient(string Name, double Estimate, double Se, double T, double P, double? SeHc3, double? THc3, double? PHc3);

/// <summary>
/// Ordinary least squares fit (statsmodels OLS semantics). Arrays are parallel to <see cref="Names"/>; the intercept,
/// when added, is first and named "const". Classic SEs use sigma^2 = SSR / DfResid; HC3 SEs use
/// (X'X)^-1 X' diag(e_i^2 / (1 - h_i)^2) X (X'X)^-1. p-values are two-sided t tests on DfResid degrees of freedom.
/// </summary>
public sealed record OlsResult(
    IReadOnlyList<string> Names,
    double[] Params,
    double[] Se,
    double[] T,
    double[] P,
    double[]? SeHc3,
    double[]? THc3,
    double[]? PHc3,
    string? Hc3Unavailable,
    double RSquared,
    double AdjRSquared,
    double DfResid,
    int N,
    double Ssr,
    bool HasIntercept)
{
    public int IndexOf(string name)
    {
        for (int i = 0; i < Names.Count; i++)
            if (Names[i] == name) return i;
        throw new KeyNotFoundException($"No coefficient named '{name}' (have: {string.Join(", ", Names)}).");
    }

    public OlsCoefficient this[string name] => Coefficient(IndexOf(name));

    public OlsCoefficient Coefficient(int index) => new(Names[index], Params[index], Se[index], T[index], P[index],
        SeHc3?[index], THc3?[index], PHc3?[index]);

    public IEnumerable<OlsCoefficient> Coefficients => Enumerable.Range(0, Names.Count).Select(Coefficient);
}

/// <summary>OLS with an intercept (statsmodels.OLS(y, add_constant(X)) semantics).</summary>
public static class Ols
{
    public const string InterceptName = "const";

    /// <summary>
    /// Fits y on the <paramref name="columns"/> (each a column of length n) plus an intercept.
    /// Throws <see cref="DegenerateDataException"/> naming the columns when the design is rank deficient.
    /// To fit many outcomes on one design, create an <see cref="OlsDesign"/> once and call <see cref="OlsDesign.Fit"/>.
    /// </summary>
    public static OlsResult Fit(double[] y, IReadOnlyList<double[]> columns, IReadOnlyList<string>? names = null,
        bool addIntercept = true, bool robust = true)
        => OlsDesign.Create(columns, names, addIntercept).Fit(y, robust);
}

/// <summary>
/// A factorised OLS design: X'X, its Cholesky factor and (lazily) the leverages are computed once and reused for
/// every outcome. Work is split into fixed row chunks processed in parallel and summed in chunk order, so results
/// do not depend on the number of threads.
/// </summary>
public sealed class OlsDesign
{
    private const int ChunkRows = 2048;
    private const double CollinearityTolerance = 1e-10;

    private readonly double[][] _columns;
    private readonly string[] _names;
    private readonly double[] _upper;       // R (p x p, row-major, upper) with X'X = R'R
    private readonly double[] _gramInverse; // (X'X)^-1, row-major
    private readonly Lazy<double[]> _leverage;

    private OlsDesign(double[][] columns, string[] names, bool hasIntercept, double[] upper, double[] gramInverse)
    {
        _columns = columns;
        _names = names;
        HasIntercept = hasIntercept;
        _upper = upper;
        _gramInverse = gramInverse;
        _leverage = new Lazy<double[]>(ComputeLeverage, LazyThreadSafetyMode.ExecutionAndPublication);
    }

    public int N => _columns[0].Length;
    public int P => _columns.Length;
    public bool HasIntercept { get; }
    public IReadOnlyList<string> Names => _names;

    /// <summary>The design columns, intercept included (shared, do not modify).</summary>
    internal double[][] Columns => _columns;

    /// <summary>Cholesky factor R of a symmetric positive definite matrix (row-major), or null when it is not positive definite.</summary>
    internal static double[]? TryCholesky(double[] a, int p)
    {
        var upper = new double[p * p];
        for (int j = 0; j < p; j++)
        {
            for (int i = 0; i <= j; i++)
            {
                double s = a[i * p + j];
                for (int k = 0; k < i; k++) s -= upper[k * p + i] * upper[k * p + j];
                if (i == j)
                {
                    if (!(s > 1e-14 * Math.Abs(a[j * p + j])) || !(s > 0)) return null;
                    upper[j * p + j] = Math.Sqrt(s);
                }
                else upper[i * p + j] = s / upper[i * p + i];
            }
        }
        return upper;
    }

    /// <summary>Diagonal of the hat matrix, h_i = x_i' (X'X)^-1 x_i.</summary>
    public IReadOnlyList<double> Leverage => _leverage.Value;

    public static OlsDesign Create(IReadOnlyList<double[]> columns, IReadOnlyList<string>? names = null, bool addIntercept = true)
    {
        Validation.NotNull(columns, nameof(columns));
        if (names is not null) Validation.SameLength(columns.Count, names.Count, nameof(names));
        if (columns.Count == 0 && !addIntercept) throw new ArgumentException("The design has no columns.", nameof(columns));
        int n = columns.Count > 0 ? columns[0]?.Length ?? 0 : -1;
        var all = new List<double[]>();
        var allNames = new List<string>();
        for (int j = 0; j < columns.Count; j++)
        {
            string name = names?[j] ?? $"x{j}";
            var column = columns[j] ?? throw new ArgumentNullException(nameof(columns), $"Column '{name}' is null.");
            if (n < 0) n = column.Length;
            Validation.SameLength(n, column.Length, name);
            Validation.Finite(column, name);
            all.Add(column);
            allNames.Add(name);
        }
        if (addIntercept)
        {
            if (n < 0) throw new ArgumentException("An intercept-only design needs the number of rows; pass at least one column.", nameof(columns));
            var ones = new double[n];
            Array.Fill(ones, 1.0);
            all.Insert(0, ones);
            allNames.Insert(0, Ols.InterceptName);
        }
        if (allNames.Distinct().Count() != allNames.Count)
            throw new ArgumentException($"Duplicate column names in the design: {string.Join(", ", allNames.GroupBy(s => s).Where(g => g.Count() > 1).Select(g => g.Key))}.");
        var cols = all.ToArray();
        int p = cols.Length;
        if (n <= p)
            throw new DegenerateDataException($"OLS with {p} parameters needs more than {p} observations, got {n}.");

        var gram = WeightedGram(cols, null);
        var upper = FactorOrExplain(gram, p, allNames);
        var inverse = InverseFromUpper(upper, p);
        return new OlsDesign(cols, allNames.ToArray(), addIntercept, upper, inverse);
    }

    /// <summary>Fits one outcome. <paramref name="robust"/> adds HC3 standard errors.</summary>
    public OlsResult Fit(double[] y, bool robust = true)
    {
        Validation.NotNull(y, nameof(y));
        Validation.SameLength(N, y.Length, nameof(y));
        Validation.Finite(y, "y");
        int n = N, p = P;
        double dfResid = n - p;
        var beta = new double[p];
        var residual = SolveResiduals(y, beta);

        double ssr = Kernels.Dot(residual, residual);
        double tss;
        if (HasIntercept)
        {
            double mean = Kernels.Sum(y) / n;
            Kernels.CenteredMoments(y, mean, y, mean, out _, out tss, out _);
        }
        else tss = Kernels.Dot(y, y);
        if (!(tss > 0)) throw new DegenerateDataException("OLS outcome 'y' has zero variance; R^2 and tests are undefined.", new[] { "y" });
        double sigma2 = ssr / dfResid;
        if (!(sigma2 > 1e-28 * tss / n))
            throw new DegenerateDataException("OLS outcome is fitted exactly (zero residual variance); standard errors are undefined.", new[] { "y" });

        var se = new double[p];
        var t = new double[p];
        var pv = new double[p];
        for (int j = 0; j < p; j++)
        {
            se[j] = Math.Sqrt(sigma2 * _gramInverse[j * p + j]);
            t[j] = beta[j] / se[j];
            pv[j] = Distributions.StudentTTwoSided(t[j], dfResid);
        }
        double r2 = 1.0 - ssr / tss;
        double adj = 1.0 - (HasIntercept ? n - 1 : n) / dfResid * (1.0 - r2);

        double[]? seHc3 = null, tHc3 = null, pHc3 = null;
        string? hc3Reason = null;
        if (robust)
        {
            var leverage = _leverage.Value;
            int highLeverage = -1;
            var weights = new double[n];
            for (int i = 0; i < n; i++)
            {
                double oneMinus = 1.0 - leverage[i];
                if (oneMinus < 1e-10) { highLeverage = i; break; }
                weights[i] = residual[i] * residual[i] / (oneMinus * oneMinus);
            }
            if (highLeverage >= 0)
                hc3Reason = $"HC3 is undefined: row {highLeverage} has leverage 1 (it alone determines a coefficient).";
            else
            {
                var meat = WeightedGram(_columns, weights);
                var cov = Sandwich(_gramInverse, meat, p);
                seHc3 = new double[p];
                tHc3 = new double[p];
                pHc3 = new double[p];
                for (int j = 0; j < p; j++)
                {
                    seHc3[j] = Math.Sqrt(Math.Max(cov[j * p + j], 0));
                    if (!(seHc3[j] > 0))
                    {
                        hc3Reason = $"HC3 standard error of '{_names[j]}' is zero.";
                        seHc3 = tHc3 = pHc3 = null;
                        break;
                    }
                    tHc3[j] = beta[j] / seHc3[j];
                    pHc3[j] = Distributions.StudentTTwoSided(tHc3[j], dfResid);
                }
            }
        }
        return new OlsResult(_names, beta, se, t, pv, seHc3, tHc3, pHc3, hc3Reason, r2, adj, dfResid, n, ssr, HasIntercept);
    }

    /// <summary>Residuals of y after projecting out the design (used for partial correlations).</summary>
    public double[] Residuals(double[] y)
    {
        Validation.NotNull(y, nameof(y));
        Validation.SameLength(N, y.Length, nameof(y));
        Validation.Finite(y, "y");
        return SolveResiduals(y, new double[P]);
    }

    /// <summary>Least squares by the normal equations plus one step of iterative refinement; fills beta, returns e = y - X beta.</summary>
    private double[] SolveResiduals(double[] y, double[] beta)
    {
        int p = P;
        var residual = (double[])y.Clone();
        var xty = new double[p];
        for (int pass = 0; pass < 2; pass++)
        {
            Parallel.For(0, p, j => xty[j] = Kernels.Dot(_columns[j], residual));
            var delta = CholeskySolve(_upper, p, xty);
            for (int j = 0; j < p; j++)
            {
                beta[j] += delta[j];
                Kernels.SubtractScaled(residual, delta[j], _columns[j]);
            }
        }
        return residual;
    }

    /// <summary>h_i = ||R^-T x_i||^2, computed column-wise per row chunk: z_j = (x_j - sum_k&lt;j R_kj z_k) / R_jj.</summary>
    private double[] ComputeLeverage()
    {
        int n = N, p = P;
        var leverage = new double[n];
        int chunks = (n + ChunkRows - 1) / ChunkRows;
        Parallel.For(0, chunks, () => new double[p * ChunkRows], (chunk, _, z) =>
        {
            int start = chunk * ChunkRows, len = Math.Min(ChunkRows, n - start);
            var h = leverage.AsSpan(start, len);
            for (int j = 0; j < p; j++)
            {
                var zj = z.AsSpan(j * ChunkRows, len);
                _columns[j].AsSpan(start, len).CopyTo(zj);
                for (int k = 0; k < j; k++)
                {
                    double rkj = _upper[k * p + j];
                    if (rkj != 0) Kernels.SubtractScaled(zj, rkj, z.AsSpan(k * ChunkRows, len));
                }
                double inv = 1.0 / _upper[j * p + j];
                for (int i = 0; i < len; i++)
                {
                    double v = zj[i] * inv;
                    zj[i] = v;
                    h[i] += v * v;
                }
            }
            return z;
        }, _ => { });
        return leverage;
    }

    /// <summary>Sum_i w_i x_i x_i' (w = 1 when null) as a full p x p row-major matrix; deterministic chunked reduction.</summary>
    internal static double[] WeightedGram(double[][] cols, double[]? weights)
    {
        int p = cols.Length, n = cols[0].Length;
        int chunks = (n + ChunkRows - 1) / ChunkRows;
        var partial = new double[chunks * p * p];
        Parallel.For(0, chunks, () => new double[ChunkRows], (chunk, _, scratch) =>
        {
            int start = chunk * ChunkRows, len = Math.Min(ChunkRows, n - start);
            var acc = partial.AsSpan(chunk * p * p, p * p);
            var tmp = scratch.AsSpan(0, len);
            for (int a = 0; a < p; a++)
            {
                ReadOnlySpan<double> left = cols[a].AsSpan(start, len);
                if (weights is not null)
                {
                    Kernels.Multiply(left, weights.AsSpan(start, len), tmp);
                    left = tmp;
                }
                for (int b = a; b < p; b++) acc[a * p + b] = Kernels.Dot(left, cols[b].AsSpan(start, len));
            }
            return scratch;
        }, _ => { });
        var gram = new double[p * p];
        for (int c = 0; c < chunks; c++)
        {
            var acc = partial.AsSpan(c * p * p, p * p);
            for (int a = 0; a < p; a++)
                for (int b = a; b < p; b++) gram[a * p + b] += acc[a * p + b];
        }
        for (int a = 0; a < p; a++)
            for (int b = 0; b < a; b++) gram[a * p + b] = gram[b * p + a];
        return gram;
    }

    /// <summary>
    /// Cholesky factor of X'X, or a <see cref="DegenerateDataException"/> listing every column that is (numerically) a
    /// linear combination of the columns before it, with that combination. Works on the correlation-scaled Gram matrix,
    /// so the pivot of column j is 1 - R^2 of x_j regressed (without centering) on the earlier columns.
    /// </summary>
    private static double[] FactorOrExplain(double[] gram, int p, IReadOnlyList<string> names)
    {
        var scale = new double[p];
        var r = new double[p * p]; // scaled upper factor
        var kept = new List<int>();
        var problems = new List<string>();
        var offending = new List<string>();
        for (int j = 0; j < p; j++)
        {
            double gjj = gram[j * p + j];
            if (!(gjj > 0))
            {
                problems.Add($"column '{names[j]}' is all zeros");
                offending.Add(names[j]);
                continue;
            }
            scale[j] = Math.Sqrt(gjj);
            // r_kj for kept k, forward substitution against the factor so far.
            foreach (int k in kept)
            {
                double s = gram[k * p + j] / (scale[k] * scale[j]);
                foreach (int m in kept)
                {
                    if (m == k) break;
                    s -= r[m * p + k] * r[m * p + j];
                }
                r[k * p + j] = s / r[k * p + k];
            }
            double d = 1.0;
            foreach (int k in kept) d -= r[k * p + j] * r[k * p + j];
            if (d < CollinearityTolerance)
            {
                problems.Add($"column '{names[j]}' is a linear combination of earlier columns ({DescribeCombination(r, p, kept, j, scale, names)})");
                offending.Add(names[j]);
                foreach (int k in kept) r[k * p + j] = 0;
                continue;
            }
            r[j * p + j] = Math.Sqrt(d);
            kept.Add(j);
        }
        if (problems.Count > 0)
            throw new DegenerateDataException("The design matrix is rank deficient (perfect collinearity): " + string.Join("; ", problems) + ".", offending);
        // Unscale: X'X = R'R with R_kj = r_kj * scale_j.
        var upper = new double[p * p];
        for (int k = 0; k < p; k++)
            for (int j = k; j < p; j++) upper[k * p + j] = r[k * p + j] * scale[j];
        return upper;
    }

    /// <summary>x_j ~ sum_k c_k x_k from the partial factor: c = R_KK^-1 r_Kj in scaled units, then unscaled.</summary>
    private static string DescribeCombination(double[] r, int p, List<int> kept, int j, double[] scale, IReadOnlyList<string> names)
    {
        int m = kept.Count;
        var c = new double[m];
        for (int a = m - 1; a >= 0; a--)
        {
            double s = r[kept[a] * p + j];
            for (int b = a + 1; b < m; b++) s -= r[kept[a] * p + kept[b]] * c[b];
            c[a] = s / r[kept[a] * p + kept[a]];
        }
        var terms = new List<string>();
        for (int a = 0; a < m; a++)
        {
            double coef = c[a] * scale[j] / scale[kept[a]];
            if (Math.Abs(coef) > 1e-8) terms.Add($"{coef:G6}*{names[kept[a]]}");
        }
        return $"{names[j]} = " + (terms.Count > 0 ? string.Join(" + ", terms) : "0");
    }

    /// <summary>Solves R'R x = b.</summary>
    internal static double[] CholeskySolve(double[] upper, int p, double[] b)
    {
        var x = (double[])b.Clone();
        for (int i = 0; i < p; i++) // R' z = b
        {
            double s = x[i];
            for (int k = 0; k < i; k++) s -= upper[k * p + i] * x[k];
            x[i] = s / upper[i * p + i];
        }
        for (int i = p - 1; i >= 0; i--) // R x = z
        {
            double s = x[i];
            for (int k = i + 1; k < p; k++) s -= upper[i * p + k] * x[k];
            x[i] = s / upper[i * p + i];
        }
        return x;
    }

    /// <summary>(R'R)^-1 = R^-1 R^-T.</summary>
    internal static double[] InverseFromUpper(double[] upper, int p)
    {
        var rinv = new double[p * p];
        for (int j = 0; j < p; j++)
        {
            rinv[j * p + j] = 1.0 / upper[j * p + j];
            for (int i = j - 1; i >= 0; i--)
            {
                double s = 0;
                for (int k = i + 1; k <= j; k++) s += upper[i * p + k] * rinv[k * p + j];
                rinv[i * p + j] = -s / upper[i * p + i];
            }
        }
        var inverse = new double[p * p];
        for (int a = 0; a < p; a++)
            for (int b = a; b < p; b++)
            {
                double s = 0;
                for (int k = b; k < p; k++) s += rinv[a * p + k] * rinv[b * p + k];
                inverse[a * p + b] = inverse[b * p + a] = s;
            }
        return inverse;
    }

    /// <summary>A M A for symmetric A (bread) and M (meat).</summary>
    private static double[] Sandwich(double[] bread, double[] meat, int p)
    {
        var tmp = new double[p * p];
        for (int a = 0; a < p; a++)
            for (int b = 0; b < p; b++)
            {
                double s = 0;
                for (int k = 0; k < p; k++) s += bread[a * p + k] * meat[k * p + b];
                tmp[a * p + b] = s;
            }
        var result = new double[p * p];
        for (int a = 0; a < p; a++)
            for (int b = 0; b < p; b++)
            {
                double s = 0;
                for (int k = 0; k < p; k++) s += tmp[a * p + k] * bread[k * p + b];
                result[a * p + b] = s;
            }
        return result;
    }
}
