using System.Globalization;
using System.Text;
using BiasBench.TestSupport;
using SkiaSharp;

namespace BiasBench.Host.Tests.Runs;

/// <summary>
/// The variables configs/scut-beauty-vs-rewards.yaml and configs/celeba-rewards.yaml read, pointed at small stand-ins
/// built from real faces in the shared data (the 5 CelebA test photos and hackathon portraits): a SCUT-FBP5500_v2-style
/// folder (Images/ with AF1.jpg ..., train_test_files/ with All_labels.txt and the 60/40 split), a CelebA-style folder
/// with list_attr_celeba.txt, and the fixture reward models (tiny random CLIP / ImageReward networks).
/// Ratings and attributes are assigned here, deterministically.
/// </summary>
internal static class FaceDataSets
{
    public static readonly string[] ScutGroups = ["AF", "AM", "CF", "CM"];
    public const int ScutPerGroup = 6;
    public const int ScutTestPerGroup = 4;
    public const int CelebAFaces = 20;
    public static readonly string[] CelebAAttributes = ["Attractive", "Smiling", "Male", "Young", "Heavy_Makeup"];

    /// <summary>Variables of the shipped face configs; a config reads them when its text names them.</summary>
    public static readonly string[] Variables =
        ["SCUT_FBP5500_IMAGES", "SCUT_FBP5500_LABELS", "CELEBA_IMAGES", "CELEBA_ATTRIBUTES", "PICKSCORE_MODEL", "HPS_V2_MODEL", "CLIP_BPE", "IMAGE_REWARD_MODEL", "BERT_VOCAB"];

    /// <summary>Real face photos: the CelebA test photos first, then hackathon SDXL portraits, in file-name order.</summary>
    private static List<string> Faces(int count)
    {
        var faces = Directory.GetFiles(Fixtures.Data("celeba/test_img"), "*.jpg").Order(StringComparer.Ordinal).ToList();
        faces.AddRange(Directory.GetFiles(Fixtures.Data("hackathon/sdxl"), "*.jpg").Order(StringComparer.Ordinal));
        Assert.True(faces.Count >= count, $"need {count} face photos, found {faces.Count}");
        return faces.Take(count).ToList();
    }

    public static Dictionary<string, string> Build(string root)
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        BuildScut(Path.Combine(root, "SCUT-FBP5500_v2"), env);
        BuildCelebA(Path.Combine(root, "celeba"), env);

        // PickScore's folder as `models download pickscore` lays it out, from the Hugging Face-layout CLIP fixture; the
        // fixture has no vocab.json/merges.txt, so the plugin falls back to open_clip's BPE file beside the weights.
        var pickscore = Directory.CreateDirectory(Path.Combine(root, "models", "pickscore")).FullName;
        foreach (var file in new[] { "config.json", "model.safetensors" })
            File.CreateSymbolicLink(Path.Combine(pickscore, file), Path.Combine(Fixtures.Path_("clip_hf"), file));
        var bpe = Fixtures.Data("tokenizers/clip_bpe_simple_vocab_16e6.txt.gz");
        File.CreateSymbolicLink(Path.Combine(pickscore, "bpe_simple_vocab_16e6.txt.gz"), bpe); // open_clip's name for it
        env["PICKSCORE_MODEL"] = pickscore;
        env["HPS_V2_MODEL"] = Fixtures.Path_("open_clip");
        env["CLIP_BPE"] = bpe;
        env["IMAGE_REWARD_MODEL"] = Fixtures.Path_("image_reward");
        env["BERT_VOCAB"] = Fixtures.Data("tokenizers/bert-base-uncased-vocab.txt");
        return env;
    }

    /// <summary>
    /// The photo as a JPEG of at most 256 px (SCUT-FBP5500's faces are 350 px, CelebA's 178x218): the hackathon's 1024 px
    /// portraits would only make the test decode more.
    /// </summary>
    private static void CopyFace(string source, string target)
    {
        using var original = SKBitmap.Decode(source) ?? throw new InvalidDataException($"cannot decode {source}");
        var scale = Math.Min(1.0, 256.0 / Math.Max(original.Width, original.Height));
        if (scale == 1.0) { File.Copy(source, target); return; }
        using var small = original.Resize(new SKImageInfo((int)(original.Width * scale), (int)(original.Height * scale)), new SKSamplingOptions(SKCubicResampler.Mitchell));
        using var data = small.Encode(SKEncodedImageFormat.Jpeg, 90);
        File.WriteAllBytes(target, data.ToArray());
    }

    /// <summary>The mean rating of SCUT face k (0-based over all groups): spread over 1.5-4.5, not in file order.</summary>
    public static double ScutRating(int k) => Math.Round(1.5 + 3.0 * (k * 7 % (ScutGroups.Length * ScutPerGroup)) / (ScutGroups.Length * ScutPerGroup - 1), 6);

    private static void BuildScut(string release, Dictionary<string, string> env)
    {
        var images = Directory.CreateDirectory(Path.Combine(release, "Images")).FullName;
        var labels = Directory.CreateDirectory(Path.Combine(release, "train_test_files")).FullName;
        var split = Directory.CreateDirectory(Path.Combine(labels, "split_of_60%training and 40%testing")).FullName;
        var faces = Faces(ScutGroups.Length * ScutPerGroup);
        var all = new StringBuilder();
        var test = new StringBuilder();
        for (var k = 0; k < faces.Count; k++)
        {
            var (group, number) = (ScutGroups[k / ScutPerGroup], k % ScutPerGroup + 1);
            var name = $"{group}{number}.jpg";
            CopyFace(faces[k], Path.Combine(images, name));
            var line = $"{name} {ScutRating(k).ToString(CultureInfo.InvariantCulture)}\r\n"; // CRLF, as the release's files
            all.Append(line);
            if (number <= ScutTestPerGroup) test.Append(line);
        }
        File.WriteAllText(Path.Combine(labels, "All_labels.txt"), all.ToString());
        File.WriteAllText(Path.Combine(split, "test.txt"), test.ToString());
        File.WriteAllText(Path.Combine(split, "train.txt"), "");
        env["SCUT_FBP5500_IMAGES"] = images;
        env["SCUT_FBP5500_LABELS"] = labels;
    }

    /// <summary>Attribute a of CelebA face i (1-based): present (1) or absent (-1), mixed so no attribute is constant or a copy of another.</summary>
    public static int CelebAValue(int i, int a) => ((i * (a + 2) + a) % (a + 3)) < (a + 3) / 2 ? 1 : -1;

    private static void BuildCelebA(string root, Dictionary<string, string> env)
    {
        var images = Directory.CreateDirectory(Path.Combine(root, "img_align_celeba")).FullName;
        var faces = Faces(CelebAFaces);
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"{faces.Count}\r\n{string.Join(" ", CelebAAttributes)} \r\n");
        for (var i = 1; i <= faces.Count; i++)
        {
            var name = $"{i:000000}.jpg";
            CopyFace(faces[i - 1], Path.Combine(images, name));
            text.Append(name).Append(' ');
            for (var a = 0; a < CelebAAttributes.Length; a++) text.Append(CelebAValue(i, a) > 0 ? "  1" : " -1");
            text.Append("\r\n");
        }
        var attributes = Path.Combine(root, "list_attr_celeba.txt");
        File.WriteAllText(attributes, text.ToString());
        env["CELEBA_IMAGES"] = images;
        env["CELEBA_ATTRIBUTES"] = attributes;
    }
}
