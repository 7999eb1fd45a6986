using System.Text.Json;
using BiasBench.Abstractions;
using BiasBench.TestSupport;
using BiasBench.Torch.Weights;
using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Plugins.ResNetJudge.Tests;

/// <summary>The judge end to end (decode + Resize + normalise + network + sigmoid) against resnet_attractiveness.</summary>
public sealed class ResNetJudgeTests(ITestOutputHelper output)
{
    private const double Tolerance = 1e-4;

    [Fact]
    public async Task Probabilities_match_the_reference_logits_through_the_plugin()
    {
        var modelPath = Fixtures.File("resnet_attractiveness/model.safetensors");
        using var doc = Fixtures.Json("resnet_attractiveness/cases.json");
        var images = doc.RootElement.GetProperty("images").EnumerateArray().Select(e => Fixtures.File(e.GetString()!)).ToList();
        using var cases = SafeTensorsFile.Open(Fixtures.File("resnet_attractiveness/cases.safetensors"));
        using var logits = cases.Load("logit", ScalarType.Float32);
        var expected = logits.reshape(-1).data<float>().ToArray().Select(l => 1 / (1 + Math.Exp(-l))).ToArray();
        var size = (int)cases.Entries["pixel_values"].Shape[^1];

        using var judge = new ResNetJudge(new ResNetJudgeOptions { CheckpointPath = modelPath, ImageSize = size, Threshold = 0.5 }, "cpu", NullLogger.Instance);
        Assert.Equal(WeightFileChecksum.Sha256(modelPath), judge.Info.WeightsChecksum);
        Assert.Equal(["attractive", "not_attractive"], judge.Info.Labels);
        var results = await judge.JudgeAsync(images.Select(p => ImageRef.FromFile(Path.GetFileName(p), p)).ToList(), CancellationToken.None);
        for (var i = 0; i < images.Count; i++)
        {
            Assert.True(results[i].IsSuccess, results[i].Error);
            var p = results[i].Value!.Probabilities["attractive"];
            output.WriteLine($"{Path.GetFileName(images[i])}: P = {p:F6}, reference {expected[i]:F6}");
            Assert.True(Math.Abs(p - expected[i]) <= Tolerance, $"{images[i]}: {p} vs {expected[i]}");
            Assert.Equal(1 - p, results[i].Value!.Probabilities["not_attractive"], 12);
            Assert.Equal(p >= 0.5 ? "attractive" : "not_attractive", results[i].Value!.Label);
        }
    }

    [Fact]
    public async Task A_broken_image_fails_alone_and_the_threshold_comes_from_the_options()
    {
        var modelPath = Fixtures.File("resnet_attractiveness/model.safetensors");
        var good = Fixtures.File("preprocess/crop.png");
        using var judge = new ResNetJudge(new ResNetJudgeOptions { CheckpointPath = modelPath, Threshold = 0.0, ImageSize = 64 }, "cpu", NullLogger.Instance);
        var results = await judge.JudgeAsync([ImageRef.FromBytes("broken", new byte[] { 1, 2, 3 }), ImageRef.FromFile("crop", good)], CancellationToken.None);
        Assert.False(results[0].IsSuccess);
        Assert.Contains("broken", results[0].Error);
        Assert.Equal("attractive", results[1].Value!.Label);
    }
}
