using BiasBench.Abstractions;

namespace BiasBench.PluginTemplate.Tests;

public class BitsPerPixelRewardTests
{
    [Fact]
    public async Task The_score_is_eight_times_the_file_size_over_the_pixel_count()
    {
        var directory = Directory.CreateTempSubdirectory("bpp-test-").FullName;
        var png = Path.Combine(directory, "a.png");
        var jpeg = Path.Combine(directory, "b.jpg");
        await File.WriteAllBytesAsync(png, TestImages.Png(4, 2, 100), TestContext.Current.CancellationToken);
        await File.WriteAllBytesAsync(jpeg, TestImages.Jpeg(640, 480, 38_400), TestContext.Current.CancellationToken);
        using var reward = new BitsPerPixelReward(new BitsPerPixelOptions());

        var scores = await reward.ScoreAsync([new RewardRequest(ImageRef.FromFile("a", png), "a prompt"), new RewardRequest(ImageRef.FromFile("b", jpeg), "")],
            TestContext.Current.CancellationToken);

        Assert.Equal(8.0 * 100 / (4 * 2), scores[0].Value, 12);
        Assert.Equal(8.0 * 38_400 / (640 * 480), scores[1].Value, 12); // 1 bit per pixel
        Directory.Delete(directory, recursive: true);
    }

    [Fact]
    public void Bad_files_are_per_item_errors_that_name_the_image()
    {
        var options = new BitsPerPixelOptions { MinimumBytes = 64 };
        var text = System.Text.Encoding.UTF8.GetBytes(new string('x', 100));
        var notAnImage = BitsPerPixelReward.Score(ImageRef.FromBytes("notes", text), text, options);
        Assert.False(notAnImage.IsSuccess);
        Assert.Equal("notes: not a PNG or JPEG file", notAnImage.Error);

        var tiny = BitsPerPixelReward.Score(ImageRef.FromBytes("tiny", new byte[10]), new byte[10], options);
        Assert.Equal("tiny: 10 bytes is below minimum_bytes=64", tiny.Error);
    }
}
