namespace BiasBench.Abstractions;

/// <summary>
/// An image as it travels between stages: a stable id plus where its bytes are (a file or memory).
/// Plugins decode it with whatever they use; the host owns a shared decoder.
/// </summary>
public sealed class ImageRef
{
    private readonly ReadOnlyMemory<byte>? _bytes;

    private ImageRef(string id, string? path, ReadOnlyMemory<byte>? bytes)
    {
        if (string.IsNullOrWhiteSpace(id)) throw new ArgumentException("An image needs a non-empty id.", nameof(id));
        Id = id; Path = path; _bytes = bytes;
    }

    public string Id { get; }

    /// <summary>File the image was read from, when it came from disk.</summary>
    public string? Path { get; }

    /// <summary>Free-form metadata carried with the image (prompt, seed, condition, source row...).</summary>
    public IReadOnlyDictionary<string, string> Tags { get; init; } = new Dictionary<string, string>();

    public static ImageRef FromFile(string id, string path) => new(id, path, null);

    /// <summary>A copy carrying <paramref name="tags"/> (e.g. prompt, seed, condition).</summary>
    public ImageRef WithTags(IReadOnlyDictionary<string, string> tags) => new(Id, Path, _bytes) { Tags = tags };
    public static ImageRef FromBytes(string id, ReadOnlyMemory<byte> encoded) => new(id, null, encoded);

    /// <summary>The encoded bytes (JPEG, PNG, WebP...).</summary>
    public async ValueTask<ReadOnlyMemory<byte>> ReadBytesAsync(CancellationToken ct = default)
    {
        if (_bytes is { } b) return b;
        return await File.ReadAllBytesAsync(Path!, ct).ConfigureAwait(false);
    }

    public override string ToString() => Path is null ? Id : $"{Id} ({Path})";
}

/// <summary>Decoded 8-bit RGB pixels in row-major HWC order.</summary>
public sealed class RgbImage
{
    public RgbImage(int width, int height, byte[] pixels)
    {
        if (width <= 0 || height <= 0) throw new ArgumentException($"Image size must be positive, got {width}x{height}.");
        if (pixels.Length != checked(width * height * 3))
            throw new ArgumentException($"Expected {width * height * 3} bytes for {width}x{height} RGB, got {pixels.Length}.");
        Width = width; Height = height; Pixels = pixels;
    }

    public int Width { get; }
    public int Height { get; }
    public byte[] Pixels { get; }
}

/// <summary>Where an image came from and how it was made: written next to every generated image.</summary>
public sealed record ImageProvenance(
    string Generator,
    string GeneratorVersion,
    string Prompt,
    long Seed,
    IReadOnlyDictionary<string, string> Settings,
    DateTimeOffset CreatedUtc);
