namespace BiasBench.Statistics;

/// <summary>
/// Partial correlations r(t_0, t_j | covariates) from a (weighted) cross-product matrix of the columns
/// [1, covariates, t_0, t_1..t_m]: eliminating the intercept and covariates leaves the residual cross-products of the
/// targets (a Schur complement), so one matrix per bootstrap resample serves every t_j, and a jackknife sample is the
/// full matrix minus its left-out rows' products. Columns are centred and scaled by their full-data moments first
/// (the intercept absorbs the shift) so that the matrix is well conditioned.
/// </summary>
internal sealed class PartialCrossProducts
{
    private const int ChunkRows = 1024;
    /// <summary>Same scaled-pivot test as <see cref="OlsDesign"/>: a covariate whose 1 - R^2 on the earlier ones falls below
    /// this is collinear and the resample's statistic is undefined.</summary>
    private const double CollinearityTolerance = 1e-10;
    /// <summary>A target whose residual sum of squares is below this fraction of its total is constant after controlling.</summary>
    private const double ResidualTolerance = 1e-12;

    private readonly double[][] _columns;
    private readonly int _n, _q, _block; // rows, columns, size of the eliminated block (intercept + covariates)

    public PartialCrossProducts(IReadOnlyList<double[]> covariates, IReadOnlyList<double[]> targets)
    {
        _n = targets[0].Length;
        var ones = new double[_n];
        Array.Fill(ones, 1.0);
        _columns = [ones, .. covariates.Select(Standardise), .. targets.Select(Standardise)];
        _q = _columns.Length;
        _block = 1 + covariates.Count;
    }

    public int Targets => _q - _block - 1;

    public double[] NewGram() => new double[_q * _q];

    /// <summary>Scratch for <see cref="Correlations"/>: the eliminated block's rows of the Cholesky factor.</summary>
    public double[] NewFactor() => new double[_block * _q];

    private double[] Standardise(double[] column)
    {
        double mean = Kernels.Sum(column) / _n;
        Kernels.CenteredMoments(column, mean, column, mean, out _, out double ss, out _);
        double scale = ss > 0 ? 1.0 / Math.Sqrt(ss / _n) : 1.0;
        var result = new double[_n];
        for (int i = 0; i < _n; i++) result[i] = (column[i] - mean) * scale;
        return result;
    }

    /// <summary>Upper triangle of sum_i w_i v_i v_i' (row weights = bootstrap counts).</summary>
    public void Weighted(double[] weights, double[] gram)
    {
        Array.Clear(gram);
        Span<double> weighted = stackalloc double[ChunkRows];
        for (int start = 0; start < _n; start += ChunkRows)
        {
            int length = Math.Min(ChunkRows, _n - start);
            var w = weights.AsSpan(start, length);
            var left = weighted[..length];
            for (int a = 0; a < _q; a++)
            {
                Kernels.Multiply(_columns[a].AsSpan(start, length), w, left);
                for (int b = a; b < _q; b++) gram[a * _q + b] += Kernels.Dot(left, _columns[b].AsSpan(start, length));
            }
        }
    }

    /// <summary>r(t_0, t_j | covariates) for j = 1..m into <paramref name="r"/>; NaN where undefined.</summary>
    public void Correlations(double[] gram, double[] r, double[] upper)
    {
        int q = _q, k = _block; // upper: rows of R for the eliminated block, G = R'R on it (every read entry is written first)
        for (int j = 0; j < q; j++)
        {
            int rows = Math.Min(j, k);
            for (int i = 0; i < rows; i++)
            {
                double s = gram[i * q + j];
                for (int m = 0; m < i; m++) s -= upper[m * q + i] * upper[m * q + j];
                upper[i * q + j] = s / upper[i * q + i];
            }
            if (j < k)
            {
                double d = gram[j * q + j];
                for (int m = 0; m < j; m++) d -= upper[m * q + j] * upper[m * q + j];
                if (!(d > CollinearityTolerance * gram[j * q + j]))
                {
                    Array.Fill(r, double.NaN);
                    return;
                }
                upper[j * q + j] = Math.Sqrt(d);
            }
        }
        int x = k;
        double sxx = Residual(gram, upper, x, x);
        if (!(sxx > ResidualTolerance * gram[x * q + x]))
        {
            Array.Fill(r, double.NaN);
            return;
        }
        for (int j = 0; j < r.Length; j++)
        {
            int y = k + 1 + j;
            double syy = Residual(gram, upper, y, y);
            r[j] = syy > ResidualTolerance * gram[y * q + y]
                ? Math.Clamp(Residual(gram, upper, x, y) / Math.Sqrt(sxx * syy), -1.0, 1.0)
                : double.NaN;
        }
    }

    private double Residual(double[] gram, double[] upper, int a, int b)
    {
        double s = gram[a * _q + b];
        for (int m = 0; m < _block; m++) s -= upper[m * _q + a] * upper[m * _q + b];
        return s;
    }

    /// <summary>Leave-group-out correlations (group g = rows i with i % groups == g): thetas[j][g], NaN where undefined.</summary>
    public double[][] Jackknife(int groups, CancellationToken cancellationToken)
    {
        var ones = new double[_n];
        Array.Fill(ones, 1.0);
        var full = NewGram();
        Weighted(ones, full);
        var thetas = Enumerable.Range(0, Targets).Select(_ => new double[groups]).ToArray();
        Parallel.For(0, groups, new ParallelOptions { CancellationToken = cancellationToken },
            () => (Gram: NewGram(), Row: new double[_q], R: new double[Targets], Factor: NewFactor()),
            (g, _, scratch) =>
            {
                Array.Copy(full, scratch.Gram, full.Length);
                for (int i = g; i < _n; i += groups)
                {
                    for (int a = 0; a < _q; a++) scratch.Row[a] = _columns[a][i];
                    for (int a = 0; a < _q; a++)
                    {
                        double va = scratch.Row[a];
                        for (int b = a; b < _q; b++) scratch.Gram[a * _q + b] -= va * scratch.Row[b];
                    }
                }
                Correlations(scratch.Gram, scratch.R, scratch.Factor);
                for (int j = 0; j < Targets; j++) thetas[j][g] = scratch.R[j];
                return scratch;
            }, _ => { });
        return thetas;
    }
}
