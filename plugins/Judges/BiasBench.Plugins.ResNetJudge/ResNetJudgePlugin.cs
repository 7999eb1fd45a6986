using BiasBench.Abstractions;
using BiasBench.Plugins.ResNetJudge;
using BiasBench.Plugins.ResNetJudge.Training;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

[assembly: BiasBenchPlugin(typeof(ResNetJudgePlugin))]

namespace BiasBench.Plugins.ResNetJudge;

/// <summary>Registers the resnet-attractiveness judge and its trainer (resnet-attractiveness-trainer, a fine-tuner).</summary>
public sealed class ResNetJudgePlugin : IBiasBenchPlugin
{
    public const string Version = "1.0.0";

    public void Register(IPluginRegistrar registrar)
    {
        ArgumentNullException.ThrowIfNull(registrar);
        registrar.AddJudge<ResNetJudgeOptions>(ResNetJudge.ModelName, Version,
            "The hackathon's ResNet attractiveness classifier (torchvision ResNet + MLP head): P(attractive) and a label at the checkpoint's threshold. " +
            "Loads a BiasBench classifier file from `biasbench train-judge` or a hackathon-layout state dict (.pt/.pth via the restricted reader, or .safetensors).",
            (context, options) => new ResNetJudge(options, context.Environment.Device, Logger(context, ResNetJudge.ModelName)));
        registrar.AddFineTuner<TrainerOptions>(JudgeTrainer.ComponentName, Version,
            "Trains the attractiveness classifier on labelled faces (CelebA / CelebA-HQ attributes or a label table): augmentation, AdamW + cosine, " +
            "BCE, early stopping on validation ROC-AUC, checkpoints with exact resume; writes metrics, calibration and per-group tables.",
            (context, options) => new JudgeTrainer(options, context.Environment));
    }

    private static ILogger Logger(ComponentContext context, string name) =>
        context.Services.GetService<ILoggerFactory>()?.CreateLogger($"BiasBench.Plugins.ResNetJudge.{name}")
        ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
}
