using BiasBench.Abstractions;
using BiasBench.Plugins.ClipRewards;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

[assembly: BiasBenchPlugin(typeof(ClipRewardsPlugin))]

namespace BiasBench.Plugins.ClipRewards;

/// <summary>Registers the CLIP-family reward models: pickscore, hps-v2, hps-v2.1, clip-score, laion-aesthetic-v2.</summary>
public sealed class ClipRewardsPlugin : IBiasBenchPlugin
{
    public const string Version = "1.0.0";

    public void Register(IPluginRegistrar registrar)
    {
        ArgumentNullException.ThrowIfNull(registrar);
        registrar.AddRewardModel<ClipRewardOptions>(PickScoreModel.ModelName, Version,
            "PickScore_v1 (yuvalkirstain/PickScore_v1, Hugging Face CLIP ViT-H/14): exp(logit_scale) x cosine(image, prompt). " +
            "Tokenizer: vocab.json + merges.txt of laion/CLIP-ViT-H-14-laion2B-s32B-b79K, or open_clip's bpe_simple_vocab_16e6.txt.gz.",
            (context, options) => ClipRewardFactory.CreatePickScore(options, context.Environment.Device, Logger(context, PickScoreModel.ModelName)));
        registrar.AddRewardModel<ClipRewardOptions>(HpsV2Model.V2Name, Version,
            "Human Preference Score v2.0 (HPS_v2_compressed.pt on open_clip ViT-H-14): cosine(image, prompt), as hpsv2.score().",
            (context, options) => ClipRewardFactory.CreateHps(HpsVersion.V2_0, options, context.Environment.Device, Logger(context, HpsV2Model.V2Name)));
        registrar.AddRewardModel<ClipRewardOptions>(HpsV2Model.V21Name, Version,
            "Human Preference Score v2.1 (HPS_v2.1_compressed.pt on open_clip ViT-H-14): cosine(image, prompt), as hpsv2.score().",
            (context, options) => ClipRewardFactory.CreateHps(HpsVersion.V2_1, options, context.Environment.Device, Logger(context, HpsV2Model.V21Name)));
        registrar.AddRewardModel<ClipRewardOptions>(ClipScoreModel.ModelName, Version,
            "CLIPScore (torchmetrics): 100 x max(cosine(image, prompt), 0), usually with openai/clip-vit-large-patch14.",
            (context, options) => ClipRewardFactory.CreateClipScore(options, context.Environment.Device, Logger(context, ClipScoreModel.ModelName)));
        registrar.AddRewardModel<LaionAestheticOptions>(LaionAestheticModel.ModelName, Version,
            "LAION aesthetic predictor v2 (sac+logos+ava1-l14-linearMSE.pth on CLIP ViT-L/14 image embeddings); ignores the prompt.",
            (context, options) => ClipRewardFactory.CreateLaionAesthetic(options, context.Environment.Device, Logger(context, LaionAestheticModel.ModelName)));
    }

    private static ILogger Logger(ComponentContext context, string name) =>
        context.Services.GetService<ILoggerFactory>()?.CreateLogger($"BiasBench.Plugins.ClipRewards.{name}")
        ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
}
