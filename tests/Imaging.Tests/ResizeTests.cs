using BiasBench.Abstractions;
using BiasBench.Torch.Backend;
using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Imaging.Tests;

public sealed class ResizeTests
{
    /// <summary>Floating-point version of Pillow's resample (same bounds and weights, no fixed point).</summary>
    private static double[] ReferenceResize(RgbImage src, int w, int h)
    {
        static double Cubic(double x)
        {
            x = Math.Abs(x);
            return x < 1 ? (1.5 * x - 2.5) * x * x + 1 : x < 2 ? ((-0.5 * x + 2.5) * x - 4) * x + 2 : 0;
        }
        static (int[] start, double[][] k) Coeffs(int inSize, int outSize)
        {
            double scale = (double)inSize / outSize, fs = Math.Max(scale, 1), support = 2 * fs;
            var start = new int[outSize]; var k = new double[outSize][];
            for (int o = 0; o < outSize; o++)
            {
                double center = (o + 0.5) * scale;
                int a = Math.Max(0, (int)(center - support + 0.5)), b = Math.Min(inSize, (int)(center + support + 0.5));
                var w = new double[b - a];
                for (int i = a; i < b; i++) w[i - a] = Cubic((i - center + 0.5) / fs);
                double sum = w.Sum();
                for (int i = 0; i < w.Length; i++) w[i] /= sum;
                start[o] = a; k[o] = w;
            }
            return (start, k);
        }
        var (xs, xk) = Coeffs(src.Width, w);
        var (ys, yk) = Coeffs(src.Height, h);
        var tmp = new double[src.Height * w * 3];
        for (int y = 0; y < src.Height; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < 3; c++)
                {
                    double s = 0;
                    for (int j = 0; j < xk[x].Length; j++) s += src.Pixels[(y * src.Width + xs[x] + j) * 3 + c] * xk[x][j];
                    tmp[(y * w + x) * 3 + c] = Math.Clamp(Math.Floor(s + 0.5), 0, 255); // Pillow stores 8-bit between passes
                }
        var outp = new double[h * w * 3];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < 3; c++)
                {
                    double s = 0;
                    for (int j = 0; j < yk[y].Length; j++) s += tmp[((ys[y] + j) * w + x) * 3 + c] * yk[y][j];
                    outp[(y * w + x) * 3 + c] = Math.Clamp(Math.Floor(s + 0.5), 0, 255);
                }
        return outp;
    }

    [Theory]
    [InlineData(37, 23, 224, 150)]   // upscale
    [InlineData(300, 170, 61, 47)]   // downscale (antialias support)
    [InlineData(50, 40, 50, 13)]     // vertical only
    [InlineData(50, 40, 17, 40)]     // horizontal only
    public void PilBicubicAgreesWithFloatingPointReference(int w, int h, int ow, int oh)
    {
        var src = TestImages.Random(w, h, w * 31 + h);
        var actual = PilResize.Bicubic(src, ow, oh);
        Assert.Equal(ow, actual.Width);
        Assert.Equal(oh, actual.Height);
        var reference = ReferenceResize(src, ow, oh);
        // Only Pillow's 22-bit fixed-point coefficients differ from the double reference, which can flip a value lying
        // within ~1e-5 of a rounding boundary: allow one level on a handful of samples.
        int mismatches = 0;
        for (int i = 0; i < reference.Length; i++)
        {
            double d = Math.Abs(actual.Pixels[i] - reference[i]);
            Assert.True(d <= 1.0, $"sample {i}: {actual.Pixels[i]} vs {reference[i]}");
            if (d != 0) mismatches++;
        }
        Assert.True(mismatches <= reference.Length / 1000, $"{mismatches} of {reference.Length} samples differ by one level");
    }

    [Fact]
    public void PilBicubicKeepsConstantImagesAndCopiesSameSize()
    {
        var c = TestImages.Solid(41, 29, (_, _) => (7, 130, 255));
        var r = PilResize.Bicubic(c, 13, 77);
        Assert.All(Enumerable.Range(0, 13 * 77), i => Assert.Equal(new byte[] { 7, 130, 255 }, r.Pixels.AsSpan(i * 3, 3).ToArray()));
        var same = PilResize.Bicubic(c, 41, 29);
        Assert.Equal(c.Pixels, same.Pixels);
        Assert.NotSame(c.Pixels, same.Pixels);
        Assert.Throws<ArgumentOutOfRangeException>(() => PilResize.Bicubic(c, 0, 5));
    }

    [Fact]
    public void OutputSizeAndCropRulesFollowTorchvision()
    {
        Assert.Equal((251, 224), ClipPreprocessing.ShortSideResize(250, 223, 224)); // int(224 * 250 / 223) = 251
        Assert.Equal((224, 316), ClipPreprocessing.ShortSideResize(433, 611, 224)); // int(316.07)
        Assert.Equal((224, 224), ClipPreprocessing.ShortSideResize(100, 100, 224));
        // Python round() is half-to-even: (227 - 224) / 2 = 1.5 -> 2, (225 - 224) / 2 = 0.5 -> 0.
        Assert.Equal((2, 0), ClipPreprocessing.CropOffsets(227, 225, 224, 224));
        Assert.Equal((-1, 0), ClipPreprocessing.CropOffsets(221, 224, 224, 224)); // torchvision pads (3 // 2) on top
        Assert.Equal((224, 183), ClipPreprocessing.LongestSideResize(218, 178, 224));
        Assert.Equal((130, 224), ClipPreprocessing.LongestSideResize(301, 517, 224));
    }

    [Fact]
    public void AntialiasWeightsAreNormalisedAndCpuMatchesTensorPath()
    {
        foreach (var (i, o) in new[] { (1024, 224), (150, 224), (218, 183), (7, 3), (3, 11) })
        {
            var w = AntialiasBicubic.Compute(i, o);
            for (int k = 0; k < o; k++)
            {
                double s = 0;
                for (int j = 0; j < w.Counts[k]; j++) s += w.Weights[k * w.KSize + j];
                Assert.InRange(s, 1 - 1e-5, 1 + 1e-5);
                Assert.InRange(w.Starts[k], 0, i - 1);
                Assert.InRange(w.Starts[k] + w.Counts[k], 1, i);
            }
        }

        TorchBackend.EnsureInitialized();
        var img = TestImages.Random(57, 33, 9);
        var chw = ClipPreprocessing.ToChw01(img);
        foreach (var (oh, ow) in new[] { (20, 31), (70, 90), (33, 12), (5, 57) })
        {
            var cpu = AntialiasBicubic.ResizeChw(chw, 3, 33, 57, oh, ow);
            using var x = tensor(chw, new long[] { 1, 3, 33, 57 }, float32);
            using var y = TensorTransforms.ResizeBicubicAntialias(x, oh, ow);
            Assert.Equal(new long[] { 1, 3, oh, ow }, y.shape);
            var (diff, _) = TestImages.MaxAbsDiff(cpu, y.data<float>().ToArray());
            Assert.True(diff < 1e-5, $"{oh}x{ow}: CPU and tensor resize differ by {diff}");
        }
    }

    [Theory]
    [InlineData(1024, 1024, 224, 224)]
    [InlineData(37, 53, 11, 29)]
    [InlineData(640, 480, 224, 168)]
    [InlineData(5, 7, 3, 2)]
    [InlineData(300, 200, 300, 50)]  // vertical pass only
    [InlineData(300, 200, 100, 200)] // horizontal pass only
    [InlineData(20, 20, 40, 40)]     // upscaling
    public void ResizingFromBytesIsBitIdenticalToResizingTheFloatImage(int w, int h, int ow, int oh)
    {
        // The fast path (bytes read directly, R/G/B in one vector) must give exactly the scalar float path's values.
        var img = TestImages.Random(w, h, w * 31 + h);
        var fast = AntialiasBicubic.ResizeRgb01(img, oh, ow);
        var reference = AntialiasBicubic.ResizeChw(ClipPreprocessing.ToChw01(img), 3, h, w, oh, ow);
        Assert.Equal(reference.Length, fast.Length);
        for (int i = 0; i < fast.Length; i++)
            Assert.True(BitConverter.SingleToInt32Bits(reference[i]) == BitConverter.SingleToInt32Bits(fast[i]),
                $"value {i}: {fast[i]:R} vs {reference[i]:R}");
    }

    [Theory]
    [InlineData(ClipTransformKind.PilCenterCrop, 40, 27)]
    [InlineData(ClipTransformKind.TensorCenterCrop, 23, 50)]
    [InlineData(ClipTransformKind.HpsPad, 40, 27)]
    [InlineData(ClipTransformKind.HpsPad, 12, 9)]
    public void TensorPreprocessIsDifferentiable(ClipTransformKind kind, int h, int w)
    {
        TorchBackend.EnsureInitialized();
        const int size = 32;
        using var scope = NewDisposeScope();
        manual_seed(1234);
        var x = rand(new long[] { 2, 3, h, w }, float64).requires_grad_(true);
        var y = TensorTransforms.ClipTensorPreprocess(x, kind, size);
        Assert.Equal(new long[] { 2, 3, size, size }, y.shape);
        var g = randn(y.shape, float64);
        var loss = (y * g).sum();
        loss.backward();
        var grad = x.grad;
        Assert.NotNull(grad);
        Assert.Equal(x.shape, grad!.shape);
        Assert.True(grad.abs().sum().item<double>() > 0, "gradient is zero");
        // y = (R(x) - m) / s with R linear, so <x, dL/dx> = sum(R(x) * g / s) = loss + sum(m * g / s).
        var m = tensor(ClipPreprocessing.ClipMean.Select(v => (double)v).ToArray(), new long[] { 3, 1, 1 }, float64);
        var s = tensor(ClipPreprocessing.ClipStd.Select(v => (double)v).ToArray(), new long[] { 3, 1, 1 }, float64);
        double lhs = (x * grad).sum().item<double>();
        double rhs = loss.item<double>() + (m * g / s).sum().item<double>();
        Assert.True(Math.Abs(lhs - rhs) < 1e-6 * Math.Max(1, Math.Abs(rhs)), $"adjoint check failed: {lhs} vs {rhs}");
    }

    [Fact]
    public void TensorHelpersValidateAndPad()
    {
        TorchBackend.EnsureInitialized();
        using var scope = NewDisposeScope();
        var x = ones(1, 3, 3, 6);
        var p = TensorTransforms.PadToSquare(x, 8);
        Assert.Equal(new long[] { 1, 3, 8, 8 }, p.shape);
        // pad_h = 5: top 2, bottom 3; pad_w = 2: left 1, right 1.
        Assert.Equal(0f, p[0, 0, 1, 3].item<float>());
        Assert.Equal(1f, p[0, 0, 2, 1].item<float>());
        Assert.Equal(1f, p[0, 0, 4, 6].item<float>());
        Assert.Equal(0f, p[0, 0, 5, 6].item<float>());
        Assert.Equal(0f, p[0, 0, 2, 7].item<float>());

        var c = TensorTransforms.CenterCrop(arange(7 * 7).reshape(1, 1, 7, 7).to(float32), 4);
        Assert.Equal(new long[] { 1, 1, 4, 4 }, c.shape);
        Assert.Equal(16f, c[0, 0, 0, 0].item<float>()); // offset round(1.5) = 2 (half to even) -> element 2 * 7 + 2
        Assert.Throws<ArgumentException>(() => TensorTransforms.ClipTensorPreprocess(ones(3, 10, 10), ClipTransformKind.HpsPad, 8));
        Assert.Throws<ArgumentException>(() => TensorTransforms.ResizeBicubicAntialias(ones(new long[] { 1, 3, 4, 4 }, ScalarType.Byte), 2, 2));
    }
}
