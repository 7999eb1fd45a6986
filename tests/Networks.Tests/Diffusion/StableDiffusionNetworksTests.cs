using BiasBench.Networks.Clip;
using BiasBench.Networks.Diffusion;
using static TorchSharp.torch;

namespace BiasBench.Networks.Tests.Diffusion;

/// <summary>The three Stable Diffusion networks against diffusers/transformers on the sd_tiny fixture.</summary>
public sealed class StableDiffusionNetworksTests(ITestOutputHelper output)
{
    [Fact]
    public void TextEncoderLastHiddenStateMatchesTransformers()
    {
        var folder = DiffusionFixture.Folder(DiffusionFixture.StableDiffusionFolder);
        var encoderFolder = Path.Combine(folder, "text_encoder");
        using var encoder = ClipTextEncoder.Load(Path.Combine(encoderFolder, "config.json"), Path.Combine(encoderFolder, "model.safetensors"));
        var cases = DiffusionFixture.Cases(folder);
        try
        {
            using var noGrad = no_grad();
            using var hidden = encoder.HiddenStates(cases["input_ids"]);
            var diff = DiffusionFixture.MaxAbsDiff(hidden, cases["text_embeddings"]);
            output.WriteLine($"text embeddings max |diff| = {diff:E3}");
            Assert.True(diff <= DiffusionFixture.Tolerance, $"text embeddings differ by {diff:E3}");
        }
        finally { cases.DisposeAll(); }
    }

    [Fact]
    public void TextEncoderLoadsTransformers4KeysWithTheTextModelPrefix()
    {
        // stable-diffusion-v1-5's text_encoder/model.safetensors (transformers 4) names tensors text_model.*; the
        // fixture (transformers 5) does not. Both must load the same weights.
        var folder = DiffusionFixture.Folder(DiffusionFixture.StableDiffusionFolder);
        var encoderFolder = Path.Combine(folder, "text_encoder");
        Dictionary<string, Tensor> tensors;
        using (var file = BiasBench.Torch.Weights.SafeTensorsFile.Open(Path.Combine(encoderFolder, "model.safetensors"))) tensors = file.LoadAll();
        var dir = Directory.CreateTempSubdirectory("biasbench-text-encoder").FullName;
        try
        {
            var prefixed = tensors.ToDictionary(kv => "text_model." + kv.Key, kv => kv.Value);
            prefixed["text_model.embeddings.position_ids"] = arange(77, dtype: ScalarType.Int64).unsqueeze(0); // older files carry this buffer
            var weights = Path.Combine(dir, "model.safetensors");
            BiasBench.Torch.Weights.SafeTensorsFile.Save(weights, prefixed);
            using var a = ClipTextEncoder.Load(Path.Combine(encoderFolder, "config.json"), Path.Combine(encoderFolder, "model.safetensors"));
            using var b = ClipTextEncoder.Load(Path.Combine(encoderFolder, "config.json"), weights);
            var cases = DiffusionFixture.Cases(folder);
            try
            {
                using var noGrad = no_grad();
                using var ha = a.HiddenStates(cases["input_ids"]);
                using var hb = b.HiddenStates(cases["input_ids"]);
                Assert.Equal(0, DiffusionFixture.MaxAbsDiff(hb, ha));
            }
            finally { cases.DisposeAll(); }
        }
        finally
        {
            Directory.Delete(dir, true);
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    [Fact]
    public void ConditionalUNetMatchesDiffusers()
    {
        var folder = DiffusionFixture.Folder(DiffusionFixture.StableDiffusionFolder);
        using var unet = DiffusionModels.LoadUNet2DCondition(Path.Combine(folder, "unet"));
        var cases = DiffusionFixture.Cases(folder);
        try
        {
            using var noGrad = no_grad();
            // unet_eps_t500_cond: the UNet on latents_T at t=500 with the first (conditional) prompt's embeddings.
            using var t = tensor(500L);
            using var cond = cases["text_embeddings"][..1];
            using var eps = unet.Forward(cases["latents_T"], t, cond);
            var diff = DiffusionFixture.MaxAbsDiff(eps, cases["unet_eps_t500_cond"]);
            output.WriteLine($"UNet eps max |diff| = {diff:E3}");
            Assert.True(diff <= DiffusionFixture.Tolerance, $"UNet output differs by {diff:E3}");
        }
        finally { cases.DisposeAll(); }
    }

    [Fact]
    public void VaeDecodeMatchesDiffusers()
    {
        var folder = DiffusionFixture.Folder(DiffusionFixture.StableDiffusionFolder);
        using var vae = DiffusionModels.LoadAutoencoderKL(Path.Combine(folder, "vae"));
        var cases = DiffusionFixture.Cases(folder);
        try
        {
            using var noGrad = no_grad();
            // vae_input_z is a diffusion latent: the fixture decodes it as the pipeline does, decode(z / scaling_factor).
            using var image = vae.DecodeScaled(cases["vae_input_z"]);
            var diff = DiffusionFixture.MaxAbsDiff(image, cases["vae_decoded_from_z"]);
            output.WriteLine($"VAE decode max |diff| = {diff:E3}");
            Assert.True(diff <= DiffusionFixture.Tolerance, $"VAE decode differs by {diff:E3}");
        }
        finally { cases.DisposeAll(); }
    }

    [Fact]
    public void VaeEncoderRunsAndKeepsTheLatentShape()
    {
        // No encoder reference output exists in the fixture; this checks shapes and the clamp of the log-variance.
        var folder = DiffusionFixture.Folder(DiffusionFixture.StableDiffusionFolder);
        using var vae = DiffusionModels.LoadAutoencoderKL(Path.Combine(folder, "vae"));
        var cases = DiffusionFixture.Cases(folder);
        try
        {
            using var noGrad = no_grad();
            var decoded = cases["vae_decoded_from_z"];
            var (mean, logvar) = vae.Encode(decoded);
            using (mean) using (logvar)
            {
                Assert.Equal(cases["vae_input_z"].shape, mean.shape);
                Assert.True(logvar.max().item<float>() <= 20 && logvar.min().item<float>() >= -30);
            }
        }
        finally { cases.DisposeAll(); }
    }
}
