using BiasBench.Torch.Backend;
using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Imaging;

/// <summary>
/// Differentiable TorchSharp versions of the preprocessing (for fine-tuning through a reward model): every op is a
/// matmul, slice, pad or affine map, so gradients flow back to the input images.
/// </summary>
public static class TensorTransforms
{
    /// <summary>
    /// PyTorch's <c>interpolate(x, (h, w), mode="bicubic", align_corners=False, antialias=True)</c> on [N,C,H,W] (or
    /// [C,H,W]) floating-point input, as separable weight matrices (width first, then height; an unchanged dimension is
    /// skipped as in PyTorch). No clamping, like torchvision for float tensors.
    /// </summary>
    public static Tensor ResizeBicubicAntialias(Tensor input, int height, int width)
    {
        ArgumentNullException.ThrowIfNull(input);
        TorchBackend.EnsureInitialized();
        CheckImageTensor(input, nameof(input));
        if (height <= 0 || width <= 0)
            throw new ArgumentOutOfRangeException(nameof(height), $"Resize target must be positive, got {height}x{width}.");
        long inH = input.shape[^2], inW = input.shape[^1];
        using var scope = NewDisposeScope();
        var x = input;
        if (width != inW)
        {
            var ww = WeightMatrix((int)inW, width, input.dtype, input.device); // [outW, inW]
            x = matmul(x, ww.t());
        }
        if (height != inH)
        {
            var wh = WeightMatrix((int)inH, height, input.dtype, input.device); // [outH, inH]
            x = matmul(wh, x);
        }
        if (ReferenceEquals(x, input)) x = input.alias();
        return x.MoveToOuterDisposeScope();
    }

    /// <summary>torchvision center_crop on the last two dims (zero-pads first when the crop is larger).</summary>
    public static Tensor CenterCrop(Tensor input, int height, int width)
    {
        ArgumentNullException.ThrowIfNull(input);
        TorchBackend.EnsureInitialized();
        CheckImageTensor(input, nameof(input));
        if (height <= 0 || width <= 0)
            throw new ArgumentOutOfRangeException(nameof(height), $"Crop size must be positive, got {height}x{width}.");
        int h = (int)input.shape[^2], w = (int)input.shape[^1];
        using var scope = NewDisposeScope();
        var x = input;
        if (height > h || width > w)
        {
            int padL = width > w ? (width - w) / 2 : 0, padT = height > h ? (height - h) / 2 : 0;
            int padR = width > w ? (width - w + 1) / 2 : 0, padB = height > h ? (height - h + 1) / 2 : 0;
            x = nn.functional.pad(x, new long[] { padL, padR, padT, padB }, PaddingModes.Constant, 0.0);
            h = (int)x.shape[^2]; w = (int)x.shape[^1];
        }
        var (top, left) = ClipPreprocessing.CropOffsets(h, w, height, width);
        x = x.narrow(-2, top, height).narrow(-1, left, width);
        if (ReferenceEquals(x, input)) x = input.alias();
        return x.MoveToOuterDisposeScope();
    }

    public static Tensor CenterCrop(Tensor input, int size) => CenterCrop(input, size, size);

    /// <summary>Zero-pads the last two dims to size x size; left/top get pad / 2, right/bottom the rest.</summary>
    public static Tensor PadToSquare(Tensor input, int size)
    {
        ArgumentNullException.ThrowIfNull(input);
        TorchBackend.EnsureInitialized();
        CheckImageTensor(input, nameof(input));
        long h = input.shape[^2], w = input.shape[^1];
        if (h > size || w > size)
            throw new ArgumentException($"Cannot pad a {h}x{w} image to {size}x{size}: it is larger than the target.", nameof(input));
        long padH = size - h, padW = size - w;
        return nn.functional.pad(input, new long[] { padW / 2, padW - padW / 2, padH / 2, padH - padH / 2 }, PaddingModes.Constant, 0.0);
    }

    /// <summary>(x - mean) / std per channel (channel dim = -3).</summary>
    public static Tensor Normalize(Tensor input, IReadOnlyList<float>? mean = null, IReadOnlyList<float>? std = null)
    {
        ArgumentNullException.ThrowIfNull(input);
        TorchBackend.EnsureInitialized();
        CheckImageTensor(input, nameof(input));
        var (m, s) = ClipPreprocessing.Stats(mean, std);
        if (input.shape[^3] != 3)
            throw new ArgumentException($"Normalize expects 3 channels at dim -3, got shape [{string.Join(", ", input.shape)}].", nameof(input));
        using var scope = NewDisposeScope();
        var mt = tensor(m, new long[] { 3, 1, 1 }, float32).to(input.dtype, input.device);
        var st = tensor(s, new long[] { 3, 1, 1 }, float32).to(input.dtype, input.device);
        return input.sub(mt).div(st).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// [N,3,H,W] images in [0,1] -> normalised [N,3,size,size] for a CLIP-style reward model, differentiable.
    /// <see cref="ClipTransformKind.PilCenterCrop"/> uses the tensor antialiased bicubic resize here: the closest
    /// differentiable equivalent of PIL's 8-bit resize (differs by PIL's rounding to 8 bits, about 1/255).
    /// </summary>
    public static Tensor ClipTensorPreprocess(Tensor images01, ClipTransformKind kind, int size, IReadOnlyList<float>? mean = null, IReadOnlyList<float>? std = null)
    {
        ArgumentNullException.ThrowIfNull(images01);
        TorchBackend.EnsureInitialized();
        if (images01.dim() != 4 || images01.shape[1] != 3)
            throw new ArgumentException($"Expected images as [N,3,H,W] in [0,1], got shape [{string.Join(", ", images01.shape)}].", nameof(images01));
        if (size <= 0) throw new ArgumentOutOfRangeException(nameof(size), $"Output size must be positive, got {size}.");
        int h = (int)images01.shape[2], w = (int)images01.shape[3];
        using var scope = NewDisposeScope();
        Tensor x;
        switch (kind)
        {
            case ClipTransformKind.PilCenterCrop:
            case ClipTransformKind.TensorCenterCrop:
            {
                var (nh, nw) = ClipPreprocessing.ShortSideResize(h, w, size);
                x = CenterCrop(ResizeBicubicAntialias(images01, nh, nw), size, size);
                break;
            }
            case ClipTransformKind.HpsPad:
            {
                var (nh, nw) = ClipPreprocessing.LongestSideResize(h, w, size);
                x = PadToSquare(ResizeBicubicAntialias(images01, nh, nw), size);
                break;
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown transform kind.");
        }
        return Normalize(x, mean, std).MoveToOuterDisposeScope();
    }

    private static Tensor WeightMatrix(int inSize, int outSize, ScalarType dtype, Device device)
    {
        var w = AntialiasBicubic.Compute(inSize, outSize).ToDenseMatrix();
        return tensor(w, new long[] { outSize, inSize }, float32).to(dtype, device);
    }

    private static void CheckImageTensor(Tensor t, string name)
    {
        if (t.dim() < 3)
            throw new ArgumentException($"Expected an image tensor [C,H,W] or [N,C,H,W], got shape [{string.Join(", ", t.shape)}].", name);
        if (!t.is_floating_point())
            throw new ArgumentException($"Expected a floating-point image tensor, got {t.dtype} (convert to float and divide by 255 first).", name);
    }
}
