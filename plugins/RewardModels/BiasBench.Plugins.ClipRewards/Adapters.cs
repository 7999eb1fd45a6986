using BiasBench.Imaging;
using BiasBench.Tokenizers;
using static TorchSharp.torch;

namespace BiasBench.Plugins.ClipRewards;

/// <summary>Decoding and CLIP preprocessing through BiasBench.Imaging (PIL-exact crop, torchvision tensor resize, HPSv2 pad).</summary>
public sealed class ImagingClipPipeline(ClipImageTransform transform, int size, ImageDecodeLimits? limits = null) : IClipImagePipeline
{
    public ClipImageTransform Transform => transform;
    public int Size => size;

    /// <summary>Whether JPEGs are decoded at a reduced DCT scale before the resize (faster; the pixels differ slightly).</summary>
    public bool JpegDctScaling => limits?.JpegDctScalingMinShortSide is not null;

    /// <summary>A pipeline that decodes JPEGs at the smallest DCT scale whose short side is still at least <paramref name="size"/>.</summary>
    public static ImagingClipPipeline WithJpegDctScaling(ClipImageTransform transform, int size) =>
        new(transform, size, new ImageDecodeLimits { JpegDctScalingMinShortSide = size });

    private ClipTransformKind Kind => transform switch
    {
        ClipImageTransform.PilCenterCrop => ClipTransformKind.PilCenterCrop,
        ClipImageTransform.TensorCenterCrop => ClipTransformKind.TensorCenterCrop,
        ClipImageTransform.HpsResizeLongestPad => ClipTransformKind.HpsPad,
        _ => throw new ArgumentOutOfRangeException(nameof(transform), transform, null),
    };

    public float[] Preprocess(ReadOnlyMemory<byte> encoded, string sourceName = "image")
    {
        var data = new float[3 * size * size];
        PreprocessInto(encoded, data, sourceName);
        return data;
    }

    /// <summary>Decodes into a pooled pixel buffer and writes the model input straight into <paramref name="destination"/>.</summary>
    public void PreprocessInto(ReadOnlyMemory<byte> encoded, Span<float> destination, string sourceName = "image")
    {
        using var image = ImageDecoder.DecodePooled(encoded.Span, sourceName, limits);
        ClipPreprocessing.ApplyInto(image.Image, Kind, size, destination);
    }

    /// <summary>Differentiable: for PIL-style models this is the tensor bicubic resize, the closest differentiable equivalent.</summary>
    public Tensor PreprocessTensor(Tensor images) => TensorTransforms.ClipTensorPreprocess(images, Kind, size);
}

/// <summary>CLIP BPE for one model: start token, BPE ids, end token, padded with the model's pad id.</summary>
public sealed class ClipBpePromptTokenizer(ClipBpeTokenizer tokenizer, long padId, int contextLength) : IClipPromptTokenizer
{
    public int ContextLength => contextLength;

    public ClipPromptTokens Encode(string prompt)
    {
        var t = tokenizer.Encode(prompt, contextLength, padId);
        return new ClipPromptTokens(t.InputIds, t.AttentionMask, t.Truncated, t.TokenCount);
    }

    /// <summary>Hugging Face files (PickScore, CLIPScore): transformers' CLIPTokenizer cleaning (no HTML unescaping).</summary>
    public static ClipBpePromptTokenizer FromHuggingFace(string vocabJson, string mergesTxt, long padId, int contextLength) =>
        new(ClipBpeTokenizer.FromHuggingFace(vocabJson, mergesTxt, ClipTextCleaning.HuggingFace), padId, contextLength);

    /// <summary>open_clip's bpe_simple_vocab_16e6.txt.gz (HPS v2): open_clip's cleaning.</summary>
    public static ClipBpePromptTokenizer FromOpenClip(string bpeGz, long padId, int contextLength) =>
        new(ClipBpeTokenizer.FromOpenClipVocabulary(bpeGz, ClipTextCleaning.OpenClip), padId, contextLength);
}
