using BiasBench.Abstractions;
using BiasBench.Plugins.ImageReward;
using BiasBench.Torch.Backend;
using BiasBench.Torch.Weights;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

[assembly: BiasBenchPlugin(typeof(ImageRewardPlugin))]

namespace BiasBench.Plugins.ImageReward;

/// <summary>Registers the <c>image-reward</c> reward model.</summary>
public sealed class ImageRewardPlugin : IBiasBenchPlugin
{
    public const string Version = "1.0.0";

    public void Register(IPluginRegistrar registrar)
    {
        ArgumentNullException.ThrowIfNull(registrar);
        registrar.AddRewardModel<ImageRewardOptions>(
            ImageRewardModel.ModelName,
            Version,
            "ImageReward (THUDM, 2023): BLIP ViT-L + BERT with image cross-attention + MLP, trained on ImageRewardDB " +
            "human preferences; standardised reward, meaningful for ranking images of the same prompt.",
            (context, options) => Create(options, context.Environment,
                context.Services.GetService<ILoggerFactory>()?.CreateLogger("BiasBench.Plugins.ImageReward")));
    }

    /// <summary>Loads the model described by <paramref name="options"/> (paths resolved against the config folder).</summary>
    public static ImageRewardModel Create(ImageRewardOptions options, RunEnvironment environment, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(environment);
        TorchBackend.EnsureInitialized();
        var weightsPath = environment.ResolvePath(options.WeightsPath);
        var configPath = string.IsNullOrWhiteSpace(options.MedConfigPath) ? null : environment.ResolvePath(options.MedConfigPath);
        var files = ImageRewardLoader.ResolveFiles(weightsPath, configPath);
        var placement = options.ResolvePlacement(environment.Device);

        var vocabPath = ImageRewardServices.ResolveVocabulary(
            string.IsNullOrWhiteSpace(options.VocabPath) ? null : environment.ResolvePath(options.VocabPath), files);
        var tokenizer = ImageRewardServices.CreateTokenizer(vocabPath);
        var images = ImageRewardServices.CreateImagePreprocessor();

        var checksum = WeightFileChecksum.Sha256(files.WeightsFile);
        var (network, report) = ImageRewardLoader.LoadWithReport(files, placement);
        logger?.LogInformation("ImageReward: loaded {Loaded} tensors from {File} ({Ignored} unused by scoring ignored: {IgnoredNames}); config {Config}; {Device} {DType}",
            report.Loaded.Count, files.WeightsFile, report.Ignored.Count, string.Join(", ", report.Ignored), files.ConfigFile, placement.Device, placement.DType);
        return new ImageRewardModel(network, tokenizer, images, options.BatchSize, checksum, logger);
    }
}
