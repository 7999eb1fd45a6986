using System.Text.Json;
using BiasBench.TestSupport;
using BiasBench.Torch.Weights;
using static TorchSharp.torch;

namespace BiasBench.Schedulers.Tests;

/// <summary>
/// Reads ../shared/fixtures/schedulers: the top-level cases.json names one folder per scheduler (its
/// scheduler_config.json, the expected schedule, and cases.safetensors with every recorded step).
/// </summary>
internal static class SchedulerFixture
{
    public const string Root = "schedulers";

    /// <summary>Tolerance of the schedulers fixture (max abs difference, fp32).</summary>
    public const double Tolerance = 1e-5;

    /// <summary>Case names from cases.json, for [MemberData]; a placeholder when the fixture is absent, so that the
    /// test itself reports the missing fixture (failing under BIASBENCH_REQUIRE_FIXTURES=1).</summary>
    public static TheoryData<string> CaseNames()
    {
        var data = new TheoryData<string>();
        var root = Fixtures.Root;
        var cases = root is null ? null : Path.Combine(root, Root, "cases.json");
        if (cases is null || !File.Exists(cases))
        {
            data.Add("<fixture missing>");
            return data;
        }
        using var doc = JsonDocument.Parse(File.ReadAllText(cases));
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateObject()) data.Add(c.Name);
        return data;
    }

    public static Case Load(string name)
    {
        using var doc = Fixtures.Json(Path.Combine(Root, "cases.json"));
        if (!doc.RootElement.GetProperty("cases").TryGetProperty(name, out var c))
        {
            Assert.Fail($"Scheduler fixture case '{name}' not found in {Root}/cases.json.");
        }
        var folder = Fixtures.File(Path.Combine(Root, name));
        double[]? sigmas = c.GetProperty("sigmas").ValueKind == JsonValueKind.Null
            ? null
            : c.GetProperty("sigmas").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        return new Case(
            name,
            folder,
            c.GetProperty("class").GetString()!,
            c.GetProperty("num_inference_steps").GetInt32(),
            c.GetProperty("timesteps").EnumerateArray().Select(e => e.GetDouble()).ToArray(),
            sigmas,
            c.GetProperty("init_noise_sigma").GetDouble(),
            c.GetProperty("stochastic").GetBoolean());
    }

    public sealed record Case(string Name, string Folder, string ClassName, int NumInferenceSteps, double[] Timesteps,
        double[]? Sigmas, double InitNoiseSigma, bool Stochastic)
    {
        public string ConfigPath => Path.Combine(Folder, "scheduler_config.json");

        public Dictionary<string, Tensor> LoadTensors()
        {
            using var file = SafeTensorsFile.Open(Path.Combine(Folder, "cases.safetensors"));
            return file.Entries.Keys.ToDictionary(k => k, k => file.Load(k));
        }
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
}
