using System.Text.Json;
using BiasBench.TestSupport;
using BiasBench.Torch.Backend;
using BiasBench.Torch.Weights;
using static TorchSharp.torch;

namespace BiasBench.Generation.Tests;

/// <summary>The ddpm_unet/ and sd_tiny/ fixture folders: diffusers layouts plus cases.json and cases.safetensors.</summary>
internal static class GenerationFixture
{
    public const string Ddpm = "ddpm_unet";
    public const string StableDiffusion = "sd_tiny";

    /// <summary>The fixture README's bound (fp32, CPU): max |diff| 1e-4.</summary>
    public const double Tolerance = 1e-4;

    public static string Folder(string name)
    {
        TorchBackend.EnsureInitialized();
        return Fixtures.File(name);
    }

    /// <summary>open_clip's BPE merges from the shared data (sd_tiny ships no tokenizer/ folder).</summary>
    public static string ClipBpe() => Fixtures.Data(Path.Combine("tokenizers", "clip_bpe_simple_vocab_16e6.txt.gz"));

    public static Dictionary<string, Tensor> Cases(string folder)
    {
        using var file = SafeTensorsFile.Open(Path.Combine(folder, "cases.safetensors"));
        return file.Entries.Keys.ToDictionary(k => k, k => file.Load(k));
    }

    public static JsonDocument CasesJson(string folder) => JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "cases.json")));

    public static double MaxAbsDiff(Tensor actual, Tensor expected)
    {
        Assert.Equal(expected.shape, actual.shape);
        using var scope = NewDisposeScope();
        return (actual.to(ScalarType.Float64, CPU) - expected.to(ScalarType.Float64, CPU)).abs().max().item<double>();
    }

    public static void DisposeAll(this Dictionary<string, Tensor> tensors)
    {
        foreach (var t in tensors.Values) t.Dispose();
    }
}
