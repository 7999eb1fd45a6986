using System.Text.Json;

namespace BiasBench.Generation.Tests;

/// <summary>The diffusion bench modes' tiny presets run on the CPU (CI-sized smoke test of what runs on the GPU machine).</summary>
public sealed class DiffusionBenchTests
{
    [Theory]
    [InlineData("ddpm")]
    [InlineData("sd")]
    public void TinyPresetRunsOnTheCpuAndWritesItsFigures(string mode)
    {
        var json = Path.Combine(Path.GetTempPath(), $"biasbench-bench-{mode}-{Guid.NewGuid():N}.json");
        try
        {
            Assert.Equal(0, DiffusionBench.Run(mode, [mode, "--preset", "tiny", "--device", "cpu", "--batch", "1", "--steps", "2", "--iterations", "1", "--json", json]));
            using var doc = JsonDocument.Parse(File.ReadAllText(json));
            var row = Assert.Single(doc.RootElement.EnumerateArray());
            Assert.True(row.GetProperty("unet_ms_per_call").GetDouble() > 0);
            Assert.True(row.GetProperty("full_loop_images_per_s").GetDouble() > 0);
        }
        finally { File.Delete(json); }
    }
}
