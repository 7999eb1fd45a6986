using System.Text.Json;
using BiasBench.TestSupport;
using BiasBench.Torch.Backend;
using BiasBench.Torch.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Imaging.Tests;

/// <summary>The classifier's Resize((256, 256)) + ToTensor + ImageNet Normalize against resnet_attractiveness's pixel_values.</summary>
public sealed class ClassifierPreprocessingTests(ITestOutputHelper output)
{
    // PIL's bilinear resample is integer arithmetic; a bit-exact port leaves only float rounding of the normalisation.
    private const double Tolerance = 1e-5;

    [Fact]
    public void Evaluation_transform_matches_the_fixture_inputs()
    {
        TorchBackend.EnsureInitialized();
        using var doc = Fixtures.Json("resnet_attractiveness/cases.json");
        var images = doc.RootElement.GetProperty("images").EnumerateArray().Select(e => e.GetString()!).ToList();
        using var cases = SafeTensorsFile.Open(Fixtures.File("resnet_attractiveness/cases.safetensors"));
        using var expected = cases.Load("pixel_values", ScalarType.Float32);
        var size = (int)expected.shape[^1];
        Assert.Equal(images.Count, (int)expected.shape[0]);
        for (var i = 0; i < images.Count; i++)
        {
            var rgb = ImageDecoder.DecodeFile(Fixtures.File(images[i]));
            var chw = ClassifierPreprocessing.Evaluate(rgb, size);
            using var actual = chw.ToTensor();
            var diff = (actual - expected[i]).abs().max().item<float>();
            output.WriteLine($"{images[i]} ({rgb.Width}x{rgb.Height}): max |diff| = {diff:E2}");
            Assert.True(diff <= Tolerance, $"{images[i]}: max |diff| {diff} > {Tolerance}");
        }
    }

    [Fact]
    public void RandomResizedCrop_box_follows_torchvision_and_is_reproducible()
    {
        var settings = new AugmentationSettings();
        for (var seed = 0; seed < 200; seed++)
        {
            var a = ImageAugmentation.RandomResizedCropBox(218, 178, new Random(seed), settings);
            var b = ImageAugmentation.RandomResizedCropBox(218, 178, new Random(seed), settings);
            Assert.Equal(a, b);
            Assert.InRange(a.Height, 1, 218); Assert.InRange(a.Width, 1, 178);
            Assert.InRange(a.Top, 0, 218 - a.Height); Assert.InRange(a.Left, 0, 178 - a.Width);
            var ratio = (double)a.Width / a.Height;
            // Rounding of w and h moves the ratio a little beyond [3/4, 4/3] for small crops, as in torchvision.
            Assert.InRange(ratio, 0.75 * 0.9, 4.0 / 3.0 * 1.1);
            // RandomResizedCrop's area scale range [0.08, 1]; integer rounding of w and h moves small crops slightly below 0.08.
            Assert.InRange((double)a.Width * a.Height / (218 * 178), 0.07, 1.01);
        }
        // Impossible scale range: every try fails, torchvision's central fallback clamps the ratio.
        var wide = ImageAugmentation.RandomResizedCropBox(100, 400, new Random(1), settings with { ScaleMin = 2, ScaleMax = 3 });
        Assert.Equal((0, 133, 100, 133), wide);
    }

    [Fact]
    public void Augmented_images_are_deterministic_per_seed_and_differ_across_seeds()
    {
        var pixels = new byte[40 * 30 * 3];
        new Random(5).NextBytes(pixels);
        var image = new BiasBench.Abstractions.RgbImage(40, 30, pixels);
        var s = new AugmentationSettings { Size = 16 };
        var a = ImageAugmentation.Apply(image, new Random(11), s).Data;
        var b = ImageAugmentation.Apply(image, new Random(11), s).Data;
        var c = ImageAugmentation.Apply(image, new Random(12), s).Data;
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        Assert.Equal(3 * 16 * 16, a.Length);
    }

    [Fact]
    public void Colour_jitter_with_zero_strength_and_no_flip_is_the_identity()
    {
        var chw = Enumerable.Range(0, 3 * 4).Select(i => i / 12f).ToArray();
        var copy = (float[])chw.Clone();
        ImageAugmentation.ColorJitter(chw, 4, new Random(0), new AugmentationSettings { Brightness = 0, Contrast = 0, Saturation = 0, Hue = 0 });
        Assert.Equal(copy, chw);
        // Hue shift by a full turn is the identity up to float rounding.
        var shifted = (float[])copy.Clone();
        ImageAugmentation.FlipHorizontal(shifted, 1, 4);
        ImageAugmentation.FlipHorizontal(shifted, 1, 4);
        Assert.Equal(copy, shifted);
    }
}
