using BiasBench.Abstractions;
using BiasBench.Networks.Clip;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace BiasBench.Plugins.ClipRewards;

/// <summary>
/// PickScore (Kirstain et al., 2023; yuvalkirstain/PickScore_v1): exp(logit_scale) x cosine(image, prompt), the
/// logits_per_image of a Hugging Face CLIPModel, with CLIPProcessor preprocessing (PIL bicubic + center crop, ids
/// padded with the end token and masked, max_length 77 with truncation).
/// </summary>
public sealed class PickScoreModel : ClipRewardModel
{
    public const string ModelName = "pickscore";

    public PickScoreModel(ClipModel clip, IClipImagePipeline images, IClipPromptTokenizer tokenizer, int batchSize = 16,
        string? weightsChecksum = null, ILogger? logger = null)
        : base(clip, images, tokenizer ?? throw new ArgumentNullException(nameof(tokenizer)), batchSize, logger)
    {
        double scale;
        using (no_grad()) scale = clip.LogitScale.to(ScalarType.Float64).exp().cpu().item<double>();
        LogitScaleExp = scale;
        Info = new RewardModelInfo(
            ModelName,
            "v1",
            new ScoreSemantics(
                $"exp(logit_scale) x cosine(image, prompt) with exp(logit_scale) = {scale:G6}; trained on Pick-a-Pic " +
                "pairwise preferences between images of the same prompt, so it ranks images within a prompt",
                ComparableAcrossPrompts: false,
                HigherIsBetter: true,
                Minimum: -scale,
                Maximum: scale),
            ClipImageTransforms.Describe(images) + "; ids padded with 49407 + attention mask, 77 tokens, truncated")
        { WeightsChecksum = weightsChecksum };
    }

    public override RewardModelInfo Info { get; }

    /// <summary>exp(logit_scale) of the loaded weights (PickScore_v1: about 100).</summary>
    public double LogitScaleExp { get; }

    protected override Tensor ScoreEmbeddings(Tensor imageEmbeds, Tensor? textEmbeds)
    {
        using var scope = NewDisposeScope();
        var scale = Clip.LogitScale.to(ScalarType.Float32).exp();
        return (scale * (imageEmbeds * textEmbeds!.to(imageEmbeds.device)).sum(-1)).MoveToOuterDisposeScope();
    }
}
