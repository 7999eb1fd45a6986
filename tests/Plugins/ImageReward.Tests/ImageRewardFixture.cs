using System.Text.Json;
using BiasBench.Plugins.ImageReward;
using BiasBench.Plugins.ImageReward.Network;
using BiasBench.TestSupport;
using BiasBench.Torch.Backend;
using BiasBench.Torch.Weights;
using static TorchSharp.torch;

namespace BiasBench.Plugins.ImageReward.Tests;

/// <summary>The image_reward/ reference fixture: network files, inputs and expected outputs.</summary>
internal sealed class ImageRewardFixture : IDisposable
{
    public const double Tolerance = 1e-4;

    private ImageRewardFixture(string folder, string[] images, string[] prompts, Dictionary<string, Tensor> tensors)
    {
        Folder = folder; Images = images; Prompts = prompts; Tensors = tensors;
    }

    public string Folder { get; }
    public string ConfigFile => Path.Combine(Folder, "config.json");
    public string WeightsFile => Path.Combine(Folder, "image_reward_model.safetensors");
    public string[] Images { get; }
    public string[] Prompts { get; }
    public Dictionary<string, Tensor> Tensors { get; }
    public Tensor PixelValues => Tensors["pixel_values"];
    public Tensor InputIds => Tensors["input_ids"];
    public Tensor AttentionMask => Tensors["attention_mask"];
    public Tensor ExpectedImageEmbeds => Tensors["image_embeds"];
    /// <summary>Expected rewards as [N].</summary>
    public Tensor ExpectedRewards => Tensors["reward"].reshape(-1);

    public static ImageRewardFixture Load()
    {
        TorchBackend.EnsureInitialized();
        var cases = Fixtures.File("image_reward/cases.json");
        var folder = Path.GetDirectoryName(cases)!;
        using var doc = JsonDocument.Parse(File.ReadAllText(cases));
        var images = doc.RootElement.GetProperty("images").EnumerateArray().Select(e => e.GetString()!).ToArray();
        var prompts = doc.RootElement.GetProperty("prompts").EnumerateArray().Select(e => e.GetString()!).ToArray();
        using var file = SafeTensorsFile.Open(Path.Combine(folder, "cases.safetensors"));
        var tensors = file.LoadAll(ScalarType.Float32);
        return new ImageRewardFixture(folder, images, prompts, tensors);
    }

    public ImageRewardNetwork LoadNetwork() =>
        ImageRewardLoader.Load(new ImageRewardFiles(WeightsFile, ConfigFile), TensorPlacement.CpuFloat32);

    /// <summary>The reference tokenization of the fixture's prompts (cases.json prompt i -> input_ids row i).</summary>
    public IPromptTokenizer ReferenceTokenizer()
    {
        var table = new Dictionary<string, TokenizedPrompt>(StringComparer.Ordinal);
        for (var i = 0; i < Prompts.Length; i++)
            table[Prompts[i]] = new TokenizedPrompt(InputIds[i].data<long>().ToArray(), AttentionMask[i].data<long>().ToArray());
        return new TableTokenizer(table);
    }

    public static double MaxAbsDiff(Tensor a, Tensor b)
    {
        Assert.Equal(b.shape, a.shape);
        using var d = (a.to(ScalarType.Float64) - b.to(ScalarType.Float64)).abs().max();
        return d.item<double>();
    }

    public void Dispose()
    {
        foreach (var t in Tensors.Values) t.Dispose();
    }

    private sealed class TableTokenizer(Dictionary<string, TokenizedPrompt> table) : IPromptTokenizer
    {
        public TokenizedPrompt Encode(string prompt, int maxLength)
        {
            var t = table.TryGetValue(prompt, out var v) ? v : throw new KeyNotFoundException($"Prompt '{prompt}' is not in the fixture.");
            Assert.Equal(maxLength, t.InputIds.Length);
            return t;
        }
    }
}
