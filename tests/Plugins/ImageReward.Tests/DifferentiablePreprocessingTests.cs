using System.Text.Json;
using BiasBench.TestSupport;
using BiasBench.Torch.Backend;
using BiasBench.Torch.Weights;
using static TorchSharp.torch;

namespace BiasBench.Plugins.ImageReward.Tests;

public class DifferentiablePreprocessingTests
{
    private readonly ITestOutputHelper _output;

    public DifferentiablePreprocessingTests(ITestOutputHelper output) => _output = output;

    /// <summary>
    /// Against torchvision's tensor pipeline (ToTensor, Resize(224, BICUBIC, antialias=True), CenterCrop, Normalize)
    /// for every image whose decoded pixels the fixture gives.
    /// </summary>
    [Fact]
    public void Matches_torchvision_tensor_bicubic_resize_crop_normalise()
    {
        TorchBackend.EnsureInitialized();
        var casesPath = Fixtures.File("preprocess/cases.json");
        using var doc = JsonDocument.Parse(File.ReadAllText(casesPath));
        using var expected = SafeTensorsFile.Open(Path.Combine(Path.GetDirectoryName(casesPath)!, "expected.safetensors"));
        var compared = 0;
        foreach (var name in doc.RootElement.GetProperty("images").EnumerateArray().Select(e => e.GetString()!))
        {
            if (!expected.Entries.ContainsKey($"{name}/rgb")) continue; // JPEG-only inputs: no reference pixels.
            using var scope = NewDisposeScope();
            var rgb = expected.Load($"{name}/rgb");
            var images = rgb.permute(2, 0, 1).unsqueeze(0).to(ScalarType.Float32) / 255.0;
            var actual = DifferentiablePreprocessing.ResizeCropNormalize(images, 224).squeeze(0);
            var reference = expected.Load($"{name}/tensor_bicubic_224", ScalarType.Float32);
            var diff = ImageRewardFixture.MaxAbsDiff(actual, reference);
            _output.WriteLine($"{name}: {rgb.shape[0]}x{rgb.shape[1]} max |diff| = {diff:E3}");
            Assert.True(diff <= ImageRewardFixture.Tolerance, $"{name}: max |diff| {diff:E3}");
            compared++;
        }
        Assert.True(compared > 0, "the preprocess fixture has no decoded images to compare");
    }

    [Theory]
    [InlineData(433, 611, 224, 316)]
    [InlineData(611, 433, 316, 224)]
    [InlineData(218, 178, 274, 224)]
    [InlineData(224, 224, 224, 224)]
    public void Short_side_becomes_the_target_and_the_long_side_is_truncated(long h, long w, long expectedH, long expectedW)
    {
        Assert.Equal((expectedH, expectedW), DifferentiablePreprocessing.ResizedSize(h, w, 224));
    }

    [Fact]
    public void Crop_offsets_round_half_to_even_like_python()
    {
        // (225 - 224) / 2 = 0.5 -> 0; (227 - 224) / 2 = 1.5 -> 2.
        Assert.Equal((0L, 2L), DifferentiablePreprocessing.CropOffsets(225, 227, 224));
        Assert.Throws<ArgumentException>(() => DifferentiablePreprocessing.CropOffsets(100, 300, 224));
    }

    [Fact]
    public void Gradients_reach_the_input_pixels()
    {
        TorchBackend.EnsureInitialized();
        using var images = rand(2, 3, 300, 260).requires_grad_(true);
        using var output = DifferentiablePreprocessing.ResizeCropNormalize(images, 224);
        Assert.Equal(new long[] { 2, 3, 224, 224 }, output.shape);
        using var loss = output.sum();
        loss.backward();
        using var grad = images.grad!;
        Assert.True(grad.abs().sum().item<float>() > 0);
    }

    [Fact]
    public void Rejects_integer_or_grey_images()
    {
        TorchBackend.EnsureInitialized();
        using var bytes = zeros(1, 3, 224, 224, ScalarType.Byte);
        Assert.Throws<ArgumentException>(() => DifferentiablePreprocessing.ResizeCropNormalize(bytes, 224));
        using var grey = zeros(1, 1, 224, 224);
        Assert.Throws<ArgumentException>(() => DifferentiablePreprocessing.ResizeCropNormalize(grey, 224));
    }
}
