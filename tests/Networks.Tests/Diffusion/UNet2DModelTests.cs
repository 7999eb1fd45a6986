using BiasBench.Networks.Diffusion;
using BiasBench.Torch.Weights;
using static TorchSharp.torch;

namespace BiasBench.Networks.Tests.Diffusion;

public sealed class UNet2DModelTests(ITestOutputHelper output)
{
    [Fact]
    public void NoisePredictionMatchesDiffusers()
    {
        var folder = DiffusionFixture.Folder(DiffusionFixture.DdpmFolder);
        using var unet = DiffusionModels.LoadUNet2D(Path.Combine(folder, "unet"));
        var cases = DiffusionFixture.Cases(folder);
        try
        {
            using var noGrad = no_grad();
            using var eps = unet.Forward(cases["x"], cases["t"]);
            var diff = DiffusionFixture.MaxAbsDiff(eps, cases["eps"]);
            output.WriteLine($"eps max |diff| = {diff:E3}");
            Assert.True(diff <= DiffusionFixture.Tolerance, $"eps differs from diffusers by {diff:E3}");
        }
        finally { cases.DisposeAll(); }
    }

    [Fact]
    public void RunsInBfloat16CloseToFloat32()
    {
        // fp16 weights load into any dtype; bf16 keeps ~3 significant digits, so the bf16 output is compared relative
        // to the output's scale (fp16 convolutions are not available on every CPU build: bf16 is the CPU check).
        var folder = DiffusionFixture.Folder(DiffusionFixture.DdpmFolder);
        using var unet = DiffusionModels.LoadUNet2D(Path.Combine(folder, "unet"));
        var cases = DiffusionFixture.Cases(folder);
        try
        {
            using var noGrad = no_grad();
            using var reference = unet.Forward(cases["x"], cases["t"]);
            unet.To(CPU, ScalarType.BFloat16);
            using var low = unet.Forward(cases["x"], cases["t"]);
            Assert.Equal(ScalarType.BFloat16, low.dtype);
            var relative = DiffusionFixture.MaxAbsDiff(low, reference) / reference.abs().max().item<float>();
            output.WriteLine($"bf16 vs fp32: max |diff| / max |eps| = {relative:E2}");
            Assert.True(relative < 0.05, $"bf16 output is {relative:P1} off");
        }
        finally { cases.DisposeAll(); }
    }

    [Fact]
    public void ConfigIsReadFromTheCheckpointFolder()
    {
        var folder = DiffusionFixture.Folder(DiffusionFixture.DdpmFolder);
        var config = UNet2DConfig.FromFile(Path.Combine(folder, "unet", "config.json"));
        using var reader = DiffusersConfigReader.Open(Path.Combine(folder, "unet", "config.json"));
        Assert.Equal(reader.Ints("block_out_channels", []), config.BlockOutChannels);
        Assert.Equal(reader.Strings("down_block_types", []), config.DownBlockTypes);
        // attention_head_dim: null means one head per attention layer, not the class default of 8.
        Assert.Equal(reader.IsSet("attention_head_dim") ? reader.Int("attention_head_dim", 0) : null, config.AttentionHeadDim);
    }

    [Fact]
    public void OldAttentionKeysAreRenamedLikeDiffusers()
    {
        // Old checkpoints (google/ddpm-celebahq-256) name the attention projections query/key/value/proj_attn.
        var folder = DiffusionFixture.Folder(DiffusionFixture.DdpmFolder);
        using var reference = DiffusionModels.LoadUNet2D(Path.Combine(folder, "unet"));
        var weights = DiffusionWeights.FindWeights(Path.Combine(folder, "unet"));
        Dictionary<string, Tensor> tensors;
        using (var file = SafeTensorsFile.Open(weights)) tensors = file.LoadAll();
        var renamed = tensors.ToDictionary(kv => OldName(kv.Key), kv => kv.Value);
        Assert.Contains(renamed.Keys, k => k.EndsWith(".proj_attn.weight", StringComparison.Ordinal));
        var dir = Directory.CreateTempSubdirectory("biasbench-ddpm-old-keys").FullName;
        try
        {
            File.Copy(Path.Combine(folder, "unet", "config.json"), Path.Combine(dir, "config.json"));
            SafeTensorsFile.Save(Path.Combine(dir, "diffusion_pytorch_model.safetensors"), renamed);
            using var old = DiffusionModels.LoadUNet2D(dir);
            var cases = DiffusionFixture.Cases(folder);
            try
            {
                using var noGrad = no_grad();
                using var a = reference.Forward(cases["x"], cases["t"]);
                using var b = old.Forward(cases["x"], cases["t"]);
                Assert.Equal(0, DiffusionFixture.MaxAbsDiff(b, a));
            }
            finally { cases.DisposeAll(); }
        }
        finally
        {
            Directory.Delete(dir, true);
            foreach (var t in tensors.Values) t.Dispose();
        }

        static string OldName(string key) => key
            .Replace(".attentions.0.to_q.", ".attentions.0.query.").Replace(".attentions.0.to_k.", ".attentions.0.key.")
            .Replace(".attentions.0.to_v.", ".attentions.0.value.").Replace(".attentions.0.to_out.0.", ".attentions.0.proj_attn.");
    }

    [Fact]
    public void CheckpointOfAnotherModelIsRefusedNamingTheTensors()
    {
        var folder = DiffusionFixture.Folder(DiffusionFixture.DdpmFolder);
        var config = UNet2DConfig.FromFile(Path.Combine(folder, "unet", "config.json")) with { LayersPerBlock = 1 };
        using var model = new UNet2DModel(config);
        var e = Assert.Throws<StateDictMismatchException>(() => DiffusionWeights.Load(model, DiffusionWeights.FindWeights(Path.Combine(folder, "unet"))));
        Assert.Contains("resnets.1", e.Message);
        Assert.NotEmpty(e.Report.Unexpected);
    }

    [Fact]
    public void LinearLayersUseTheFusedPath()
    {
        var folder = DiffusionFixture.Folder(DiffusionFixture.DdpmFolder);
        using var model = new UNet2DModel(UNet2DConfig.FromFile(Path.Combine(folder, "unet", "config.json")));
        var modules = model.named_modules().ToList();
        Assert.Contains(modules, m => m.name.EndsWith("to_out.0", StringComparison.Ordinal) && m.module is BiasBench.Torch.Layers.Linear);
        Assert.DoesNotContain(modules, m => m.module is TorchSharp.Modules.Linear);
    }
}
