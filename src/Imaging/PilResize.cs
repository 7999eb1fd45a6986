using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using BiasBench.Abstractions;

namespace BiasBench.Imaging;

/// <summary>
/// Bit-exact port of Pillow's <c>ImagingResample</c> (src/libImaging/Resample.c) for 8-bit RGB: separable, horizontal
/// pass first, the filter support widened by the scale when downscaling (antialias), coefficients normalised in double
/// and then converted to fixed point with PRECISION_BITS = 32 - 8 - 2, accumulation in int starting at 1/2, clip8.
/// </summary>
public static class PilResize
{
    private const int PrecisionBits = 32 - 8 - 2;

    /// <summary>Pillow's <c>Image.resize((width, height), Image.BICUBIC)</c> on an RGB image.</summary>
    public static RgbImage Bicubic(RgbImage src, int width, int height) => ToImage(Resample(src, width, height, Bicubic2, 2.0, pooled: false));

    /// <summary>
    /// Pillow's <c>Image.resize((width, height), Image.BILINEAR)</c> (triangle filter, support 1, widened when
    /// downscaling), which is what torchvision's <c>Resize</c> runs on PIL images by default.
    /// </summary>
    public static RgbImage Bilinear(RgbImage src, int width, int height) => ToImage(Resample(src, width, height, Triangle, 1.0, pooled: false));

    /// <summary><see cref="Bicubic"/> into a reused array that goes back to its pool when the result is disposed.</summary>
    internal static PooledRgbImage BicubicPooled(RgbImage src, int width, int height)
    {
        var (w, h, pixels) = Resample(src, width, height, Bicubic2, 2.0, pooled: true);
        return new PooledRgbImage(w, h, pixels);
    }

    private static RgbImage ToImage((int Width, int Height, byte[] Pixels) r) => new(r.Width, r.Height, r.Pixels);

    private static byte[] NewOutput(int length, bool pooled) => pooled ? ExactSizeBuffers.Rent(length) : GC.AllocateUninitializedArray<byte>(length);

    private static (int Width, int Height, byte[] Pixels) Resample(RgbImage src, int width, int height, Func<double, double> filter, double filterSupport, bool pooled)
    {
        ArgumentNullException.ThrowIfNull(src);
        if (width <= 0 || height <= 0)
            throw new ArgumentOutOfRangeException(nameof(width), $"Target size must be positive, got {width}x{height}.");
        // Pillow returns a copy when nothing changes.
        if (width == src.Width && height == src.Height)
        {
            var copy = NewOutput(src.Pixels.Length, pooled);
            src.Pixels.CopyTo(copy, 0);
            return (width, height, copy);
        }

        var (ksizeV, boundsV, kkV) = PrecomputeCoeffs(src.Height, 0f, src.Height, height, filter, filterSupport);
        int yFirst = boundsV[0];
        int yLast = boundsV[(height - 1) * 2] + boundsV[(height - 1) * 2 + 1];

        if (width != src.Width)
        {
            var (ksizeH, boundsH, kkH) = PrecomputeCoeffs(src.Width, 0f, src.Width, width, filter, filterSupport);
            for (int i = 0; i < height; i++) boundsV[i * 2] -= yFirst;
            int tempH = yLast - yFirst;
            if (height == src.Height)
            {
                // Only the horizontal pass runs (yFirst == 0 and all rows kept): it writes the result directly.
                var only = NewOutput(checked(width * tempH * 3), pooled);
                Horizontal(src.Pixels, src.Width, only, width, tempH, yFirst, ksizeH, boundsH, kkH);
                return (width, tempH, only);
            }
            // The intermediate image is pooled: fresh large arrays per image cost page faults on every call.
            var temp = ArrayPool<byte>.Shared.Rent(checked(width * tempH * 3));
            try
            {
                Horizontal(src.Pixels, src.Width, temp, width, tempH, yFirst, ksizeH, boundsH, kkH);
                return VerticalImage(temp, width, height, ksizeV, boundsV, kkV, pooled);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(temp);
            }
        }
        return VerticalImage(src.Pixels, src.Width, height, ksizeV, boundsV, kkV, pooled);
    }

    private static (int, int, byte[]) VerticalImage(byte[] source, int width, int height, int ksize, int[] bounds, int[] kk, bool pooled)
    {
        var output = NewOutput(checked(width * height * 3), pooled);
        Vertical(source, width, output, height, ksize, bounds, kk);
        return (width, height, output);
    }

    private static double Bicubic2(double x)
    {
        const double a = -0.5;
        if (x < 0.0) x = -x;
        if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
        if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
        return 0.0;
    }

    private static double Triangle(double x)
    {
        if (x < 0.0) x = -x;
        return x < 1.0 ? 1.0 - x : 0.0;
    }

    /// <summary>Pillow's precompute_coeffs followed by normalize_coeffs_8bpc (support 2 for bicubic, 1 for bilinear).</summary>
    private static (int ksize, int[] bounds, int[] kk) PrecomputeCoeffs(int inSize, float in0, float in1, int outSize, Func<double, double> filter, double filterSupport)
    {
        double scale = (double)(in1 - in0) / outSize;
        double filterscale = scale < 1.0 ? 1.0 : scale;
        double support = filterSupport * filterscale;
        int ksize = (int)Math.Ceiling(support) * 2 + 1;
        var bounds = new int[outSize * 2];
        var kk = new int[checked(outSize * ksize)];
        Span<double> k = ksize <= 512 ? stackalloc double[ksize] : new double[ksize];
        for (int xx = 0; xx < outSize; xx++)
        {
            double center = in0 + (xx + 0.5) * scale;
            double ww = 0.0;
            double ss = 1.0 / filterscale;
            int xmin = (int)(center - support + 0.5);
            if (xmin < 0) xmin = 0;
            int xmax = (int)(center + support + 0.5);
            if (xmax > inSize) xmax = inSize;
            xmax -= xmin;
            for (int x = 0; x < xmax; x++)
            {
                double w = filter((x + xmin - center + 0.5) * ss);
                k[x] = w;
                ww += w;
            }
            for (int x = 0; x < xmax; x++)
                if (ww != 0.0) k[x] /= ww;
            for (int x = 0; x < ksize; x++)
            {
                double v = x < xmax ? k[x] : 0.0;
                // C's (int) cast truncates toward zero, as does C#'s.
                kk[xx * ksize + x] = v < 0 ? (int)(-0.5 + v * (1 << PrecisionBits)) : (int)(0.5 + v * (1 << PrecisionBits));
            }
            bounds[xx * 2] = xmin;
            bounds[xx * 2 + 1] = xmax;
        }
        return (ksize, bounds, kk);
    }

    private static byte Clip8(int v)
    {
        int s = v >> PrecisionBits; // arithmetic shift, as in Pillow's lookup-table index
        return s < 0 ? (byte)0 : s > 255 ? (byte)255 : (byte)s;
    }

    private static unsafe void Horizontal(byte[] src, int srcW, byte[] dst, int dstW, int dstH, int rowOffset, int ksize, int[] bounds, int[] kk)
    {
        Parallel.For(0, dstH, yy =>
        {
            int inStart = (yy + rowOffset) * srcW * 3;
            var outRow = dst.AsSpan(yy * dstW * 3, dstW * 3);
            fixed (byte* source = src)
            fixed (int* coefficients = kk)
            {
                byte* inRow = source + inStart;
                for (int xx = 0; xx < dstW; xx++)
                {
                    int xmin = bounds[xx * 2], xmax = bounds[xx * 2 + 1];
                    int* k = coefficients + xx * ksize;
                    int ss0, ss1, ss2;
                    // One 4-byte load per tap (R, G, B and the next pixel's R, ignored); the very last pixel of the
                    // buffer has no 4th byte, so a tap range ending there takes the scalar loop.
                    if (Vector128.IsHardwareAccelerated && inStart + (xmin + xmax) * 3 + 1 <= src.Length)
                    {
                        var sum = Vector128.Create(1 << (PrecisionBits - 1));
                        byte* pixel = inRow + xmin * 3;
                        for (int x = 0; x < xmax; x++, pixel += 3)
                            sum += Widen4(pixel) * Vector128.Create(k[x]);
                        (ss0, ss1, ss2) = (sum.GetElement(0), sum.GetElement(1), sum.GetElement(2));
                    }
                    else
                    {
                        ss0 = ss1 = ss2 = 1 << (PrecisionBits - 1);
                        for (int x = 0; x < xmax; x++)
                        {
                            byte* pixel = inRow + (x + xmin) * 3;
                            int kx = k[x];
                            ss0 += pixel[0] * kx;
                            ss1 += pixel[1] * kx;
                            ss2 += pixel[2] * kx;
                        }
                    }
                    outRow[xx * 3] = Clip8(ss0);
                    outRow[xx * 3 + 1] = Clip8(ss1);
                    outRow[xx * 3 + 2] = Clip8(ss2);
                }
            }
        });
    }

    /// <summary>Four bytes zero-extended to four ints (pmovzxbd on x64).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe Vector128<int> Widen4(byte* p) =>
        Vector128.WidenLower(Vector128.WidenLower(Vector128.CreateScalarUnsafe(Unsafe.ReadUnaligned<uint>(p)).AsByte())).AsInt32();

    private static unsafe void Vertical(byte[] src, int w, byte[] dst, int dstH, int ksize, int[] bounds, int[] kk)
    {
        int rowLen = w * 3;
        // Row-wise accumulation (same integer sums as Pillow's per-pixel loop, in a cache-friendly, vectorised order).
        Parallel.For(0, dstH, () => new int[rowLen], (yy, _, acc) =>
        {
            int ymin = bounds[yy * 2], ymax = bounds[yy * 2 + 1];
            var k = kk.AsSpan(yy * ksize, ksize);
            acc.AsSpan().Fill(1 << (PrecisionBits - 1));
            fixed (byte* source = src)
            fixed (int* sums = acc)
            {
                for (int y = 0; y < ymax; y++)
                {
                    int ky = k[y];
                    byte* inRow = source + (long)(y + ymin) * rowLen;
                    int i = 0;
                    if (Vector128.IsHardwareAccelerated)
                    {
                        var weight = Vector128.Create(ky);
                        for (; i + 16 <= rowLen; i += 16)
                        {
                            var bytes = Vector128.Load(inRow + i);
                            var (low, high) = Vector128.Widen(bytes);
                            var (a, b) = Vector128.Widen(low);
                            var (c, d) = Vector128.Widen(high);
                            int* s = sums + i;
                            Vector128.Store(Vector128.Load(s) + a.AsInt32() * weight, s);
                            Vector128.Store(Vector128.Load(s + 4) + b.AsInt32() * weight, s + 4);
                            Vector128.Store(Vector128.Load(s + 8) + c.AsInt32() * weight, s + 8);
                            Vector128.Store(Vector128.Load(s + 12) + d.AsInt32() * weight, s + 12);
                        }
                    }
                    for (; i < rowLen; i++) sums[i] += inRow[i] * ky;
                }
            }
            var outRow = dst.AsSpan(yy * rowLen, rowLen);
            for (int i = 0; i < rowLen; i++) outRow[i] = Clip8(acc[i]);
            return acc;
        }, _ => { });
    }
}
