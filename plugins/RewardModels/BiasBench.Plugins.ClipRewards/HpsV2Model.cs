using BiasBench.Abstractions;
using BiasBench.Networks.Clip;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace BiasBench.Plugins.ClipRewards;

/// <summary>Which Human Preference Score checkpoint is loaded. Upstream's score() defaults to v2.0 while other entry
/// points default to v2.1, so the version is always named explicitly here.</summary>
public enum HpsVersion
{
    /// <summary>HPS_v2_compressed.pt.</summary>
    V2_0,

    /// <summary>HPS_v2.1_compressed.pt.</summary>
    V2_1,
}

/// <summary>
/// Human Preference Score v2 / v2.1 (Wu et al., 2023; tgxs002/HPSv2): an open_clip ViT-H-14 fine-tuned on HPD v2;
/// the score is diag(image_features @ text_features.T) of the normalised features, i.e. the plain cosine (upstream's
/// score() applies no logit scale). Preprocessing follows score(): resize the longest side to 224 and pad with black.
/// </summary>
public sealed class HpsV2Model : ClipRewardModel
{
    public const string V2Name = "hps-v2";
    public const string V21Name = "hps-v2.1";

    public HpsV2Model(HpsVersion version, ClipModel clip, IClipImagePipeline images, IClipPromptTokenizer tokenizer, int batchSize = 16,
        string? weightsChecksum = null, ILogger? logger = null)
        : base(clip, images, tokenizer ?? throw new ArgumentNullException(nameof(tokenizer)), batchSize, logger)
    {
        Version = version;
        var (name, label, file) = version switch
        {
            HpsVersion.V2_0 => (V2Name, "2.0", "HPS_v2_compressed.pt"),
            HpsVersion.V2_1 => (V21Name, "2.1", "HPS_v2.1_compressed.pt"),
            _ => throw new ArgumentOutOfRangeException(nameof(version), version, null),
        };
        Info = new RewardModelInfo(
            name,
            label,
            new ScoreSemantics(
                $"HPS v{label} ({file}): cosine(image, prompt) of the open_clip features, as hpsv2.score() returns it " +
                "(no logit scale); trained on HPD v2 preferences between images of the same prompt, so it ranks images within a prompt",
                ComparableAcrossPrompts: false,
                HigherIsBetter: true,
                Minimum: -1,
                Maximum: 1),
            ClipImageTransforms.Describe(images) + "; open_clip ids padded with 0, 77 tokens, truncated")
        { WeightsChecksum = weightsChecksum };
    }

    public HpsVersion Version { get; }
    public override RewardModelInfo Info { get; }

    protected override Tensor ScoreEmbeddings(Tensor imageEmbeds, Tensor? textEmbeds) =>
        (imageEmbeds * textEmbeds!.to(imageEmbeds.device)).sum(-1);
}
