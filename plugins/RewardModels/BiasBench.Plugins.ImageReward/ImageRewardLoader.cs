using BiasBench.Plugins.ImageReward.Network;
using BiasBench.Plugins.ImageReward.Weights;
using BiasBench.Torch.Weights;

namespace BiasBench.Plugins.ImageReward;

/// <summary>The files a model is loaded from.</summary>
public sealed record ImageRewardFiles(string WeightsFile, string ConfigFile);

/// <summary>
/// Finds and loads ImageReward weights in either layout:
/// <list type="bullet">
/// <item>the release: <c>ImageReward.pt</c> (a PyTorch state dict) + BLIP's <c>med_config.json</c>;</item>
/// <item>a converted/fixture folder: <c>config.json</c> (<c>vision</c>, <c>text</c>, <c>reward_mean</c>, <c>reward_std</c>)
/// + a <c>.safetensors</c> state dict with the same tensor names.</item>
/// </list>
/// </summary>
public static class ImageRewardLoader
{
    private static readonly string[] WeightFileNames = ["ImageReward.safetensors", "image_reward_model.safetensors", "model.safetensors", "ImageReward.pt"];
    private static readonly string[] ConfigFileNames = ["config.json", "med_config.json"];

    /// <summary>
    /// <paramref name="weightsPath"/>: a weights file or a folder holding one. <paramref name="configPath"/>: optional;
    /// when absent, <c>config.json</c> or <c>med_config.json</c> beside the weights is used.
    /// </summary>
    public static ImageRewardFiles ResolveFiles(string weightsPath, string? configPath)
    {
        if (string.IsNullOrWhiteSpace(weightsPath)) throw new ArgumentException("An ImageReward weights path is required.");
        string weightsFile;
        if (Directory.Exists(weightsPath))
        {
            weightsFile = WeightFileNames.Select(n => Path.Combine(weightsPath, n)).FirstOrDefault(File.Exists)
                ?? Directory.EnumerateFiles(weightsPath, "*.safetensors").Order(StringComparer.Ordinal).FirstOrDefault()
                ?? throw new FileNotFoundException($"No ImageReward weights in '{weightsPath}' (looked for {string.Join(", ", WeightFileNames)} and *.safetensors).");
        }
        else if (File.Exists(weightsPath)) weightsFile = weightsPath;
        else throw new FileNotFoundException($"ImageReward weights '{weightsPath}' do not exist.", weightsPath);

        string configFile;
        if (!string.IsNullOrWhiteSpace(configPath))
        {
            configFile = Directory.Exists(configPath)
                ? ConfigFileNames.Select(n => Path.Combine(configPath, n)).FirstOrDefault(File.Exists)
                    ?? throw new FileNotFoundException($"No config.json or med_config.json in '{configPath}'.")
                : File.Exists(configPath) ? configPath
                : throw new FileNotFoundException($"ImageReward config '{configPath}' does not exist.", configPath);
        }
        else
        {
            var folder = Path.GetDirectoryName(Path.GetFullPath(weightsFile))!;
            configFile = ConfigFileNames.Select(n => Path.Combine(folder, n)).FirstOrDefault(File.Exists)
                ?? throw new FileNotFoundException($"No config.json or med_config.json beside '{weightsFile}'; set the med_config path.");
        }
        return new ImageRewardFiles(weightsFile, configFile);
    }

    /// <summary>Builds the network from the config (sizes the config leaves open come from the weights) and loads the weights.</summary>
    public static ImageRewardNetwork Load(ImageRewardFiles files, TensorPlacement placement) => LoadWithReport(files, placement).Network;

    /// <summary>
    /// As <see cref="Load"/>, also returning the <see cref="LoadReport"/> (which checkpoint tensors were loaded and which
    /// were ignored as unused by scoring). A checkpoint that does not fit throws <see cref="StateDictMismatchException"/>
    /// naming every missing, unexpected and mis-shaped tensor.
    /// </summary>
    public static (ImageRewardNetwork Network, LoadReport Report) LoadWithReport(ImageRewardFiles files, TensorPlacement placement)
    {
        using var stateDict = ImageRewardStateDict.Open(files.WeightsFile);
        var config = ImageRewardConfig.Load(files.ConfigFile, () => ImageRewardWeights.InferVisionConfig(stateDict.Shapes, files.WeightsFile));
        var network = new ImageRewardNetwork(config, placement);
        try
        {
            return (network, ImageRewardWeights.LoadInto(network, stateDict));
        }
        catch
        {
            network.Dispose();
            throw;
        }
    }
}
