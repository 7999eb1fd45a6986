using System.ComponentModel.DataAnnotations;
using BiasBench.Torch.Backend;
using static TorchSharp.torch;

namespace BiasBench.Plugins.ImageReward;

/// <summary>Options of the <c>image-reward</c> reward model (YAML keys in snake_case).</summary>
public sealed class ImageRewardOptions
{
    /// <summary>
    /// <c>ImageReward.pt</c> (the release state dict), a <c>.safetensors</c> state dict with the same names, or a folder
    /// holding one of them (plus its config).
    /// </summary>
    [Required]
    [BiasBench.Abstractions.ModelWeights] // a missing file is reported as weights to download (validate warns, run refuses)
    public string WeightsPath { get; set; } = "";

    /// <summary>
    /// BLIP's <c>med_config.json</c> (the release) or a combined <c>config.json</c>; defaults to the one beside the weights.
    /// </summary>
    [BiasBench.Abstractions.ModelWeights] // a missing file is reported as weights to download (validate warns, run refuses)
    public string? MedConfigPath { get; set; }

    /// <summary>The <c>bert-base-uncased</c> WordPiece vocabulary (<c>vocab.txt</c>); defaults to <c>vocab.txt</c> beside the weights.</summary>
    [BiasBench.Abstractions.ModelWeights] // a missing file is reported as weights to download (validate warns, run refuses)
    public string? VocabPath { get; set; }

    /// <summary>cpu, cuda, cuda:N or auto; empty = the run's device.</summary>
    public string? Device { get; set; }

    [Range(1, 4096)]
    public int BatchSize { get; set; } = 16;

    /// <summary>Weights/activation precision: float32, float16 or bfloat16 (the reward head always runs in float32).</summary>
    [RegularExpression("^(float32|fp32|float16|fp16|half|bfloat16|bf16)$", ErrorMessage = "dtype must be float32, float16 or bfloat16.")]
    public string Dtype { get; set; } = "float32";

    public static ScalarType ParseDType(string dtype) => dtype.Trim().ToLowerInvariant() switch
    {
        "float32" or "fp32" => ScalarType.Float32,
        "float16" or "fp16" or "half" => ScalarType.Float16,
        "bfloat16" or "bf16" => ScalarType.BFloat16,
        _ => throw new ArgumentException($"Unknown dtype '{dtype}': use float32, float16 or bfloat16."),
    };

    /// <summary>Where the network runs, given the run-wide device setting.</summary>
    public Network.TensorPlacement ResolvePlacement(string runDevice)
    {
        var device = TorchBackend.ResolveDevice(string.IsNullOrWhiteSpace(Device) ? runDevice : Device);
        var dtype = ParseDType(Dtype);
        if (device.type == TorchSharp.DeviceType.CPU && dtype == ScalarType.Float16)
            throw new ArgumentException("dtype float16 is not supported on the CPU; use float32 or bfloat16 there.");
        return new Network.TensorPlacement(device, dtype);
    }
}
