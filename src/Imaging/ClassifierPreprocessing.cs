using BiasBench.Abstractions;

namespace BiasBench.Imaging;

/// <summary>
/// The image classifier's transforms (torchvision on PIL images): evaluation = <c>Resize((size, size))</c> (PIL
/// bilinear, antialiased), <c>ToTensor</c>, <c>Normalize(ImageNet mean, std)</c>; training adds
/// <see cref="ImageAugmentation"/> (RandomResizedCrop, horizontal flip, colour jitter) in place of the resize.
/// </summary>
public static class ClassifierPreprocessing
{
    public static IReadOnlyList<float> ImageNetMean { get; } = [0.485f, 0.456f, 0.406f];
    public static IReadOnlyList<float> ImageNetStd { get; } = [0.229f, 0.224f, 0.225f];

    /// <summary>Resize to size x size (PIL bilinear), ToTensor, ImageNet normalisation.</summary>
    public static ChwImage Evaluate(RgbImage image, int size, IReadOnlyList<float>? mean = null, IReadOnlyList<float>? std = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        var resized = image.Width == size && image.Height == size ? image : PilResize.Bilinear(image, size, size);
        var chw = ClipPreprocessing.ToChw01(resized);
        NormalizeInPlace(chw, size * size, mean ?? ImageNetMean, std ?? ImageNetStd);
        return new ChwImage(3, size, size, chw);
    }

    /// <summary>torchvision Normalize on CHW floats: (x - mean[c]) / std[c] in float32.</summary>
    public static void NormalizeInPlace(float[] chw, int planeSize, IReadOnlyList<float> mean, IReadOnlyList<float> std)
    {
        if (mean.Count != 3 || std.Count != 3) throw new ArgumentException("mean and std need 3 values each.");
        for (var c = 0; c < 3; c++)
        {
            float m = mean[c], s = std[c];
            var plane = chw.AsSpan(c * planeSize, planeSize);
            for (var i = 0; i < plane.Length; i++) plane[i] = (plane[i] - m) / s;
        }
    }
}

/// <summary>Settings of the training augmentation (torchvision's defaults for RandomResizedCrop).</summary>
public sealed record AugmentationSettings
{
    public int Size { get; init; } = 256;
    public double ScaleMin { get; init; } = 0.08;
    public double ScaleMax { get; init; } = 1.0;
    public double RatioMin { get; init; } = 3.0 / 4.0;
    public double RatioMax { get; init; } = 4.0 / 3.0;
    public double FlipProbability { get; init; } = 0.5;
    public double Brightness { get; init; } = 0.2;
    public double Contrast { get; init; } = 0.2;
    public double Saturation { get; init; } = 0.2;
    public double Hue { get; init; } = 0.02;
}

/// <summary>
/// Training augmentation with torchvision's algorithms and an explicit <see cref="Random"/> (the caller seeds one per
/// sample from the run seed, epoch and sample index, so augmentation is reproducible and independent of threads):
/// RandomResizedCrop (torchvision's <c>get_params</c>: 10 tries of area x U(scale), log-uniform ratio, Python rounding,
/// then the central fallback) resized with PIL bilinear; horizontal flip; ColorJitter (brightness, contrast, saturation,
/// hue in a random order with torchvision's factor ranges and its tensor blending formulas, applied to [0,1] floats).
/// </summary>
public static class ImageAugmentation
{
    /// <summary>torchvision <c>RandomResizedCrop.get_params</c>: (top, left, height, width).</summary>
    public static (int Top, int Left, int Height, int Width) RandomResizedCropBox(int height, int width, Random rng, AugmentationSettings s)
    {
        double area = (double)height * width;
        double logMin = Math.Log(s.RatioMin), logMax = Math.Log(s.RatioMax);
        for (var attempt = 0; attempt < 10; attempt++)
        {
            var targetArea = area * Uniform(rng, s.ScaleMin, s.ScaleMax);
            var aspect = Math.Exp(Uniform(rng, logMin, logMax));
            var w = (int)Math.Round(Math.Sqrt(targetArea * aspect), MidpointRounding.ToEven);
            var h = (int)Math.Round(Math.Sqrt(targetArea / aspect), MidpointRounding.ToEven);
            if (w > 0 && w <= width && h > 0 && h <= height)
                return (rng.Next(0, height - h + 1), rng.Next(0, width - w + 1), h, w);
        }
        double inRatio = (double)width / height;
        int cw, ch;
        if (inRatio < s.RatioMin) { cw = width; ch = (int)Math.Round(cw / s.RatioMin, MidpointRounding.ToEven); }
        else if (inRatio > s.RatioMax) { ch = height; cw = (int)Math.Round(ch * s.RatioMax, MidpointRounding.ToEven); }
        else { cw = width; ch = height; }
        return ((height - ch) / 2, (width - cw) / 2, ch, cw);
    }

    /// <summary>Crop + resize + flip + colour jitter + ImageNet normalisation: a normalised [3, size, size] image.</summary>
    public static ChwImage Apply(RgbImage image, Random rng, AugmentationSettings s, IReadOnlyList<float>? mean = null, IReadOnlyList<float>? std = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        var (top, left, h, w) = RandomResizedCropBox(image.Height, image.Width, rng, s);
        var resized = PilResize.Bilinear(Crop(image, top, left, h, w), s.Size, s.Size);
        var chw = ClipPreprocessing.ToChw01(resized);
        var plane = s.Size * s.Size;
        if (rng.NextDouble() < s.FlipProbability) FlipHorizontal(chw, s.Size, s.Size);
        ColorJitter(chw, plane, rng, s);
        ClassifierPreprocessing.NormalizeInPlace(chw, plane, mean ?? ClassifierPreprocessing.ImageNetMean, std ?? ClassifierPreprocessing.ImageNetStd);
        return new ChwImage(3, s.Size, s.Size, chw);
    }

    public static RgbImage Crop(RgbImage image, int top, int left, int height, int width)
    {
        if (top == 0 && left == 0 && height == image.Height && width == image.Width) return image;
        var pixels = new byte[checked(height * width * 3)];
        for (var y = 0; y < height; y++)
            image.Pixels.AsSpan(((top + y) * image.Width + left) * 3, width * 3).CopyTo(pixels.AsSpan(y * width * 3));
        return new RgbImage(width, height, pixels);
    }

    public static void FlipHorizontal(float[] chw, int height, int width)
    {
        for (var row = 0; row < 3 * height; row++) chw.AsSpan(row * width, width).Reverse();
    }

    /// <summary>
    /// torchvision ColorJitter: factors b, c, s ~ U(max(0, 1 - x), 1 + x), hue ~ U(-h, h), applied in the order of a
    /// random permutation of the four; each blend is clamped to [0, 1] as torchvision does for float images.
    /// </summary>
    public static void ColorJitter(float[] chw, int plane, Random rng, AugmentationSettings s)
    {
        var order = new[] { 0, 1, 2, 3 };
        for (var i = order.Length - 1; i > 0; i--) { var j = rng.Next(i + 1); (order[i], order[j]) = (order[j], order[i]); }
        double? b = s.Brightness > 0 ? Uniform(rng, Math.Max(0, 1 - s.Brightness), 1 + s.Brightness) : null;
        double? c = s.Contrast > 0 ? Uniform(rng, Math.Max(0, 1 - s.Contrast), 1 + s.Contrast) : null;
        double? sat = s.Saturation > 0 ? Uniform(rng, Math.Max(0, 1 - s.Saturation), 1 + s.Saturation) : null;
        double? hue = s.Hue > 0 ? Uniform(rng, -s.Hue, s.Hue) : null;
        foreach (var fn in order)
            switch (fn)
            {
                case 0 when b is { } f: Blend(chw, null, 0f, (float)f); break;
                case 1 when c is { } f:
                {
                    double sum = 0;
                    for (var i = 0; i < plane; i++) sum += Gray(chw, plane, i);
                    Blend(chw, null, (float)(sum / plane), (float)f);
                    break;
                }
                case 2 when sat is { } f:
                {
                    var gray = new float[plane];
                    for (var i = 0; i < plane; i++) gray[i] = Gray(chw, plane, i);
                    Blend(chw, gray, 0f, (float)f);
                    break;
                }
                case 3 when hue is { } f: ShiftHue(chw, plane, (float)f); break;
            }
    }

    private static float Gray(float[] chw, int plane, int i) => 0.2989f * chw[i] + 0.587f * chw[plane + i] + 0.114f * chw[2 * plane + i];

    /// <summary>torchvision _blend: clamp(ratio * img + (1 - ratio) * other, 0, 1), other a per-pixel plane or a constant.</summary>
    private static void Blend(float[] chw, float[]? otherPlane, float otherConstant, float ratio)
    {
        var plane = chw.Length / 3;
        for (var i = 0; i < chw.Length; i++)
        {
            var other = otherPlane is null ? otherConstant : otherPlane[i % plane];
            chw[i] = Math.Clamp(ratio * chw[i] + (1 - ratio) * other, 0f, 1f);
        }
    }

    /// <summary>torchvision adjust_hue on floats: RGB -> HSV, h = (h + factor) mod 1, HSV -> RGB.</summary>
    private static void ShiftHue(float[] chw, int plane, float factor)
    {
        for (var i = 0; i < plane; i++)
        {
            float r = chw[i], g = chw[plane + i], bl = chw[2 * plane + i];
            float max = Math.Max(r, Math.Max(g, bl)), min = Math.Min(r, Math.Min(g, bl));
            float cr = max - min;
            float sat = max == 0 ? 0 : cr / max;
            float h = 0;
            if (cr > 0)
            {
                if (max == r) h = (g - bl) / cr;
                else if (max == g) h = 2 + (bl - r) / cr;
                else h = 4 + (r - g) / cr;
                h /= 6;
            }
            h = (h + factor) % 1f;
            if (h < 0) h += 1;
            float v = max;
            var h6 = h * 6;
            var sector = (int)Math.Floor(h6) % 6;
            var frac = h6 - MathF.Floor(h6);
            float p = v * (1 - sat), q = v * (1 - sat * frac), t = v * (1 - sat * (1 - frac));
            (r, g, bl) = sector switch
            {
                0 => (v, t, p),
                1 => (q, v, p),
                2 => (p, v, t),
                3 => (p, q, v),
                4 => (t, p, v),
                _ => (v, p, q),
            };
            chw[i] = Math.Clamp(r, 0f, 1f); chw[plane + i] = Math.Clamp(g, 0f, 1f); chw[2 * plane + i] = Math.Clamp(bl, 0f, 1f);
        }
    }

    private static double Uniform(Random rng, double low, double high) => low + (high - low) * rng.NextDouble();
}
