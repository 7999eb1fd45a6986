using System.Numerics;
using System.Runtime.InteropServices;

namespace BiasBench.Statistics;

/// <summary>SIMD building blocks over spans (no allocation).</summary>
internal static class Kernels
{
    public static double Sum(ReadOnlySpan<double> a)
    {
        int i = 0;
        double total = 0;
        if (Vector.IsHardwareAccelerated && a.Length >= 2 * Vector<double>.Count)
        {
            var va = MemoryMarshal.Cast<double, Vector<double>>(a);
            Vector<double> s0 = Vector<double>.Zero, s1 = Vector<double>.Zero;
            int k = 0;
            for (; k + 1 < va.Length; k += 2) { s0 += va[k]; s1 += va[k + 1]; }
            if (k < va.Length) s0 += va[k];
            total = Vector.Sum(s0 + s1);
            i = va.Length * Vector<double>.Count;
        }
        for (; i < a.Length; i++) total += a[i];
        return total;
    }

    public static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        if (a.Length != b.Length) throw new ArgumentException("Spans differ in length.");
        int i = 0;
        double total = 0;
        if (Vector.IsHardwareAccelerated && a.Length >= 2 * Vector<double>.Count)
        {
            var va = MemoryMarshal.Cast<double, Vector<double>>(a);
            var vb = MemoryMarshal.Cast<double, Vector<double>>(b);
            Vector<double> s0 = Vector<double>.Zero, s1 = Vector<double>.Zero;
            int k = 0;
            for (; k + 1 < va.Length; k += 2) { s0 += va[k] * vb[k]; s1 += va[k + 1] * vb[k + 1]; }
            if (k < va.Length) s0 += va[k] * vb[k];
            total = Vector.Sum(s0 + s1);
            i = va.Length * Vector<double>.Count;
        }
        for (; i < a.Length; i++) total += a[i] * b[i];
        return total;
    }

    /// <summary>Sum of (a - ma)(b - mb), and the two centered sums of squares, in one pass.</summary>
    public static void CenteredMoments(ReadOnlySpan<double> a, double ma, ReadOnlySpan<double> b, double mb,
        out double sab, out double saa, out double sbb)
    {
        int i = 0;
        sab = saa = sbb = 0;
        if (Vector.IsHardwareAccelerated && a.Length >= Vector<double>.Count)
        {
            var va = MemoryMarshal.Cast<double, Vector<double>>(a);
            var vb = MemoryMarshal.Cast<double, Vector<double>>(b);
            var vma = new Vector<double>(ma);
            var vmb = new Vector<double>(mb);
            Vector<double> xab = Vector<double>.Zero, xaa = Vector<double>.Zero, xbb = Vector<double>.Zero;
            for (int k = 0; k < va.Length; k++)
            {
                var da = va[k] - vma;
                var db = vb[k] - vmb;
                xab += da * db;
                xaa += da * da;
                xbb += db * db;
            }
            sab = Vector.Sum(xab);
            saa = Vector.Sum(xaa);
            sbb = Vector.Sum(xbb);
            i = va.Length * Vector<double>.Count;
        }
        for (; i < a.Length; i++)
        {
            double da = a[i] - ma, db = b[i] - mb;
            sab += da * db;
            saa += da * da;
            sbb += db * db;
        }
    }

    /// <summary>y -= alpha * x.</summary>
    public static void SubtractScaled(Span<double> y, double alpha, ReadOnlySpan<double> x)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated && y.Length >= Vector<double>.Count)
        {
            var vy = MemoryMarshal.Cast<double, Vector<double>>(y);
            var vx = MemoryMarshal.Cast<double, Vector<double>>(x);
            var va = new Vector<double>(alpha);
            for (int k = 0; k < vy.Length; k++) vy[k] -= va * vx[k];
            i = vy.Length * Vector<double>.Count;
        }
        for (; i < y.Length; i++) y[i] -= alpha * x[i];
    }

    /// <summary>destination = a * b elementwise.</summary>
    public static void Multiply(ReadOnlySpan<double> a, ReadOnlySpan<double> b, Span<double> destination)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated && a.Length >= Vector<double>.Count)
        {
            var va = MemoryMarshal.Cast<double, Vector<double>>(a);
            var vb = MemoryMarshal.Cast<double, Vector<double>>(b);
            var vd = MemoryMarshal.Cast<double, Vector<double>>(destination);
            for (int k = 0; k < va.Length; k++) vd[k] = va[k] * vb[k];
            i = va.Length * Vector<double>.Count;
        }
        for (; i < a.Length; i++) destination[i] = a[i] * b[i];
    }

    /// <summary>True when every value is exactly 0 or 1.</summary>
    public static bool IsBinary(ReadOnlySpan<double> a, out int ones)
    {
        ones = 0;
        foreach (double v in a)
        {
            if (v == 1.0) ones++;
            else if (v != 0.0) return false;
        }
        return true;
    }
}
