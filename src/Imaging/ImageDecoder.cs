using System.Buffers;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using BiasBench.Abstractions;
using SkiaSharp;

namespace BiasBench.Imaging;

/// <summary>Safety limits and options for <see cref="ImageDecoder"/>.</summary>
public sealed record ImageDecodeLimits
{
    /// <summary>PIL's decompression-bomb error threshold: 2 x Image.MAX_IMAGE_PIXELS (2 x 89,478,485).</summary>
    public const long PilBombErrorPixels = 178_956_970;

    public static ImageDecodeLimits Default { get; } = new();

    /// <summary>Largest width x height accepted, checked against the header before any pixel buffer is allocated.</summary>
    public long MaxPixels { get; init; } = PilBombErrorPixels;

    /// <summary>
    /// Rotate/flip according to the EXIF orientation tag (as <c>ImageOps.exif_transpose</c> does). Note that plain
    /// <c>PIL.Image.open(...).convert("RGB")</c> ignores the tag; set false to reproduce that.
    /// </summary>
    public bool ApplyExifOrientation { get; init; } = true;

    /// <summary>
    /// Off (null) by default. When set, a JPEG is decoded at the smallest DCT scale (1/8, 2/8, ... of its size; libjpeg
    /// scales while decoding, like PIL's <c>Image.draft</c>) whose short side is still at least this many pixels, instead of
    /// at full size: much less decoding and resizing work for a model that takes e.g. 224 px, but the pixels differ from a
    /// full decode followed by the resize (the deviation is measured in the README). Other formats decode at full size.
    /// </summary>
    public int? JpegDctScalingMinShortSide { get; init; }
}

/// <summary>Raised when bytes cannot be decoded into an image; the message names the source and the reason.</summary>
public sealed class ImageDecodeException : Exception
{
    public ImageDecodeException(string sourceName, string reason, Exception? inner = null)
        : base($"Cannot decode image '{sourceName}': {reason}", inner)
    {
        SourceName = sourceName;
        Reason = reason;
    }

    public string SourceName { get; }
    public string Reason { get; }
}

/// <summary>
/// Decodes JPEG/PNG/WebP/GIF/BMP bytes into 8-bit RGB with SkiaSharp, following PIL's <c>convert("RGB")</c>:
/// grayscale is replicated, alpha is dropped (colour channels kept un-premultiplied, not blended), 16-bit samples are
/// reduced to 8 bits, palettes are expanded; no colour management (PIL ignores ICC profiles too).
/// </summary>
public static class ImageDecoder
{
    public static RgbImage Decode(ReadOnlySpan<byte> encoded, string sourceName, ImageDecodeLimits? limits = null)
    {
        var (width, height, rgb) = DecodeCore(encoded, sourceName, limits, pooled: false);
        return new RgbImage(width, height, rgb);
    }

    /// <summary>
    /// <see cref="Decode"/> into a reused pixel array that goes back to its pool when the result is disposed (no
    /// large-object-heap allocation per image once the pool is warm).
    /// </summary>
    public static PooledRgbImage DecodePooled(ReadOnlySpan<byte> encoded, string sourceName, ImageDecodeLimits? limits = null)
    {
        var (width, height, rgb) = DecodeCore(encoded, sourceName, limits, pooled: true);
        return new PooledRgbImage(width, height, rgb);
    }

    private static (int Width, int Height, byte[] Rgb) DecodeCore(ReadOnlySpan<byte> encoded, string sourceName, ImageDecodeLimits? limits, bool pooled)
    {
        limits ??= ImageDecodeLimits.Default;
        if (string.IsNullOrEmpty(sourceName)) sourceName = "<unnamed>";
        if (encoded.IsEmpty) throw new ImageDecodeException(sourceName, "the data is empty (0 bytes).");

        using var data = SKData.CreateCopy(encoded);
        // The codec takes ownership of the stream and disposes it with itself.
        var stream = new SKMemoryStream(data);
        var codec = SKCodec.Create(stream, out var createResult);
        if (codec is null)
        {
            stream.Dispose();
            throw createResult switch
            {
                SKCodecResult.IncompleteInput => new ImageDecodeException(sourceName, $"the data is truncated ({encoded.Length} bytes; the header is incomplete)."),
                _ => new ImageDecodeException(sourceName, $"not a recognised image format (JPEG, PNG, WebP, GIF, BMP) or a corrupt header ({createResult}; {encoded.Length} bytes, starts with {Hex(encoded)})."),
            };
        }

        using (codec)
        {
            var info = codec.Info;
            long pixels = (long)info.Width * info.Height;
            if (info.Width <= 0 || info.Height <= 0)
                throw new ImageDecodeException(sourceName, $"the header gives an invalid size {info.Width}x{info.Height}.");
            if (pixels > limits.MaxPixels)
                throw new ImageDecodeException(sourceName, $"possible decompression bomb: the header says {info.Width}x{info.Height} = {pixels:N0} pixels, above the limit of {limits.MaxPixels:N0}.");

            if (pixels * 4 > Array.MaxLength)
                throw new ImageDecodeException(sourceName, $"{info.Width}x{info.Height} is too large to decode into one buffer (MaxPixels was raised beyond what one array can hold).");

            // Unpremultiplied RGBA without a colour space: raw decoded samples, alpha kept separate (then dropped).
            var size = DecodeSize(codec, limits);
            var dstInfo = new SKImageInfo(size.Width, size.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
            // A pooled buffer: a fresh multi-megabyte array per image costs as much as the JPEG decode itself (page faults).
            int rgbaLength = checked(size.Width * size.Height * 4);
            var rgba = ArrayPool<byte>.Shared.Rent(rgbaLength);
            try
            {
                SKCodecResult result;
                unsafe
                {
                    fixed (byte* p = rgba)
                        result = codec.GetPixels(dstInfo, (IntPtr)p, dstInfo.RowBytes, SKCodecOptions.Default);
                }
                switch (result)
                {
                    case SKCodecResult.Success:
                        break;
                    case SKCodecResult.IncompleteInput:
                        throw new ImageDecodeException(sourceName, $"the data is truncated ({codec.EncodedFormat}, {info.Width}x{info.Height}, only {encoded.Length} bytes).");
                    case SKCodecResult.ErrorInInput:
                        throw new ImageDecodeException(sourceName, $"the {codec.EncodedFormat} data is corrupt ({result}).");
                    default:
                        throw new ImageDecodeException(sourceName, $"the {codec.EncodedFormat} decoder failed: {result}.");
                }

                var origin = limits.ApplyExifOrientation ? codec.EncodedOrigin : SKEncodedOrigin.TopLeft;
                return origin == SKEncodedOrigin.TopLeft
                    ? RgbaToRgb(rgba, size.Width, size.Height, pooled)
                    : RgbaToOrientedRgb(rgba, size.Width, size.Height, origin, pooled);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(rgba);
            }
        }
    }

    /// <summary>Reads and decodes an <see cref="ImageRef"/> (file or in-memory bytes); errors name the image id/path.</summary>
    public static async ValueTask<RgbImage> DecodeAsync(ImageRef image, ImageDecodeLimits? limits = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        ReadOnlyMemory<byte> bytes;
        try { bytes = await image.ReadBytesAsync(ct).ConfigureAwait(false); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ImageDecodeException(image.ToString(), $"cannot read the file: {e.Message}", e);
        }
        return Decode(bytes.Span, image.ToString(), limits);
    }

    public static RgbImage DecodeFile(string path, ImageDecodeLimits? limits = null)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ImageDecodeException(path, $"cannot read the file: {e.Message}", e);
        }
        return Decode(bytes, path, limits);
    }

    /// <summary>The size to decode at: the full size, or a smaller DCT scale of a JPEG (see ImageDecodeLimits.JpegDctScalingMinShortSide).</summary>
    private static SKSizeI DecodeSize(SKCodec codec, ImageDecodeLimits limits)
    {
        var full = new SKSizeI(codec.Info.Width, codec.Info.Height);
        if (limits.JpegDctScalingMinShortSide is not { } minShortSide || codec.EncodedFormat != SKEncodedImageFormat.Jpeg) return full;
        for (var eighths = 1; eighths < 8; eighths++)
        {
            var scaled = codec.GetScaledDimensions(eighths / 8f);
            if (Math.Min(scaled.Width, scaled.Height) >= minShortSide) return scaled;
        }
        return full;
    }

    private static byte[] NewRgb(int length, bool pooled) => pooled ? ExactSizeBuffers.Rent(length) : GC.AllocateUninitializedArray<byte>(length);

    /// <summary>Drops alpha (the common, unrotated case): 4 pixels per 16-byte shuffle.</summary>
    private static (int, int, byte[]) RgbaToRgb(byte[] rgba, int w, int h, bool pooled)
    {
        int pixels = w * h;
        var rgb = NewRgb(checked(pixels * 3), pooled);
        int i = 0;
        if (Vector128.IsHardwareAccelerated)
        {
            var keepRgb = Vector128.Create((byte)0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, 0, 0, 0, 0);
            ref byte src = ref MemoryMarshal.GetArrayDataReference(rgba);
            ref byte dst = ref MemoryMarshal.GetArrayDataReference(rgb);
            // Each store writes 16 bytes of which the last 4 are overwritten by the next one; stop while 16 fit.
            for (; (i + 4) * 3 + 4 <= rgb.Length && i + 4 <= pixels; i += 4)
                Vector128.Shuffle(Vector128.LoadUnsafe(ref src, (nuint)(i * 4)), keepRgb).StoreUnsafe(ref dst, (nuint)(i * 3));
        }
        for (; i < pixels; i++)
        {
            rgb[i * 3] = rgba[i * 4];
            rgb[i * 3 + 1] = rgba[i * 4 + 1];
            rgb[i * 3 + 2] = rgba[i * 4 + 2];
        }
        return (w, h, rgb);
    }

    /// <summary>Drops alpha and applies the EXIF origin (same mapping as PIL's ImageOps.exif_transpose).</summary>
    private static (int, int, byte[]) RgbaToOrientedRgb(byte[] rgba, int w, int h, SKEncodedOrigin origin, bool pooled)
    {
        bool swap = origin is SKEncodedOrigin.LeftTop or SKEncodedOrigin.RightTop or SKEncodedOrigin.RightBottom or SKEncodedOrigin.LeftBottom;
        int ow = swap ? h : w, oh = swap ? w : h;
        var rgb = NewRgb(checked(ow * oh * 3), pooled);
        Parallel.For(0, oh, oy =>
        {
            var dst = rgb.AsSpan(oy * ow * 3, ow * 3);
            for (int ox = 0; ox < ow; ox++)
            {
                int ix, iy;
                switch (origin)
                {
                    case SKEncodedOrigin.TopRight: ix = w - 1 - ox; iy = oy; break;          // mirror horizontally
                    case SKEncodedOrigin.BottomRight: ix = w - 1 - ox; iy = h - 1 - oy; break; // rotate 180
                    case SKEncodedOrigin.BottomLeft: ix = ox; iy = h - 1 - oy; break;        // mirror vertically
                    case SKEncodedOrigin.LeftTop: ix = oy; iy = ox; break;                   // transpose
                    case SKEncodedOrigin.RightTop: ix = oy; iy = h - 1 - ox; break;          // rotate 90 clockwise
                    case SKEncodedOrigin.RightBottom: ix = w - 1 - oy; iy = h - 1 - ox; break; // transverse
                    case SKEncodedOrigin.LeftBottom: ix = w - 1 - oy; iy = ox; break;        // rotate 90 counter-clockwise
                    default: ix = ox; iy = oy; break;
                }
                int s = (iy * w + ix) * 4;
                dst[ox * 3] = rgba[s];
                dst[ox * 3 + 1] = rgba[s + 1];
                dst[ox * 3 + 2] = rgba[s + 2];
            }
        });
        return (ow, oh, rgb);
    }

    private static string Hex(ReadOnlySpan<byte> b) => Convert.ToHexString(b[..Math.Min(8, b.Length)]);
}
