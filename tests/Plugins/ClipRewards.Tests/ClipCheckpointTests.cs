using BiasBench.Networks.Clip;
using BiasBench.Torch.Weights;

namespace BiasBench.Plugins.ClipRewards.Tests;

public sealed class ClipCheckpointTests(ITestOutputHelper output)
{
    [Fact]
    public void ResolvesBothFixtureLayoutsFromTheirFolders()
    {
        using var hf = ClipRewardFixture.Open(ClipRewardFixture.HuggingFace);
        using var oc = ClipRewardFixture.Open(ClipRewardFixture.OpenClip);
        var hfCheckpoint = ClipCheckpoint.Resolve(hf.Folder, null);
        Assert.Equal(ClipLayout.HuggingFace, hfCheckpoint.Config.Layout);
        Assert.Equal([Path.Combine(hf.Folder, "model.safetensors")], hfCheckpoint.WeightFiles);
        var ocCheckpoint = ClipCheckpoint.Resolve(Path.Combine(oc.Folder, "open_clip_model.safetensors"), null);
        Assert.Equal(ClipLayout.OpenClip, ocCheckpoint.Config.Layout);
        Assert.EndsWith("open_clip_config.json", ocCheckpoint.ConfigSource);
    }

    /// <summary>HPS options pointing at weights of another model (here a PickScore-layout checkpoint read with an
    /// open_clip config) must fail with every problem listed, not load garbage.</summary>
    [Fact]
    public void WeightsOfAnotherModelAreRejectedListingTheTensors()
    {
        using var hf = ClipRewardFixture.Open(ClipRewardFixture.HuggingFace);
        using var oc = ClipRewardFixture.Open(ClipRewardFixture.OpenClip);
        var options = oc.Options();
        options.ModelPath = Path.Combine(hf.Folder, "model.safetensors");
        options.ConfigPath = Path.Combine(oc.Folder, "open_clip_config.json");
        var error = Assert.Throws<StateDictMismatchException>(() => ClipRewardFactory.CreateHps(HpsVersion.V2_0, options));
        output.WriteLine(error.Message[..Math.Min(error.Message.Length, 1500)]);
        Assert.NotEmpty(error.Report.Missing);
        Assert.NotEmpty(error.Report.Unexpected);
        Assert.Contains("model.safetensors", error.Message);
        Assert.Contains(error.Report.Missing[0], error.Message);
        Assert.Contains(error.Report.Unexpected[0], error.Message);
    }

    [Fact]
    public void MisShapedWeightsAreReportedByName()
    {
        using var oc = ClipRewardFixture.Open(ClipRewardFixture.OpenClip);
        var temp = Directory.CreateTempSubdirectory("biasbench-misshaped-").FullName;
        try
        {
            // The same checkpoint read with a config whose embedding width differs.
            var config = File.ReadAllText(Path.Combine(oc.Folder, "open_clip_config.json"));
            var width = int.Parse(System.Text.RegularExpressions.Regex.Match(config, "\"embed_dim\"\\s*:\\s*(\\d+)").Groups[1].Value);
            var wider = System.Text.RegularExpressions.Regex.Replace(config, "\"embed_dim\"\\s*:\\s*\\d+", $"\"embed_dim\": {width + 8}");
            Assert.NotEqual(config, wider);
            var configPath = Path.Combine(temp, "open_clip_config.json");
            File.WriteAllText(configPath, wider);
            var options = oc.Options();
            options.ModelPath = Path.Combine(oc.Folder, "open_clip_model.safetensors");
            options.ConfigPath = configPath;
            var error = Assert.Throws<StateDictMismatchException>(() => ClipRewardFactory.CreateHps(HpsVersion.V2_1, options));
            Assert.NotEmpty(error.Report.Mismatched);
            Assert.Contains(error.Report.Mismatched[0].CheckpointKey, error.Message);
        }
        finally { Directory.Delete(temp, recursive: true); }
    }

    [Fact]
    public void MissingTokenizerIsAClearError()
    {
        using var hf = ClipRewardFixture.Open(ClipRewardFixture.HuggingFace);
        var options = hf.Options();
        options.TokenizerBpePath = null;
        var error = Assert.Throws<ArgumentException>(() => ClipRewardFactory.CreatePickScore(options));
        Assert.Contains("tokenizer_vocab_path", error.Message);
        Assert.Contains("tokenizer_bpe_path", error.Message);
    }
}
