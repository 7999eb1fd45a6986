using BiasBench.Abstractions;

namespace BiasBench.PluginTemplate.Tests;

public class DetailJudgeTests
{
    [Fact]
    public void The_probability_is_logistic_in_bits_per_pixel_around_the_threshold()
    {
        var options = new DetailJudgeOptions { ThresholdBitsPerPixel = 2.0, Scale = 0.5 };
        using var judge = new DetailJudge(options);

        // 100x100 pixels: 2,500 bytes = 2 bits per pixel (at the threshold), 5,000 bytes = 4 (four scales above it).
        var atThreshold = judge.Judge(ImageRef.FromBytes("a", new byte[1]), TestImages.Png(100, 100, 2_500)).Value!;
        Assert.Equal(0.5, atThreshold.Probabilities[DetailJudge.Detailed], 12);
        Assert.Equal(DetailJudge.Detailed, atThreshold.Label);

        var above = judge.Judge(ImageRef.FromBytes("b", new byte[1]), TestImages.Jpeg(100, 100, 5_000)).Value!;
        Assert.Equal(1 / (1 + Math.Exp(-4.0)), above.Probabilities[DetailJudge.Detailed], 12);
        Assert.Equal(1.0, above.Probabilities[DetailJudge.Detailed] + above.Probabilities[DetailJudge.Plain], 12);

        var below = judge.Judge(ImageRef.FromBytes("c", new byte[1]), TestImages.Png(100, 100, 1_250)).Value!;
        Assert.Equal(DetailJudge.Plain, below.Label);
        Assert.Equal(1 / (1 + Math.Exp(2.0)), below.Probabilities[DetailJudge.Detailed], 12);
    }

    [Fact]
    public async Task Files_that_are_not_images_are_per_item_errors()
    {
        using var judge = new DetailJudge(new DetailJudgeOptions());
        var results = await judge.JudgeAsync([ImageRef.FromBytes("text", "not an image"u8.ToArray())], TestContext.Current.CancellationToken);
        Assert.Equal("text: not a PNG or JPEG file", Assert.Single(results).Error);
    }
}
