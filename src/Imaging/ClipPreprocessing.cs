using BiasBench.Abstractions;
using BiasBench.Torch.Backend;
using TorchSharp;

namespace BiasBench.Imaging;

/// <summary>The eval-time image transforms reward models were trained with.</summary>
public enum ClipTransformKind
{
    /// <summary>PIL Resize(short side, BICUBIC) + CenterCrop + ToTensor + normalise (CLIP, PickScore, ImageReward).</summary>
    PilCenterCrop,
    /// <summary>ToTensor, tensor Resize(short side, BICUBIC, antialias) + CenterCrop + normalise (open_clip on tensors).</summary>
    TensorCenterCrop,
    /// <summary>HPSv2 score(): ToTensor, resize the longest side (tensor bicubic, antialias), pad to a square with black, normalise.</summary>
    HpsPad,
}

/// <summary>A float32 CHW image (values normalised by the transform that made it).</summary>
public sealed class ChwImage
{
    public ChwImage(int channels, int height, int width, float[] data)
    {
        if (data.Length != checked(channels * height * width))
            throw new ArgumentException($"Expected {channels}x{height}x{width} floats, got {data.Length}.", nameof(data));
        Channels = channels; Height = height; Width = width; Data = data;
    }

    public int Channels { get; }
    public int Height { get; }
    public int Width { get; }
    public float[] Data { get; }

    /// <summary>A [C,H,W] float32 tensor (copy).</summary>
    public torch.Tensor ToTensor()
    {
        TorchBackend.EnsureInitialized();
        return torch.tensor(Data, new long[] { Channels, Height, Width }, torch.float32);
    }

    /// <summary>Stacks same-sized images into a [N,C,H,W] float32 tensor.</summary>
    public static torch.Tensor Batch(IReadOnlyList<ChwImage> images)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (images.Count == 0) throw new ArgumentException("Cannot batch zero images.", nameof(images));
        var first = images[0];
        int per = first.Data.Length;
        var all = new float[checked(per * images.Count)];
        for (int i = 0; i < images.Count; i++)
        {
            var im = images[i];
            if (im.Channels != first.Channels || im.Height != first.Height || im.Width != first.Width)
                throw new ArgumentException($"Image {i} is {im.Channels}x{im.Height}x{im.Width}, image 0 is {first.Channels}x{first.Height}x{first.Width}.", nameof(images));
            im.Data.CopyTo(all, i * per);
        }
        TorchBackend.EnsureInitialized();
        return torch.tensor(all, new long[] { images.Count, first.Channels, first.Height, first.Width }, torch.float32);
    }
}

/// <summary>
/// CPU (no torch) reproductions of the reference preprocessing pipelines, returning normalised float32 CHW images.
/// Mean/std default to CLIP's and can be overridden (3 values each).
/// </summary>
public static class ClipPreprocessing
{
    public static IReadOnlyList<float> ClipMean { get; } = [0.48145466f, 0.4578275f, 0.40821073f];
    public static IReadOnlyList<float> ClipStd { get; } = [0.26862954f, 0.26130258f, 0.27577711f];

    public static ChwImage Apply(RgbImage image, ClipTransformKind kind, int size, IReadOnlyList<float>? mean = null, IReadOnlyList<float>? std = null) => kind switch
    {
        ClipTransformKind.PilCenterCrop => PilCenterCrop(image, size, mean, std),
        ClipTransformKind.TensorCenterCrop => TensorCenterCrop(image, size, mean, std),
        ClipTransformKind.HpsPad => HpsPad(image, size, mean, std),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown transform kind."),
    };

    /// <summary>torchvision Resize(size, BICUBIC) on a PIL image, CenterCrop(size), ToTensor, Normalize.</summary>
    public static ChwImage PilCenterCrop(RgbImage image, int size, IReadOnlyList<float>? mean = null, IReadOnlyList<float>? std = null)
    {
        CheckSize(size);
        var outData = new float[3 * size * size];
        PilCenterCropInto(image, size, outData, mean, std);
        return new ChwImage(3, size, size, outData);
    }

    /// <summary><see cref="PilCenterCrop"/> written into <paramref name="destination"/> (3 x size x size floats, CHW).</summary>
    public static void PilCenterCropInto(RgbImage image, int size, Span<float> destination, IReadOnlyList<float>? mean = null, IReadOnlyList<float>? std = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        CheckDestination(size, destination);
        var (h, w) = ShortSideResize(image.Height, image.Width, size);
        // The resized image is pooled: it is needed only until the crop below.
        using var pooled = (h == image.Height && w == image.Width) ? null : PilResize.BicubicPooled(image, w, h);
        var resized = pooled?.Image ?? image;
        var (n, s) = Stats(mean, std);
        // CenterCrop pads with zeros when the crop is larger (cannot happen after the short-side resize).
        var (top, left) = CropOffsets(resized.Height, resized.Width, size, size);
        var px = resized.Pixels;
        for (int y = 0; y < size; y++)
        {
            int sy = y + top;
            for (int x = 0; x < size; x++)
            {
                int sx = x + left;
                bool inside = sy >= 0 && sy < resized.Height && sx >= 0 && sx < resized.Width;
                for (int c = 0; c < 3; c++)
                {
                    float v = inside ? px[(sy * resized.Width + sx) * 3 + c] / 255f : 0f;
                    destination[(c * size + y) * size + x] = (v - n[c]) / s[c];
                }
            }
        }
    }

    /// <summary>ToTensor, torchvision tensor Resize(size, BICUBIC, antialias=True) of the short side, CenterCrop, Normalize.</summary>
    public static ChwImage TensorCenterCrop(RgbImage image, int size, IReadOnlyList<float>? mean = null, IReadOnlyList<float>? std = null)
    {
        CheckSize(size);
        var outData = new float[3 * size * size];
        TensorCenterCropInto(image, size, outData, mean, std);
        return new ChwImage(3, size, size, outData);
    }

    /// <summary><see cref="TensorCenterCrop"/> written into <paramref name="destination"/> (3 x size x size floats, CHW).</summary>
    public static void TensorCenterCropInto(RgbImage image, int size, Span<float> destination, IReadOnlyList<float>? mean = null, IReadOnlyList<float>? std = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        CheckDestination(size, destination);
        var (h, w) = ShortSideResize(image.Height, image.Width, size);
        var resized = AntialiasBicubic.ResizeRgb01(image, h, w, out var rented);
        try
        {
            var (n, s) = Stats(mean, std);
            var (top, left) = CropOffsets(h, w, size, size);
            for (int c = 0; c < 3; c++)
                for (int y = 0; y < size; y++)
                {
                    int sy = y + top;
                    for (int x = 0; x < size; x++)
                    {
                        int sx = x + left;
                        float v = sy >= 0 && sy < h && sx >= 0 && sx < w ? resized[(c * h + sy) * w + sx] : 0f;
                        destination[(c * size + y) * size + x] = (v - n[c]) / s[c];
                    }
                }
        }
        finally
        {
            if (rented) System.Buffers.ArrayPool<float>.Shared.Return(resized);
        }
    }

    /// <summary>
    /// HPSv2 score() transform: ToTensor, resize so the longest side is <paramref name="size"/> (tensor bicubic, antialias),
    /// pad to size x size with 0 (left/top get pad/2), normalise. Unlike HPSv2's ResizeMaxSize, an image whose longest
    /// side already equals <paramref name="size"/> is still padded to a square (the model needs a square input).
    /// </summary>
    public static ChwImage HpsPad(RgbImage image, int size, IReadOnlyList<float>? mean = null, IReadOnlyList<float>? std = null)
    {
        CheckSize(size);
        var outData = new float[3 * size * size];
        HpsPadInto(image, size, outData, mean, std);
        return new ChwImage(3, size, size, outData);
    }

    /// <summary><see cref="HpsPad"/> written into <paramref name="destination"/> (3 x size x size floats, CHW).</summary>
    public static void HpsPadInto(RgbImage image, int size, Span<float> destination, IReadOnlyList<float>? mean = null, IReadOnlyList<float>? std = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        CheckDestination(size, destination);
        var (h, w) = LongestSideResize(image.Height, image.Width, size);
        var resized = AntialiasBicubic.ResizeRgb01(image, h, w, out var rented);
        try
        {
            var (n, s) = Stats(mean, std);
            int padTop = (size - h) / 2, padLeft = (size - w) / 2;
            for (int c = 0; c < 3; c++)
                for (int y = 0; y < size; y++)
                {
                    int sy = y - padTop;
                    for (int x = 0; x < size; x++)
                    {
                        int sx = x - padLeft;
                        float v = sy >= 0 && sy < h && sx >= 0 && sx < w ? resized[(c * h + sy) * w + sx] : 0f;
                        destination[(c * size + y) * size + x] = (v - n[c]) / s[c];
                    }
                }
        }
        finally
        {
            if (rented) System.Buffers.ArrayPool<float>.Shared.Return(resized);
        }
    }

    /// <summary>The transform of <paramref name="kind"/> written into <paramref name="destination"/> (3 x size x size floats).</summary>
    public static void ApplyInto(RgbImage image, ClipTransformKind kind, int size, Span<float> destination, IReadOnlyList<float>? mean = null, IReadOnlyList<float>? std = null)
    {
        switch (kind)
        {
            case ClipTransformKind.PilCenterCrop: PilCenterCropInto(image, size, destination, mean, std); break;
            case ClipTransformKind.TensorCenterCrop: TensorCenterCropInto(image, size, destination, mean, std); break;
            case ClipTransformKind.HpsPad: HpsPadInto(image, size, destination, mean, std); break;
            default: throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown transform kind.");
        }
    }

    private static void CheckDestination(int size, Span<float> destination)
    {
        CheckSize(size);
        if (destination.Length != 3 * size * size)
            throw new ArgumentException($"The destination holds {destination.Length} floats; 3x{size}x{size} = {3 * size * size} are needed.", nameof(destination));
    }

    /// <summary>ToTensor: HWC bytes -> CHW floats in [0,1] (x / 255 in float32).</summary>
    public static float[] ToChw01(RgbImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        int hw = image.Width * image.Height;
        var outData = new float[3 * hw];
        var px = image.Pixels;
        for (int i = 0; i < hw; i++)
        {
            outData[i] = px[i * 3] / 255f;
            outData[hw + i] = px[i * 3 + 1] / 255f;
            outData[2 * hw + i] = px[i * 3 + 2] / 255f;
        }
        return outData;
    }

    /// <summary>torchvision's Resize(int) output size: short side = size, long side = int(size * long / short).</summary>
    public static (int Height, int Width) ShortSideResize(int height, int width, int size)
    {
        CheckSize(size);
        if (height <= 0 || width <= 0) throw new ArgumentOutOfRangeException(nameof(height), $"Image size must be positive, got {height}x{width}.");
        bool wShort = width <= height;
        int shortSide = wShort ? width : height, longSide = wShort ? height : width;
        int newLong = (int)((double)((long)size * longSide) / shortSide);
        return wShort ? (newLong, size) : (size, newLong);
    }

    /// <summary>HPSv2 ResizeMaxSize: scale = size / max(h, w); new dims = round(dim * scale) (Python's round half to even).</summary>
    public static (int Height, int Width) LongestSideResize(int height, int width, int size)
    {
        CheckSize(size);
        if (height <= 0 || width <= 0) throw new ArgumentOutOfRangeException(nameof(height), $"Image size must be positive, got {height}x{width}.");
        double scale = size / (double)Math.Max(height, width);
        int h = Math.Max(1, (int)Math.Round(height * scale, MidpointRounding.ToEven));
        int w = Math.Max(1, (int)Math.Round(width * scale, MidpointRounding.ToEven));
        return (h, w);
    }

    /// <summary>
    /// torchvision center_crop offsets: int(round((dim - crop) / 2.0)) with Python's round half to even; when the crop is
    /// larger, torchvision pads (crop - dim) // 2 on the top/left first, i.e. a negative offset.
    /// </summary>
    public static (int Top, int Left) CropOffsets(int height, int width, int cropHeight, int cropWidth) =>
        (Offset(height, cropHeight), Offset(width, cropWidth));

    private static int Offset(int dim, int crop) =>
        crop > dim ? -((crop - dim) / 2) : (int)Math.Round((dim - crop) / 2.0, MidpointRounding.ToEven);

    internal static (float[] Mean, float[] Std) Stats(IReadOnlyList<float>? mean, IReadOnlyList<float>? std)
    {
        var m = (mean ?? ClipMean).ToArray();
        var s = (std ?? ClipStd).ToArray();
        if (m.Length != 3 || s.Length != 3)
            throw new ArgumentException($"Normalisation needs 3 mean and 3 std values, got {m.Length} and {s.Length}.");
        if (s.Any(v => !(v > 0f) || float.IsInfinity(v)))
            throw new ArgumentException($"Normalisation std values must be positive and finite, got [{string.Join(", ", s)}].");
        return (m, s);
    }

    private static void CheckSize(int size)
    {
        if (size <= 0) throw new ArgumentOutOfRangeException(nameof(size), $"Output size must be positive, got {size}.");
    }
}
