using BiasBench.Networks.Clip;
using BiasBench.TestSupport;
using BiasBench.Torch.Backend;
using BiasBench.Torch.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Networks.Tests.Clip;

/// <summary>Reads a CLIP fixture folder (clip_hf/ or open_clip/): its model and cases.safetensors.</summary>
internal static class ClipFixture
{
    public const string HuggingFaceFolder = "clip_hf";
    public const string OpenClipFolder = "open_clip";

    /// <summary>Tensors stored as model inputs in cases.safetensors (everything else is an expected output).</summary>
    public static readonly string[] InputNames = ["pixel_values", "input_ids", "attention_mask", "text"];

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

    public static ClipConfig ReadConfig(string folder) => File.Exists(Path.Combine(folder, ClipModel.OpenClipConfigFile))
        ? ClipConfig.FromOpenClipJson(Path.Combine(folder, ClipModel.OpenClipConfigFile))
        : ClipConfig.FromHuggingFaceJson(Path.Combine(folder, ClipModel.HuggingFaceConfigFile));

    public static string WeightsFile(string folder) => File.Exists(Path.Combine(folder, ClipModel.OpenClipWeightsFile))
        ? Path.Combine(folder, ClipModel.OpenClipWeightsFile)
        : Path.Combine(folder, ClipModel.HuggingFaceWeightsFile);
}
