using BiasBench.Abstractions;

[assembly: BiasBenchPlugin(typeof(BiasBench.Plugins.Datasets.DatasetsPlugin))]

namespace BiasBench.Plugins.Datasets;

/// <summary>Built-in data sources.</summary>
public sealed class DatasetsPlugin : IBiasBenchPlugin
{
    public const string Version = "1.0.0";

    public void Register(IPluginRegistrar registrar)
    {
        registrar.AddDataset<ImageFolderOptions>("image-folder", Version,
            "A folder of images (ids = relative paths), optionally with one prompt for all.",
            (_, o) => new ImageFolderDataset(o));
        registrar.AddDataset<HackathonScoresOptions>("hackathon-scores", Version,
            "The AI Manipulation Hackathon score tables (SDXL/FLUX: image_path, prompt, attractiveness 0/1/2, reward columns); adds image_id, seed and condition.",
            (_, o) => new HackathonScoresDataset(o));
    }
}
