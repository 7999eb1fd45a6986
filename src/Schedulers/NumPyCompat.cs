namespace BiasBench.Schedulers;

/// <summary>
/// The few NumPy routines diffusers uses to build timestep and sigma schedules, reproduced operation for operation
/// (float64), so schedules match diffusers exactly, including its rounding (half to even) and float-step arange quirks.
/// </summary>
internal static class NumPyCompat
{
    /// <summary><c>np.linspace(start, stop, num)</c> (endpoint=True): <c>i * step + start</c>, the last value exactly
    /// <paramref name="stop"/>.</summary>
    public static double[] Linspace(double start, double stop, int num)
    {
        if (num < 0) throw new ArgumentOutOfRangeException(nameof(num));
        var y = new double[num];
        if (num == 0) return y;
        var div = num - 1;
        var delta = stop - start;
        if (div > 0)
        {
            var step = delta / div;
            for (var i = 0; i < num; i++)
                y[i] = step == 0 ? i / (double)div * delta + start : i * step + start;
            y[^1] = stop;
        }
        else
        {
            y[0] = start; // num == 1: numpy returns [start]
        }
        return y;
    }

    /// <summary><c>np.arange(start, stop, step)</c> with a float step: length <c>ceil((stop - start) / step)</c>, values
    /// <c>start + i * (buf[1] - buf[0])</c> exactly as NumPy's fill does.</summary>
    public static double[] Arange(double start, double stop, double step)
    {
        if (step == 0) throw new ArgumentException("arange step must not be zero.", nameof(step));
        var length = Math.Ceiling((stop - start) / step);
        if (!(length > 0)) return [];
        var n = checked((int)length);
        var y = new double[n];
        y[0] = start;
        if (n > 1)
        {
            y[1] = start + step;
            var delta = y[1] - y[0];
            for (var i = 2; i < n; i++) y[i] = start + i * delta;
        }
        return y;
    }

    /// <summary><c>np.round</c> / <c>ndarray.round()</c>: round half to even.</summary>
    public static double Round(double x) => Math.Round(x, MidpointRounding.ToEven);

    /// <summary><c>np.interp(x, np.arange(len(fp)), fp)</c> in float64.</summary>
    public static double Interp(double x, IReadOnlyList<float> fp)
    {
        var n = fp.Count;
        if (n == 0) throw new ArgumentException("interp needs at least one point.", nameof(fp));
        if (double.IsNaN(x)) return double.NaN;
        if (x <= 0) return fp[0];
        if (x >= n - 1) return fp[n - 1];
        var j = (int)Math.Floor(x);
        if (j == x) return fp[j]; // numpy returns the sample itself at a grid point
        double lo = fp[j], hi = fp[j + 1];
        var slope = (hi - lo) / 1.0; // (fp[j+1] - fp[j]) / (xp[j+1] - xp[j]) with unit spacing
        var result = slope * (x - j) + lo;
        if (double.IsNaN(result))
        {
            result = slope * (x - (j + 1)) + hi;
            if (double.IsNaN(result) && lo == hi) result = lo;
        }
        return result;
    }
}
