using static TorchSharp.torch;

namespace BiasBench.Plugins.ImageReward;

/// <summary>
/// ImageReward's preprocessing on tensors, differentiable end to end: resize the short side to <c>size</c> with
/// antialiased bicubic interpolation, centre-crop, CLIP mean/std normalisation. This is torchvision's tensor pipeline
/// (<c>Resize(size, BICUBIC, antialias=True)</c> on a float tensor, <c>CenterCrop</c>, <c>Normalize</c>); the release
/// scores PIL images, whose bicubic resize of 8-bit pixels differs slightly (see the preprocess fixture).
/// </summary>
public static class DifferentiablePreprocessing
{
    public static readonly double[] ClipMean = [0.48145466, 0.4578275, 0.40821073];
    public static readonly double[] ClipStd = [0.26862954, 0.26130258, 0.27577711];

    /// <summary><paramref name="images"/>: [N, 3, H, W] in [0, 1]. Returns [N, 3, size, size] normalised, same dtype and device.</summary>
    public static Tensor ResizeCropNormalize(Tensor images, int size)
    {
        if (images.dim() != 4 || images.shape[1] != 3)
            throw new ArgumentException($"Images must be [N, 3, H, W], got [{string.Join(", ", images.shape)}].");
        if (!images.is_floating_point())
            throw new ArgumentException($"Images must be a floating-point tensor with values in [0, 1], got {images.dtype}.");
        if (size <= 0) throw new ArgumentOutOfRangeException(nameof(size), size, "The output size must be positive.");

        using var scope = NewDisposeScope();
        var (h, w) = (images.shape[2], images.shape[3]);
        var (newH, newW) = ResizedSize(h, w, size);
        var x = images;
        if (newH != h || newW != w)
            x = nn.functional.interpolate(x, size: [newH, newW], mode: InterpolationMode.Bicubic, align_corners: false, antialias: true);
        var (top, left) = CropOffsets(newH, newW, size);
        x = x.narrow(2, top, size).narrow(3, left, size);
        var mean = tensor(ClipMean, dtype: x.dtype, device: x.device).view(1, 3, 1, 1);
        var std = tensor(ClipStd, dtype: x.dtype, device: x.device).view(1, 3, 1, 1);
        return ((x - mean) / std).MoveToOuterDisposeScope();
    }

    /// <summary>torchvision's <c>_compute_resized_output_size</c> for an int size: short side = size, long side truncated.</summary>
    public static (long Height, long Width) ResizedSize(long height, long width, int size)
    {
        var (shortSide, longSide) = height <= width ? (height, width) : (width, height);
        if (shortSide == size) return (height, width);
        var newLong = (long)(size * (double)longSide / shortSide);
        return height <= width ? (size, newLong) : (newLong, size);
    }

    /// <summary>torchvision <c>center_crop</c>: offsets <c>int(round((dim - size) / 2))</c>, Python's round-half-even.</summary>
    public static (long Top, long Left) CropOffsets(long height, long width, int size)
    {
        if (height < size || width < size)
            throw new ArgumentException($"A {height}x{width} image is smaller than the {size}x{size} crop.");
        return ((long)Math.Round((height - size) / 2.0, MidpointRounding.ToEven), (long)Math.Round((width - size) / 2.0, MidpointRounding.ToEven));
    }
}
