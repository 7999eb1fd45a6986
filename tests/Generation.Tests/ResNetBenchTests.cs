using System.Text.Json;

namespace BiasBench.Generation.Tests;

/// <summary>The ResNet judge's bench modes (resnet-infer, resnet-train) run their tiny preset on the CPU and write one
/// row per batch size with the settings they ran under (CI-sized smoke test of what runs on the GPU machine).</summary>
public sealed class ResNetBenchTests
{
    [Theory]
    [InlineData("resnet-infer")]
    [InlineData("resnet-train")]
    public void TinyPresetRunsOnTheCpuAndWritesItsFigures(string mode)
    {
        var json = Path.Combine(Path.GetTempPath(), $"biasbench-bench-{mode}-{Guid.NewGuid():N}.json");
        try
        {
            Assert.Equal(0, ResNetBench.Run(mode, [mode, "--preset", "tiny", "--device", "cpu", "--batch", "2,3", "--size", "32", "--iterations", "1", "--json", json]));
            using var doc = JsonDocument.Parse(File.ReadAllText(json));
            var rows = doc.RootElement.EnumerateArray().ToList();
            Assert.Equal([2, 3], rows.Select(r => r.GetProperty("batch").GetInt32()));
            foreach (var row in rows)
            {
                Assert.Equal(mode, row.GetProperty("mode").GetString());
                Assert.Equal("tiny", row.GetProperty("preset").GetString());
                Assert.Equal(32, row.GetProperty("size").GetInt32());
                Assert.Equal("fp32", row.GetProperty("dtype").GetString());
                Assert.Equal("cpu", row.GetProperty("device").GetString());
                var perSecond = row.GetProperty("images_per_second").GetDouble();
                Assert.True(double.IsFinite(perSecond) && perSecond > 0, $"{mode}: images/s {perSecond}");
            }
        }
        finally { File.Delete(json); }
    }

    [Fact]
    public void AnUnknownPresetIsRefusedByName()
    {
        var e = Assert.Throws<ArgumentException>(() => ResNetBench.Run("resnet-infer", ["resnet-infer", "--preset", "resnet7", "--device", "cpu"]));
        Assert.Contains("resnet7", e.Message);
    }
}
