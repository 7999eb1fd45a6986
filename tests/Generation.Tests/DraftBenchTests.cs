using System.Text.Json;

namespace BiasBench.Generation.Tests;

/// <summary>The DRaFT-1 bench mode's tiny preset runs on the CPU (with recomputed steps: the longer path; the plain one
/// is what the fine-tuning tests train with).</summary>
public sealed class DraftBenchTests
{
    [Fact]
    public void TinyPresetRunsADraftUpdateOnTheCpu()
    {
        const bool recompute = true;
        var json = Path.Combine(Path.GetTempPath(), $"biasbench-bench-draft-{Guid.NewGuid():N}.json");
        try
        {
            string[] args = ["draft", "--preset", "tiny", "--device", "cpu", "--batch", "2", "--steps", "2", "--iterations", "1", "--json", json];
            Assert.Equal(0, DraftBench.Run(recompute ? [.. args, "--recompute"] : args));
            using var doc = JsonDocument.Parse(File.ReadAllText(json));
            var row = Assert.Single(doc.RootElement.EnumerateArray());
            Assert.True(row.GetProperty("seconds_per_update").GetDouble() > 0);
            Assert.Equal(recompute, row.GetProperty("recompute").GetBoolean());
        }
        finally { File.Delete(json); }
    }
}
