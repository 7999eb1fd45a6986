using static TorchSharp.torch;

namespace BiasBench.Plugins.ClipRewards;

/// <summary>How an image becomes the CLIP input square.</summary>
public enum ClipImageTransform
{
    /// <summary>PIL bicubic resize of the short side, center crop, CLIP mean/std (transformers' CLIPImageProcessor,
    /// OpenAI CLIP): PickScore, CLIPScore, the LAION aesthetic predictor.</summary>
    PilCenterCrop,

    /// <summary>To tensor first, then tensor bicubic resize (antialias) of the short side, center crop, CLIP mean/std.</summary>
    TensorCenterCrop,

    /// <summary>HPS v2's score() transform: resize the longest side (tensor bicubic, antialias), pad to a square
    /// with black (left/top get half the padding, rounded down), CLIP mean/std.</summary>
    HpsResizeLongestPad,
}

public static class ClipImageTransforms
{
    public static ClipImageTransform Parse(string name) => name.Trim().ToLowerInvariant() switch
    {
        "pil-center-crop" => ClipImageTransform.PilCenterCrop,
        "tensor-center-crop" => ClipImageTransform.TensorCenterCrop,
        "hps-pad" => ClipImageTransform.HpsResizeLongestPad,
        _ => throw new ArgumentException($"Unknown image transform '{name}': use pil-center-crop, tensor-center-crop or hps-pad."),
    };

    /// <summary>The descriptor of a pipeline's preprocessing, noting a reduced-scale JPEG decode when it is on.</summary>
    public static string Describe(IClipImagePipeline images) =>
        Describe(images.Transform, images.Size) + (images is ImagingClipPipeline { JpegDctScaling: true } ? "; JPEG decoded at a reduced DCT scale" : "");

    /// <summary>The descriptor recorded in <see cref="BiasBench.Abstractions.RewardModelInfo.Preprocessing"/>.</summary>
    public static string Describe(ClipImageTransform transform, int size) => transform switch
    {
        ClipImageTransform.PilCenterCrop => $"pil-bicubic-short-side-{size}+center-crop/clip-mean-std",
        ClipImageTransform.TensorCenterCrop => $"tensor-bicubic-antialias-short-side-{size}+center-crop/clip-mean-std",
        ClipImageTransform.HpsResizeLongestPad => $"tensor-bicubic-antialias-long-side-{size}+black-pad/clip-mean-std",
        _ => throw new ArgumentOutOfRangeException(nameof(transform), transform, null),
    };
}

/// <summary>Decoding + preprocessing of one model's images, both from encoded bytes and from pixel tensors.</summary>
public interface IClipImagePipeline
{
    ClipImageTransform Transform { get; }

    /// <summary>Side of the square model input.</summary>
    int Size { get; }

    /// <summary>Decodes an encoded image (JPEG, PNG, WebP...) and returns the normalised CHW float32 pixels
    /// (3 x Size x Size values). Throws, naming <paramref name="sourceName"/> and the reason, when the bytes cannot be
    /// decoded. Thread-safe.</summary>
    float[] Preprocess(ReadOnlyMemory<byte> encoded, string sourceName = "image");

    /// <summary>As <see cref="Preprocess"/>, written into <paramref name="destination"/> (3 x Size x Size floats): a batch
    /// is prepared in place in the buffer that goes to the device. Thread-safe.</summary>
    void PreprocessInto(ReadOnlyMemory<byte> encoded, Span<float> destination, string sourceName = "image")
    {
        var data = Preprocess(encoded, sourceName);
        if (data.Length != destination.Length)
            throw new InvalidOperationException($"The image pipeline returned {data.Length} values for {sourceName}; expected {destination.Length} (3x{Size}x{Size}).");
        data.CopyTo(destination);
    }

    /// <summary>[N,3,H,W] in [0,1] -> normalised [N,3,Size,Size], differentiable with respect to the input.</summary>
    Tensor PreprocessTensor(Tensor images);
}

/// <summary>Token ids for one prompt at the model's context length.</summary>
public sealed record ClipPromptTokens(long[] InputIds, long[] AttentionMask, bool Truncated, int TokenCount);

/// <summary>CLIP BPE tokenisation for one model (its padding id and context length).</summary>
public interface IClipPromptTokenizer
{
    int ContextLength { get; }

    /// <summary>Start token, BPE tokens, end token, padded; over-long prompts are cut keeping the end token and
    /// reported through <see cref="ClipPromptTokens.Truncated"/>. Thread-safe.</summary>
    ClipPromptTokens Encode(string prompt);
}
