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
        registrar.AddDataset<CelebAAttributesOptions>("celeba-attributes", Version,
            "CelebA's list_attr_celeba.txt: 40 binary attributes (-1/1 -> 0/1) per image; optional image folder to score.",
            (_, o) => new CelebAAttributesDataset(o));
        registrar.AddDataset<ScutFbpOptions>("scut-fbp5500", Version,
            "SCUT-FBP5500 beauty labels (All_labels.txt or a split file) with the AF/AM/CF/CM group; optional image folder.",
            (_, o) => new ScutFbpDataset(o));
        registrar.AddDataset<ScoreTableOptions>("score-table", Version,
            "A CSV or Parquet table with one row per image (e.g. reward scores computed elsewhere), keyed by image_id.",
            (_, o) => new ScoreTableDataset(o));
    }
}
