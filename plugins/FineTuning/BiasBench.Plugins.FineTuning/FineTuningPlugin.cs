using BiasBench.Abstractions;
using BiasBench.Plugins.FineTuning;

[assembly: BiasBenchPlugin(typeof(FineTuningPlugin))]

namespace BiasBench.Plugins.FineTuning;

/// <summary>Registers the reward fine-tuners: draft (DRaFT-K), draft-lv (DRaFT-LV) and refl (ReFL).</summary>
public sealed class FineTuningPlugin : IBiasBenchPlugin
{
    public const string Version = "1.0.0";

    public void Register(IPluginRegistrar registrar)
    {
        ArgumentNullException.ThrowIfNull(registrar);
        registrar.AddFineTuner<DraftOptions>("draft", Version,
            "DRaFT-K (Clark et al., ICLR 2024): fine-tunes a differentiable generator (ddpm) against a weighted sum of differentiable rewards, " +
            "back-propagating through the last K sampling steps (K = 1 default); loss = -mean(reward). AdamW, warm-up + cosine, clipping, EMA, accumulation, " +
            "bf16 compute with float32 masters on CUDA, resumable checkpoints, reward-hacking monitor (judges, other rewards, sample grids).",
            (context, options) => new RewardFineTuner(options, context));
        registrar.AddFineTuner<DraftLvOptions>("draft-lv", Version,
            "DRaFT-LV: DRaFT-1 with several noise draws of the last sampling step per sample (lower-variance gradients).",
            (context, options) => new RewardFineTuner(options, context));
        registrar.AddFineTuner<ReflOptions>("refl", Version,
            "ReFL (ImageReward, Xu et al., 2023): stop at a random step in a range, predict x0 in one step, loss relu(2 - reward) x 1e-3; " +
            "with dataset_directory, the pre-training denoising loss on those real images as a regulariser.",
            (context, options) => new RewardFineTuner(options, context));
    }
}
