using BiasBench.Abstractions;
using BiasBench.Networks.Clip;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace BiasBench.Plugins.ClipRewards;

/// <summary>
/// CLIPScore as torchmetrics defines it (Hessel et al., 2021, with w = 100): 100 x max(cosine(image, prompt), 0),
/// usually with openai/clip-vit-large-patch14. torchmetrics clamps the batch mean; here each pair is clamped, which is
/// the per-image CLIPScore of the paper.
/// </summary>
public sealed class ClipScoreModel : ClipRewardModel
{
    public const string ModelName = "clip-score";

    public ClipScoreModel(ClipModel clip, IClipImagePipeline images, IClipPromptTokenizer tokenizer, int batchSize = 16,
        string? weightsChecksum = null, ILogger? logger = null)
        : base(clip, images, tokenizer ?? throw new ArgumentNullException(nameof(tokenizer)), batchSize, logger)
    {
        Info = new RewardModelInfo(
            ModelName,
            "torchmetrics",
            new ScoreSemantics(
                "100 x max(cosine(image, prompt), 0) (torchmetrics CLIPScore); measures image-text agreement, whose level " +
                "depends on the prompt, so compare images within a prompt",
                ComparableAcrossPrompts: false,
                HigherIsBetter: true,
                Minimum: 0,
                Maximum: 100),
            ClipImageTransforms.Describe(images) + "; CLIP ids, 77 tokens, truncated")
        { WeightsChecksum = weightsChecksum };
    }

    public override RewardModelInfo Info { get; }

    protected override Tensor ScoreEmbeddings(Tensor imageEmbeds, Tensor? textEmbeds) => FromEmbeddings(imageEmbeds, textEmbeds!);

    /// <summary>100 x max(cosine, 0) per row of two L2-normalised embedding batches.</summary>
    public static Tensor FromEmbeddings(Tensor imageEmbeds, Tensor textEmbeds)
    {
        using var scope = NewDisposeScope();
        var cosine = (imageEmbeds * textEmbeds.to(imageEmbeds.device)).sum(-1);
        return (100 * cosine.clamp_min(0)).MoveToOuterDisposeScope();
    }
}
