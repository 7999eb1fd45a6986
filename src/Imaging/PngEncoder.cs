using BiasBench.Abstractions;
using SkiaSharp;

namespace BiasBench.Imaging;

/// <summary>Lossless PNG encoding of 8-bit RGB pixels (SkiaSharp), optionally with text chunks (<see cref="PngTextChunks"/>).</summary>
public static class PngEncoder
{
    public static byte[] Encode(RgbImage image, IEnumerable<KeyValuePair<string, string>>? text = null)
    {
        var rgba = new byte[checked(image.Width * image.Height * 4)];
        var rgb = image.Pixels;
        for (int i = 0, j = 0; i < rgb.Length; i += 3, j += 4)
        {
            rgba[j] = rgb[i];
            rgba[j + 1] = rgb[i + 1];
            rgba[j + 2] = rgb[i + 2];
            rgba[j + 3] = 255;
        }
        var info = new SKImageInfo(image.Width, image.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        using var pixmap = new SKPixmap();
        byte[] png;
        unsafe
        {
            fixed (byte* p = rgba)
            {
                pixmap.Reset(info, (IntPtr)p, info.RowBytes);
                using var data = pixmap.Encode(SKEncodedImageFormat.Png, 100)
                    ?? throw new InvalidOperationException($"SkiaSharp could not encode a {image.Width}x{image.Height} PNG.");
                png = data.ToArray();
            }
        }
        return text is null ? png : PngTextChunks.Add(png, text);
    }
}
