using System.Globalization;
using System.Text.Json.Nodes;
using BiasBench.Abstractions;
using BiasBench.Hosted;
using Microsoft.Extensions.Logging;
using SkiaSharp;

namespace BiasBench.Plugins.HostedGenerators;

/// <summary>
/// A generator behind a hosted API. Each request of a batch is sent concurrently (the session limits how many are
/// in flight per endpoint); a refusal is reported as such, every other failure as an error, per item. The provenance
/// of each image records the model asked and the model served, the revised prompt, whether the seed reached the API,
/// and the token usage.
/// </summary>
public sealed class HostedImageGenerator : IImageGenerator
{
    private readonly HostedSession _session;
    private readonly Func<GenerationRequest, CancellationToken, Task<HostedImage>> _generate;
    private readonly IReadOnlyDictionary<string, string> _settings;
    private readonly string _seedNote;
    private readonly ILogger? _logger;

    public HostedImageGenerator(string name, string version, string description, RemoteApiOptions options, HostedSession session,
        Func<GenerationRequest, CancellationToken, Task<HostedImage>> generate, IReadOnlyDictionary<string, string> settings, string seedNote, ILogger? logger)
    {
        _session = session; _generate = generate; _settings = settings; _seedNote = seedNote; _logger = logger;
        Info = new GeneratorInfo(name, version, description) { WeightsChecksum = $"{options.Model}@{session.EndpointLabel}" };
        PreferredBatchSize = Math.Max(1, options.MaxConcurrency * 2);
    }

    public GeneratorInfo Info { get; }
    public int PreferredBatchSize { get; }
    public RequestCounters Counters => _session.Counters;

    public async Task<IReadOnlyList<ItemResult<GeneratedImage>>> GenerateAsync(IReadOnlyList<GenerationRequest> batch, CancellationToken cancellationToken) =>
        await Task.WhenAll(batch.Select(r => GenerateOneAsync(r, cancellationToken)));

    private async Task<ItemResult<GeneratedImage>> GenerateOneAsync(GenerationRequest request, CancellationToken ct)
    {
        HostedImage image;
        try { image = await _generate(request, ct); }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { throw; }
        catch (Exception e) { return ItemResult<GeneratedImage>.Failure(_session.Describe(e)); }
        if (image.Refusal is { } refusal) return ItemResult<GeneratedImage>.Refusal($"refused: {refusal}");

        byte[] png;
        try { png = ToPng(image.Bytes!, image.MediaType); }
        catch (Exception e) when (e is InvalidDataException or ArgumentException)
        {
            return ItemResult<GeneratedImage>.Failure($"the API returned {image.Bytes!.Length} bytes that are not a readable image ({image.MediaType ?? "unknown type"}): {e.Message}");
        }
        var settings = new Dictionary<string, string>(_settings)
        {
            ["endpoint"] = _session.EndpointLabel,
            ["served_model"] = image.ServedModel ?? "",
            ["seed"] = _seedNote,
            ["returned_media_type"] = image.MediaType ?? "unknown",
        };
        if (image.RevisedPrompt is { } revised) settings["revised_prompt"] = revised;
        if (image.Text is { } text) settings["model_text"] = text;
        foreach (var (k, v) in image.Usage) settings[$"usage_{k}"] = v;
        var provenance = new ImageProvenance(Info.Name, Info.Version, request.Prompt, request.Seed, settings, DateTimeOffset.UtcNow);
        return ItemResult<GeneratedImage>.Success(new GeneratedImage(request, png, provenance));
    }

    /// <summary>PNG as returned; any other format is decoded and re-encoded as PNG (lossless from the decoded pixels).</summary>
    internal static byte[] ToPng(byte[] bytes, string? mediaType)
    {
        if (ImageFormats.Sniff(bytes) == "image/png") return bytes;
        using var bitmap = SKBitmap.Decode(bytes) ?? throw new InvalidDataException("cannot decode the image");
        using var skImage = SKImage.FromBitmap(bitmap);
        using var data = skImage.Encode(SKEncodedImageFormat.Png, 100) ?? throw new InvalidDataException("cannot encode PNG");
        return data.ToArray();
    }

    public void Dispose()
    {
        _logger?.LogInformation("{Generator}: {Sent} request(s) sent, {Cached} answered from the cache, {Attempts} attempt(s) on the wire",
            Info.Name, _session.Counters.Sent, _session.Counters.FromCache, _session.Counters.Attempts);
        _session.Dispose();
    }

    internal static JsonNode? ParameterValue(string value) =>
        bool.TryParse(value, out var b) ? JsonValue.Create(b)
        : long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l) ? JsonValue.Create(l)
        : double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? JsonValue.Create(d)
        : JsonValue.Create(value);
}
