using BiasBench.Abstractions;
using BiasBench.Networks.Clip;
using TorchSharp;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace BiasBench.Plugins.ClipRewards;

/// <summary>
/// LAION aesthetic predictor v2 (christophschuhmann/improved-aesthetic-predictor, sac+logos+ava1-l14-linearMSE): a
/// linear MLP on the L2-normalised CLIP ViT-L/14 image embedding, regressing the 1-10 rating of SAC, LAION-Logos and
/// AVA. The prompt is ignored.
/// </summary>
public sealed class LaionAestheticModel : ClipRewardModel
{
    public const string ModelName = "laion-aesthetic-v2";

    public LaionAestheticModel(ClipModel clip, AestheticHead head, IClipImagePipeline images, int batchSize = 16,
        string? weightsChecksum = null, ILogger? logger = null)
        : base(clip, images, tokenizer: null, batchSize, logger)
    {
        ArgumentNullException.ThrowIfNull(head);
        if (head.InputWidth != clip.Config.ProjectionDim)
            throw new ArgumentException($"The aesthetic head takes {head.InputWidth}-d embeddings but the CLIP model gives {clip.Config.ProjectionDim}-d ones (the LAION head needs ViT-L/14, 768-d).", nameof(head));
        Head = head;
        // The head is tiny: it always runs in float32, on the CLIP model's device.
        Head.to(ScalarType.Float32).to(clip.Device);
        foreach (var p in Head.parameters()) p.requires_grad_(false);
        Info = new RewardModelInfo(
            ModelName,
            "v2",
            new ScoreSemantics(
                "predicted aesthetic rating (about 1-10, unbounded linear MLP) of the image alone (sac+logos+ava1-l14-linearMSE); " +
                "the prompt is ignored, so scores compare across prompts",
                ComparableAcrossPrompts: true,
                HigherIsBetter: true),
            ClipImageTransforms.Describe(images) + "; L2-normalised image embedding -> MLP; prompt ignored")
        { WeightsChecksum = weightsChecksum };
    }

    public AestheticHead Head { get; }
    public override RewardModelInfo Info { get; }

    protected override Tensor ScoreEmbeddings(Tensor imageEmbeds, Tensor? textEmbeds) =>
        Head.forward(imageEmbeds.to(ScalarType.Float32)).squeeze(-1);

    protected override void DisposeCore() => Head.Dispose();
}
