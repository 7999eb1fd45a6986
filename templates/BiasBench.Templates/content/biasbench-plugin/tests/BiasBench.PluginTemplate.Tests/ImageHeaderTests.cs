namespace BiasBench.PluginTemplate.Tests;

public class ImageHeaderTests
{
    [Theory]
    [InlineData(4, 2)]
    [InlineData(1024, 768)]
    public void Png_size_comes_from_the_IHDR_chunk(int width, int height)
    {
        Assert.True(ImageHeader.TryReadSize(TestImages.Png(width, height, 100), out var w, out var h, out var error), error);
        Assert.Equal((width, height), (w, h));
    }

    [Fact]
    public void Jpeg_size_comes_from_the_frame_header_after_skipping_other_segments()
    {
        Assert.True(ImageHeader.TryReadSize(TestImages.Jpeg(640, 480, 2000), out var w, out var h, out var error), error);
        Assert.Equal((640, 480), (w, h));
    }

    [Fact]
    public void Unknown_and_truncated_files_are_refused_with_a_reason()
    {
        Assert.False(ImageHeader.TryReadSize("GIF89a......"u8, out _, out _, out var error));
        Assert.Equal("not a PNG or JPEG file", error);
        Assert.False(ImageHeader.TryReadSize(TestImages.Png(4, 4, 100).AsSpan(0, 20), out _, out _, out error));
        Assert.Equal("truncated PNG header", error);
        Assert.False(ImageHeader.TryReadSize(TestImages.Jpeg(4, 4, 100).AsSpan(0, 12), out _, out _, out error));
        Assert.Contains("no JPEG frame header", error);
    }
}
