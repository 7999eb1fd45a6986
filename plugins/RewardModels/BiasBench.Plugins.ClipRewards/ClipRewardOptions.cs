using System.ComponentModel.DataAnnotations;
using BiasBench.Torch.Backend;
using static TorchSharp.torch;

namespace BiasBench.Plugins.ClipRewards;

/// <summary>Options shared by every CLIP-based reward model (YAML keys in snake_case).</summary>
public class ClipBackboneOptions
{
    /// <summary>
    /// The CLIP weights: a Hugging Face model folder (config.json + model.safetensors / pytorch_model.bin), an open_clip
    /// folder (open_clip_config.json + weights), or a single weights file (.safetensors, .pt, .pth, .bin) with
    /// <see cref="ConfigPath"/> (or a config beside it).
    /// </summary>
    [Required]
    [BiasBench.Abstractions.ModelWeights] // a missing file is reported as weights to download (validate warns, run refuses)
    public string ModelPath { get; set; } = "";

    /// <summary>config.json (Hugging Face) or an open_clip model config; defaults to the one next to the weights
    /// (HPS v2 falls back to open_clip's built-in ViT-H-14 config).</summary>
    [BiasBench.Abstractions.ModelWeights] // a missing file is reported as weights to download (validate warns, run refuses)
    public string? ConfigPath { get; set; }

    /// <summary>auto, cpu, cuda or cuda:N; empty = the run's device.</summary>
    public string? Device { get; set; }

    /// <summary>float32, float16 or bfloat16; empty = float32 on the CPU, bfloat16 on CUDA.</summary>
    [RegularExpression("^(float32|fp32|float16|fp16|half|bfloat16|bf16)$", ErrorMessage = "dtype must be float32, float16 or bfloat16.")]
    public string? Dtype { get; set; }

    [Range(1, 4096)]
    public int BatchSize { get; set; } = 16;

    /// <summary>pil-center-crop, tensor-center-crop or hps-pad; empty = the model's published preprocessing.</summary>
    [RegularExpression("^(pil-center-crop|tensor-center-crop|hps-pad)$", ErrorMessage = "image_transform must be pil-center-crop, tensor-center-crop or hps-pad.")]
    public string? ImageTransform { get; set; }

    /// <summary>
    /// Off by default. Decode JPEGs at the smallest DCT scale (1/8 ... 7/8, like PIL's Image.draft) whose short side is
    /// still at least the model's input size, then resize as usual: several times less decoding and resizing work for
    /// large JPEGs, at the price of pixels that differ from the reference preprocessing (see the README for the measured
    /// deviation). Scores with and without it are cached separately.
    /// </summary>
    public bool JpegDctScaling { get; set; }

    public static ScalarType ParseDType(string dtype) => dtype.Trim().ToLowerInvariant() switch
    {
        "float32" or "fp32" => ScalarType.Float32,
        "float16" or "fp16" or "half" => ScalarType.Float16,
        "bfloat16" or "bf16" => ScalarType.BFloat16,
        _ => throw new ArgumentException($"Unknown dtype '{dtype}': use float32, float16 or bfloat16."),
    };

    /// <summary>The device and weight precision to use, given the run-wide device setting.</summary>
    public (Device Device, ScalarType DType) ResolvePlacement(string runDevice)
    {
        var device = TorchBackend.ResolveDevice(string.IsNullOrWhiteSpace(Device) ? runDevice : Device);
        var onCpu = device.type == TorchSharp.DeviceType.CPU;
        var dtype = string.IsNullOrWhiteSpace(Dtype) ? (onCpu ? ScalarType.Float32 : ScalarType.BFloat16) : ParseDType(Dtype);
        if (onCpu && dtype == ScalarType.Float16)
            throw new ArgumentException("dtype float16 is not supported on the CPU; use float32 or bfloat16 there.");
        return (device, dtype);
    }

    public ClipImageTransform? ParseImageTransform() => string.IsNullOrWhiteSpace(ImageTransform) ? null : ClipImageTransforms.Parse(ImageTransform);
}

/// <summary>Options of the prompt-conditioned models (pickscore, hps-v2, hps-v2.1, clip-score).</summary>
public sealed class ClipRewardOptions : ClipBackboneOptions
{
    /// <summary>Hugging Face tokenizer vocab.json (with <see cref="TokenizerMergesPath"/>); defaults to the one in the model folder.</summary>
    [BiasBench.Abstractions.ModelWeights] // a missing file is reported as weights to download (validate warns, run refuses)
    public string? TokenizerVocabPath { get; set; }

    /// <summary>Hugging Face tokenizer merges.txt (with <see cref="TokenizerVocabPath"/>).</summary>
    [BiasBench.Abstractions.ModelWeights] // a missing file is reported as weights to download (validate warns, run refuses)
    public string? TokenizerMergesPath { get; set; }

    /// <summary>open_clip's bpe_simple_vocab_16e6.txt.gz, used when no vocab.json + merges.txt are given or found.</summary>
    [BiasBench.Abstractions.ModelWeights] // a missing file is reported as weights to download (validate warns, run refuses)
    public string? TokenizerBpePath { get; set; }
}

/// <summary>Options of the LAION aesthetic predictor (the prompt is ignored, so there is no tokenizer).</summary>
public sealed class LaionAestheticOptions : ClipBackboneOptions
{
    /// <summary>The MLP head: sac+logos+ava1-l14-linearMSE.pth (or a .safetensors with the same keys).</summary>
    [Required]
    [BiasBench.Abstractions.ModelWeights] // a missing file is reported as weights to download (validate warns, run refuses)
    public string HeadPath { get; set; } = "";
}
