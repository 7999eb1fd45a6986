using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using BiasBench.Abstractions;
using BiasBench.Abstractions.Torch;
using BiasBench.Plugins.ClipRewards;
using BiasBench.Plugins.Generators;
using BiasBench.TestSupport;
using BiasBench.Torch.Weights;
using static TorchSharp.torch;

namespace BiasBench.Plugins.FineTuning.Tests;

/// <summary>
/// The draft_step/ fixture: a tiny UNet2DModel + DDIM (diffusers layout) whose reward is the differentiable
/// laion-aesthetic path of clip_quickgelu/. Cases, sizes and tolerances come from its cases.json.
/// </summary>
public sealed class DraftStepFixture : IDisposable
{
    public const string Prompt = "a portrait photo of a face";

    private DraftStepFixture(string folder, string clipFolder, JsonDocument cases, Dictionary<string, Tensor> tensors)
    {
        Folder = folder;
        ClipFolder = clipFolder;
        Json = cases;
        Tensors = tensors;
        var tolerance = cases.RootElement.GetProperty("tolerance").GetString()!;
        ValueTolerance = double.Parse(Regex.Match(tolerance, @"([0-9.eE-]+)\s+absolute").Groups[1].Value, CultureInfo.InvariantCulture);
        GradientTolerance = double.Parse(Regex.Match(tolerance, @"within\s+([0-9.eE-]+)\s+of").Groups[1].Value, CultureInfo.InvariantCulture);
        Batch = cases.RootElement.GetProperty("batch").GetInt32();
    }

    public string Folder { get; }
    public string ClipFolder { get; }
    public JsonDocument Json { get; }
    public Dictionary<string, Tensor> Tensors { get; }
    public double ValueTolerance { get; }
    public double GradientTolerance { get; }
    public int Batch { get; }

    public static DraftStepFixture Open()
    {
        var folder = Fixtures.File("draft_step");
        var clip = Fixtures.File("clip_quickgelu");
        var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "cases.json")));
        using var file = SafeTensorsFile.Open(Path.Combine(folder, "cases.safetensors"));
        var tensors = file.Entries.Keys.ToDictionary(k => k, k => file.Load(k), StringComparer.Ordinal);
        return new DraftStepFixture(folder, clip, json, tensors);
    }

    public JsonElement Case(string name) => Json.RootElement.GetProperty("cases").GetProperty(name);

    public IEnumerable<string> TrainingCases => Json.RootElement.GetProperty("cases").EnumerateObject()
        .Where(c => c.Value.TryGetProperty("mode", out _)).Select(c => c.Name);

    public static int SamplingSteps(JsonElement c) => c.GetProperty("timesteps").GetArrayLength();

    public DdpmGeneratorOptions GeneratorOptions(int steps) => new()
    {
        Model = Folder, Scheduler = "ddim", Steps = steps, Eta = 0, Device = "cpu", Dtype = "float32", BatchSize = Batch,
    };

    public LaionAestheticOptions RewardOptions() => new()
    {
        ModelPath = ClipFolder, HeadPath = Path.Combine(ClipFolder, "aesthetic_head.pth"), Device = "cpu", Dtype = "float32",
    };

    public ComponentReference<IDifferentiableImageGenerator> GeneratorReference(int steps) => new() { Plugin = "ddpm", Options = GeneratorOptions(steps) };

    public ComponentReference<IDifferentiableRewardModel> RewardReference() => new() { Plugin = "laion-aesthetic-v2", Options = RewardOptions() };

    public void Dispose()
    {
        Json.Dispose();
        foreach (var t in Tensors.Values) t.Dispose();
    }
}
