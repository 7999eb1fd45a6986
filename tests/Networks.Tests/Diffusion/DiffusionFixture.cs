using System.Text.Json;
using BiasBench.TestSupport;
using BiasBench.Torch.Backend;
using BiasBench.Torch.Weights;
using static TorchSharp.torch;

namespace BiasBench.Networks.Tests.Diffusion;

/// <summary>Reads a diffusion fixture folder (ddpm_unet/, sd_tiny/): its diffusers layout, cases.json and cases.safetensors.</summary>
internal static class DiffusionFixture
{
    public const string DdpmFolder = "ddpm_unet";
    public const string StableDiffusionFolder = "sd_tiny";

    /// <summary>The fixture README's bound for networks (fp32, CPU).</summary>
    public const double Tolerance = 1e-4;

    public static string Folder(string name)
    {
        TorchBackend.EnsureInitialized();
        return Fixtures.File(name);
    }

    public static Dictionary<string, Tensor> Cases(string folder)
    {
        using var file = SafeTensorsFile.Open(Path.Combine(folder, "cases.safetensors"));
        return file.Entries.Keys.ToDictionary(k => k, k => file.Load(k));
    }

    public static JsonElement CasesJson(string folder) =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "cases.json"))).RootElement;

    public static double MaxAbsDiff(Tensor actual, Tensor expected)
    {
        Assert.Equal(expected.shape, actual.shape);
        using var scope = NewDisposeScope();
        return (actual.to(ScalarType.Float64) - expected.to(ScalarType.Float64)).abs().max().item<double>();
    }

    public static void DisposeAll(this Dictionary<string, Tensor> tensors)
    {
        foreach (var t in tensors.Values) t.Dispose();
    }
}
