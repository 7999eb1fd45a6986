using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using BiasBench.Abstractions;

namespace BiasBench.Imaging;

/// <summary>
/// Weights of PyTorch's <c>_upsample_bicubic2d_aa</c> (align_corners=False), i.e. what torchvision's tensor
/// <c>Resize(..., BICUBIC, antialias=True)</c> runs: per output index, center = scale * (i + 0.5), support = 2 * scale when
/// downsampling (2 otherwise), Keys cubic with a = -0.5 evaluated at (j + xmin - center + 0.5) / max(scale, 1),
/// normalised to sum 1. Computed in float like PyTorch does for float32 inputs (UpSampleKernel.cpp, _compute_weights_aa).
/// </summary>
public sealed class AntialiasBicubic
{
    private AntialiasBicubic(int inSize, int outSize, int ksize, int[] starts, int[] counts, float[] weights)
    {
        InSize = inSize; OutSize = outSize; KSize = ksize; Starts = starts; Counts = counts; Weights = weights;
    }

    public int InSize { get; }
    public int OutSize { get; }
    /// <summary>Stride of <see cref="Weights"/> per output index.</summary>
    public int KSize { get; }
    /// <summary>First input index used by each output index.</summary>
    public int[] Starts { get; }
    /// <summary>Number of input indices used by each output index.</summary>
    public int[] Counts { get; }
    /// <summary>Weights, <see cref="KSize"/> per output index (zero beyond <see cref="Counts"/>).</summary>
    public float[] Weights { get; }

    public static AntialiasBicubic Compute(int inSize, int outSize)
    {
        if (inSize <= 0 || outSize <= 0)
            throw new ArgumentOutOfRangeException(nameof(outSize), $"Resize sizes must be positive, got {inSize} -> {outSize}.");
        const float interpSize = 4f; // bicubic
        float scale = (float)inSize / outSize;
        float support = scale >= 1.0f ? interpSize * 0.5f * scale : interpSize * 0.5f;
        int ksize = (int)Math.Ceiling(support) * 2 + 1;
        float invscale = scale >= 1.0f ? 1.0f / scale : 1.0f;
        var starts = new int[outSize];
        var counts = new int[outSize];
        var weights = new float[checked(outSize * ksize)];
        for (int i = 0; i < outSize; i++)
        {
            // Mirrors the C++ promotions: the 0.5 literals are double, the stored values float.
            float center = (float)(scale * (i + 0.5));
            int xmin = Math.Max((int)((double)(center - support) + 0.5), 0);
            int xsize = Math.Min((int)((double)(center + support) + 0.5), inSize) - xmin;
            var w = weights.AsSpan(i * ksize, ksize);
            float total = 0f;
            for (int j = 0; j < xsize; j++)
            {
                float v = Filter((float)(((double)((float)(j + xmin) - center) + 0.5) * invscale));
                w[j] = v;
                total += v;
            }
            if (total != 0f)
                for (int j = 0; j < xsize; j++) w[j] /= total;
            starts[i] = xmin;
            counts[i] = xsize;
        }
        return new AntialiasBicubic(inSize, outSize, ksize, starts, counts, weights);
    }

    private static float Filter(float x)
    {
        const float a = -0.5f;
        x = Math.Abs(x);
        if (x < 1.0f) return ((a + 2) * x - (a + 3)) * x * x + 1;
        if (x < 2.0f) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
        return 0f;
    }

    /// <summary>Dense [OutSize, InSize] matrix of the weights (row-major), for a matmul-based differentiable resize.</summary>
    public float[] ToDenseMatrix()
    {
        var m = new float[checked(OutSize * InSize)];
        for (int i = 0; i < OutSize; i++)
            for (int j = 0; j < Counts[i]; j++)
                m[i * InSize + Starts[i] + j] = Weights[i * KSize + j];
        return m;
    }

    /// <summary>
    /// Resizes a float CHW image (horizontal pass first, then vertical, skipping a pass whose size does not change, as
    /// PyTorch's separable kernel does). No clamping: torchvision only clamps uint8 outputs.
    /// </summary>
    public static float[] ResizeChw(float[] src, int channels, int height, int width, int outHeight, int outWidth)
    {
        if (src.Length != checked(channels * height * width))
            throw new ArgumentException($"Expected {channels}x{height}x{width} = {channels * height * width} floats, got {src.Length}.", nameof(src));
        float[] cur = src;
        int curW = width;
        if (outWidth != width)
        {
            var wx = Compute(width, outWidth);
            var tmp = new float[checked(channels * height * outWidth)];
            Parallel.For(0, channels * height, row =>
            {
                var inRow = cur.AsSpan(row * width, width);
                var outRow = tmp.AsSpan(row * outWidth, outWidth);
                for (int o = 0; o < outWidth; o++)
                {
                    int s = wx.Starts[o], n = wx.Counts[o];
                    var k = wx.Weights.AsSpan(o * wx.KSize, n);
                    float t = inRow[s] * k[0];
                    for (int j = 1; j < n; j++) t += inRow[s + j] * k[j];
                    outRow[o] = t;
                }
            });
            cur = tmp; curW = outWidth;
        }
        if (outHeight != height) cur = Vertical(cur, channels, height, curW, outHeight);
        return ReferenceEquals(cur, src) ? (float[])src.Clone() : cur;
    }

    /// <summary>
    /// <c>ResizeChw(ToChw01(image), 3, ...)</c> with the same float arithmetic, without materialising the full-resolution
    /// float image: the horizontal pass reads the bytes (x / 255f, as ToTensor) and keeps R, G and B in one vector.
    /// </summary>
    public static float[] ResizeRgb01(RgbImage image, int outHeight, int outWidth) => ResizeRgb01(image, outHeight, outWidth, pool: false, out _);

    /// <summary>
    /// <see cref="ResizeRgb01(RgbImage, int, int)"/> into an <see cref="ArrayPool{T}.Shared"/> array where it can (then
    /// <paramref name="rented"/> is true, the array may be longer than 3 x outHeight x outWidth and the caller returns it).
    /// </summary>
    internal static float[] ResizeRgb01(RgbImage image, int outHeight, int outWidth, out bool rented) => ResizeRgb01(image, outHeight, outWidth, pool: true, out rented);

    private static unsafe float[] ResizeRgb01(RgbImage image, int outHeight, int outWidth, bool pool, out bool rented)
    {
        ArgumentNullException.ThrowIfNull(image);
        rented = false;
        int height = image.Height, width = image.Width;
        if (outWidth == width || !Vector128.IsHardwareAccelerated)
            return ResizeChw(ClipPreprocessing.ToChw01(image), 3, height, width, outHeight, outWidth);
        var wx = Compute(width, outWidth);
        var pixels = image.Pixels;
        // The horizontal result is pooled (a fresh multi-megabyte array per image costs page faults on every call).
        var tmp = ArrayPool<float>.Shared.Rent(checked(3 * height * outWidth));
        try
        {
            int plane = height * outWidth;
            Parallel.For(0, height, y =>
            {
                int rowStart = y * width * 3;
                fixed (byte* source = pixels)
                fixed (float* weights = wx.Weights)
                {
                    for (int o = 0; o < outWidth; o++)
                    {
                        int s = wx.Starts[o], n = wx.Counts[o];
                        float* k = weights + o * wx.KSize;
                        float r, g, b;
                        // A 4-byte load per tap (R, G, B, next R); the buffer's very last pixel has no 4th byte.
                        if (rowStart + (s + n) * 3 + 1 <= pixels.Length)
                        {
                            byte* p = source + rowStart + s * 3;
                            var t = ToUnit(p) * Vector128.Create(k[0]);
                            for (int j = 1; j < n; j++) t += ToUnit(p + j * 3) * Vector128.Create(k[j]);
                            (r, g, b) = (t.GetElement(0), t.GetElement(1), t.GetElement(2));
                        }
                        else
                        {
                            byte* p = source + rowStart + s * 3;
                            r = p[0] / 255f * k[0]; g = p[1] / 255f * k[0]; b = p[2] / 255f * k[0];
                            for (int j = 1; j < n; j++)
                            {
                                r += p[j * 3] / 255f * k[j];
                                g += p[j * 3 + 1] / 255f * k[j];
                                b += p[j * 3 + 2] / 255f * k[j];
                            }
                        }
                        tmp[y * outWidth + o] = r;
                        tmp[plane + y * outWidth + o] = g;
                        tmp[2 * plane + y * outWidth + o] = b;
                    }
                }
            });
            if (outHeight == height) return tmp.AsSpan(0, 3 * plane).ToArray();
            rented = pool;
            return Vertical(tmp, 3, height, outWidth, outHeight, pool ? ArrayPool<float>.Shared.Rent(checked(3 * outHeight * outWidth)) : null);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(tmp);
        }
    }

    /// <summary>Four bytes as floats divided by 255 (ToTensor's scaling).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe Vector128<float> ToUnit(byte* p) =>
        Vector128.ConvertToSingle(Vector128.WidenLower(Vector128.WidenLower(
            Vector128.CreateScalarUnsafe(Unsafe.ReadUnaligned<uint>(p)).AsByte())).AsInt32()) / Vector128.Create(255f);

    /// <summary>Vertical pass: out = in_0 * k_0 + in_1 * k_1 + ... per element, in that order (vectorised along the row).</summary>
    private static float[] Vertical(float[] input, int channels, int height, int width, int outHeight, float[]? output = null)
    {
        var wy = Compute(height, outHeight);
        var tmp = output ?? GC.AllocateUninitializedArray<float>(checked(channels * outHeight * width));
        Parallel.For(0, channels * outHeight, row =>
        {
            int c = row / outHeight, o = row % outHeight;
            int s = wy.Starts[o], n = wy.Counts[o];
            var k = wy.Weights.AsSpan(o * wy.KSize, n);
            var outRow = tmp.AsSpan(row * width, width);
            var first = input.AsSpan((c * height + s) * width, width);
            for (int x = 0; x < width; x++) outRow[x] = first[x] * k[0];
            for (int j = 1; j < n; j++)
            {
                var inRow = input.AsSpan((c * height + s + j) * width, width);
                float kj = k[j];
                int x = 0;
                if (Vector.IsHardwareAccelerated)
                {
                    var vk = new Vector<float>(kj);
                    var vo = MemoryMarshal.Cast<float, Vector<float>>(outRow);
                    var vi = MemoryMarshal.Cast<float, Vector<float>>(inRow);
                    for (int v = 0; v < vo.Length; v++) vo[v] += vi[v] * vk;
                    x = vo.Length * Vector<float>.Count;
                }
                for (; x < width; x++) outRow[x] += inRow[x] * kj;
            }
        });
        return tmp;
    }
}
