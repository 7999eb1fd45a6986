using System.ComponentModel.DataAnnotations;
using BiasBench.Abstractions;
using BiasBench.Statistics;
using BiasBench.Training;

namespace BiasBench.Plugins.ResNetJudge.Training;

/// <summary>Options of the <c>resnet-attractiveness-trainer</c> fine-tuner (also what <c>biasbench train-judge</c> runs).</summary>
public sealed class TrainerOptions
{
    /// <summary>Folder with the images (jpg, jpeg, png, webp; searched recursively), matched to labels by image id (file name without extension).</summary>
    [Required] public string? ImagesDirectory { get; set; }

    /// <summary>CelebA-style attribute file: list_attr_celeba.txt or CelebA-HQ's CelebAMask-HQ-attribute-anno.txt (count, names, +-1 rows).</summary>
    public string? AttributesFile { get; set; }

    /// <summary>Or a score table with a label column: CSV, Parquet, or a JSON array of records (e.g. the hackathon's result_sdxl.json).</summary>
    public string? LabelsFile { get; set; }

    /// <summary>Id column of <see cref="LabelsFile"/> (file names or ids; extensions and folders are dropped).</summary>
    public string IdColumn { get; set; } = "image_id";

    /// <summary>The label to learn (CelebA: Attractive; the hackathon JSON: attractive).</summary>
    [Required] public string LabelColumn { get; set; } = "Attractive";

    /// <summary>Values of the label column that count as positive (e.g. ["2"] for the hackathon's 0/1/2 rating). Default: 1 (and -1/0 negative).</summary>
    public List<string>? PositiveValues { get; set; }

    /// <summary>CelebA's list_eval_partition.txt; by default one beside the attribute file is used when present. Otherwise a seeded stratified split.</summary>
    public string? PartitionFile { get; set; }

    [Range(0.0, 0.5)] public double ValidationFraction { get; set; } = 0.1;
    [Range(0.0, 0.5)] public double TestFraction { get; set; } = 0.1;

    /// <summary>Columns of the label table to report per-group metrics for (default: Male, Young and gender when present).</summary>
    public List<string>? GroupColumns { get; set; }

    /// <summary>At most this many labelled images (taken in id order before splitting), for quick trials.</summary>
    [Range(2, int.MaxValue)] public int? Limit { get; set; }

    /// <summary>resnet18, resnet34 or resnet50, with the hackathon head (fc -> 512, then 512 -> 256 -> 1).</summary>
    [RegularExpression("^resnet(18|34|50)$", ErrorMessage = "architecture must be resnet18, resnet34 or resnet50.")]
    public string Architecture { get; set; } = "resnet18";

    /// <summary>torchvision ImageNet weights for the backbone (e.g. resnet18-f37072fd.pth); without them training starts from scratch.</summary>
    public string? PretrainedPath { get; set; }

    [Range(32, 1024)] public int ImageSize { get; set; } = 256;
    [Range(1, 1000)] public int Epochs { get; set; } = 10;
    [Range(2, 4096)] public int BatchSize { get; set; } = 64;
    [Range(1e-7, 1.0)] public double LearningRate { get; set; } = 3e-4;
    [Range(0.0, 1.0)] public double MinLearningRate { get; set; } = 1e-6;
    [Range(0.0, 1.0)] public double WeightDecay { get; set; } = 0.05;
    /// <summary>Linear warm-up length in epochs (fractions allowed).</summary>
    [Range(0.0, 100.0)] public double WarmupEpochs { get; set; } = 1;
    /// <summary>Global gradient-norm clip; 0 turns clipping off.</summary>
    [Range(0.0, 1e6)] public double GradientClip { get; set; } = 1.0;

    /// <summary>BCE pos_weight: a number, or null with <see cref="BalanceClasses"/> = true for negatives / positives of the training split.</summary>
    [Range(0.0, 1e6)] public double? PosWeight { get; set; }
    public bool BalanceClasses { get; set; }

    /// <summary>auto (bf16 compute on CUDA, float32 on CPU), float32 or bfloat16.</summary>
    public PrecisionMode Precision { get; set; } = PrecisionMode.Auto;

    /// <summary>Stop after this many epochs without a better validation ROC-AUC; 0 never stops early.</summary>
    [Range(0, 1000)] public int EarlyStoppingPatience { get; set; } = 3;

    /// <summary>How the decision threshold is chosen on the validation split.</summary>
    public ThresholdCriterion ThresholdCriterion { get; set; } = ThresholdCriterion.BalancedAccuracy;

    [Range(2, 100)] public int CalibrationBins { get; set; } = 15;

    /// <summary>RandomResizedCrop scale range, flip probability, colour jitter strengths (torchvision's semantics).</summary>
    public AugmentationOptions Augmentation { get; set; } = new();

    /// <summary>Training checkpoints (every epoch; resumed when the settings match). Default: under the run cache, keyed by the settings.</summary>
    [OutputPath] public string? CheckpointDirectory { get; set; }

    /// <summary>Also checkpoint every this many steps within an epoch (0: only at epoch ends).</summary>
    [Range(0, int.MaxValue)] public int CheckpointEverySteps { get; set; }

    /// <summary>Where to copy the final classifier file (weights + threshold + config), e.g. for an experiment's judge stage.</summary>
    [OutputPath] public string? ExportPath { get; set; }

    /// <summary>Log a progress line every this many steps.</summary>
    [Range(1, int.MaxValue)] public int LogEverySteps { get; set; } = 10;
}

public sealed class AugmentationOptions
{
    [Range(0.01, 1.0)] public double ScaleMin { get; set; } = 0.08;
    [Range(0.01, 1.0)] public double ScaleMax { get; set; } = 1.0;
    [Range(0.0, 1.0)] public double Flip { get; set; } = 0.5;
    [Range(0.0, 1.0)] public double Brightness { get; set; } = 0.2;
    [Range(0.0, 1.0)] public double Contrast { get; set; } = 0.2;
    [Range(0.0, 1.0)] public double Saturation { get; set; } = 0.2;
    [Range(0.0, 0.5)] public double Hue { get; set; } = 0.02;
}
