using System.ComponentModel.DataAnnotations;

namespace BiasBench.Plugins.ResNetJudge;

public sealed class ResNetJudgeOptions
{
    /// <summary>
    /// The classifier's weights: a BiasBench classifier file written by <c>biasbench train-judge</c> (safetensors with
    /// its config, threshold and image size in the metadata), or a state dict in the hackathon layout
    /// (<c>resnet.*</c> + <c>final_layers.*</c>; .pt/.pth through the restricted reader, or .safetensors).
    /// </summary>
    [Required] public string? CheckpointPath { get; set; }

    /// <summary>Decision threshold on P(attractive). Default: the checkpoint's (chosen on validation), else 0.5.</summary>
    [Range(0.0, 1.0)] public double? Threshold { get; set; }

    /// <summary>Square input size. Default: the checkpoint's, else 256 (the hackathon's).</summary>
    [Range(32, 4096)] public int? ImageSize { get; set; }

    [Range(1, 4096)] public int BatchSize { get; set; } = 32;

    /// <summary>auto (bf16 on CUDA, float32 on CPU), float32 or bfloat16: the dtype the network computes in.</summary>
    [RegularExpression("^(auto|float32|bfloat16)$", ErrorMessage = "dtype must be auto, float32 or bfloat16.")]
    public string Dtype { get; set; } = "auto";

    /// <summary>Name of the positive label (the other is not_&lt;label&gt;).</summary>
    [Required] public string Label { get; set; } = "attractive";
}
