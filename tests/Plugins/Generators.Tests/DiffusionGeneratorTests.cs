using System.ComponentModel.DataAnnotations;
using BiasBench.Abstractions;
using BiasBench.Imaging;
using BiasBench.Networks.Diffusion;
using BiasBench.TestSupport;
using BiasBench.Torch.Weights;
using Microsoft.Extensions.Logging.Abstractions;

namespace BiasBench.Plugins.Generators.Tests;

public sealed class DiffusionGeneratorTests
{
    [Fact]
    public async Task Ddpm_generator_reports_the_weights_checksum_and_writes_it_into_each_png()
    {
        var folder = Fixtures.Path_("ddpm_unet");
        var options = new DdpmGeneratorOptions { Model = folder, Steps = 2, Scheduler = "ddim", BatchSize = 2 };
        using var generator = new DdpmGenerator(options, "cpu", NullLogger.Instance);
        var weights = DiffusionWeights.FindWeights(Path.Combine(folder, "unet"));
        Assert.Equal(WeightFileChecksum.Sha256(weights), generator.Info.WeightsChecksum);

        var results = await generator.GenerateAsync([new GenerationRequest("a face", 3), new GenerationRequest("a face", 4)], CancellationToken.None);
        Assert.All(results, r => Assert.True(r.IsSuccess, r.Error));
        var text = PngTextChunks.Read(results[1].Value!.EncodedPng).ToDictionary(kv => kv.Key, kv => kv.Value);
        Assert.Equal("4", text["seed"]);
        Assert.Equal(generator.Info.WeightsChecksum, text["weights_sha256"]);
        Assert.Equal("DDIMScheduler", results[1].Value!.Provenance.Settings["scheduler"]);
    }

    [Fact]
    public void Unknown_scheduler_names_are_refused_with_the_known_ones()
    {
        var options = new StableDiffusionOptions { Model = "x", Scheduler = "eulr" };
        var results = new List<ValidationResult>();
        Assert.False(Validator.TryValidateObject(options, new ValidationContext(options), results, validateAllProperties: true));
        var error = Assert.Single(results);
        Assert.Contains("unknown scheduler 'eulr'", error.ErrorMessage);
        Assert.Contains("euler", error.ErrorMessage);
    }

    [Fact]
    public void Hub_cache_snapshots_are_labelled_by_repository_and_commit()
    {
        var snapshot = Path.Combine(Path.GetTempPath(), "hub", "models--google--ddpm-celebahq-256", "snapshots", "abc123");
        Assert.Equal("google/ddpm-celebahq-256@abc123", DiffusionGeneratorBase.ModelLabel(snapshot));
        Assert.Equal("sd_tiny", DiffusionGeneratorBase.ModelLabel(Path.Combine(Path.GetTempPath(), "sd_tiny")));
    }

    [Fact]
    public void Float16_on_the_cpu_is_refused_before_loading()
    {
        var options = new DdpmGeneratorOptions { Model = "x", Dtype = "fp16" };
        var e = Assert.Throws<ArgumentException>(() => options.ResolvePlacement("cpu"));
        Assert.Contains("float16", e.Message);
    }
}
