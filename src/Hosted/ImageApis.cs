using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace BiasBench.Hosted;

/// <summary>One generated image (or a refusal) from a hosted image API.</summary>
public sealed record HostedImage(byte[]? Bytes, string? MediaType)
{
    /// <summary>Set when the service declined (content policy, safety filter, no image returned).</summary>
    public string? Refusal { get; init; }
    public string? RevisedPrompt { get; init; }
    public string? ServedModel { get; init; }
    /// <summary>Text the model returned alongside (Gemini).</summary>
    public string? Text { get; init; }
    /// <summary>Token counts as the API reports them (input_tokens, output_tokens, ...).</summary>
    public IReadOnlyDictionary<string, string> Usage { get; init; } = new Dictionary<string, string>();
}

/// <summary>
/// The OpenAI Images API (<c>POST {base}/images/generations</c>): gpt-image-1 (base64), dall-e-3 (base64 or URL, revised
/// prompt), and OpenAI-compatible servers, which may take a seed. Hand-written so that extra fields (the seed) can be
/// sent and the revised prompt read as it comes.
/// </summary>
public sealed class OpenAiImagesApi(HostedSession session)
{
    public async Task<HostedImage> GenerateAsync(string model, string prompt, IReadOnlyDictionary<string, JsonNode?> parameters, CancellationToken ct)
    {
        var body = new JsonObject { ["model"] = model, ["prompt"] = prompt, ["n"] = 1 };
        foreach (var (k, v) in parameters) body[k] = v?.DeepClone();
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(session.BaseUri, "images/generations"))
        {
            Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"),
        };
        if (session.Key is { } key) request.Headers.Authorization = new("Bearer", key.Value);
        using var response = await session.Http.SendAsync(request, ct);
        var text = await response.Content.ReadAsStringAsync(ct);
        if (!response.IsSuccessStatusCode)
        {
            if (IsRefusal(response.StatusCode, text))
                return new HostedImage(null, null) { Refusal = session.Redact(VlmChat.ErrorMessage(text) ?? "content policy"), ServedModel = model };
            throw new HostedApiException(session.Redact($"HTTP {(int)response.StatusCode}: {VlmChat.ErrorMessage(text) ?? VlmChat.Truncate(text)}"), (int)response.StatusCode);
        }
        var root = Parse(text, session);
        var item = root["data"] is JsonArray { Count: > 0 } data ? data[0] as JsonObject : null;
        if (item is null) throw new HostedApiException($"malformed response from {session.EndpointLabel}: no data[0]", null);
        byte[] bytes;
        string? mediaType = null;
        if (item["b64_json"]?.GetValue<string>() is { Length: > 0 } b64) bytes = Base64(b64, session);
        else if (item["url"]?.GetValue<string>() is { Length: > 0 } url) (bytes, mediaType) = await DownloadAsync(url, ct);
        else throw new HostedApiException($"malformed response from {session.EndpointLabel}: data[0] has neither b64_json nor url", null);
        var usage = new Dictionary<string, string>();
        if (root["usage"] is JsonObject u)
            foreach (var (k, v) in u) if (v is JsonValue val && val.TryGetValue<long>(out var n)) usage[k] = n.ToString(CultureInfo.InvariantCulture);
        return new HostedImage(bytes, mediaType ?? ImageFormats.Sniff(bytes))
        {
            RevisedPrompt = item["revised_prompt"]?.GetValue<string>(),
            ServedModel = root["model"]?.GetValue<string>() ?? model,
            Usage = usage,
        };
    }

    /// <summary>OpenAI's image refusals: 400 with code content_policy_violation (DALL-E) or moderation_blocked (gpt-image-1).</summary>
    public static bool IsRefusal(HttpStatusCode status, string body) => status == HttpStatusCode.BadRequest && VlmChat.IsContentPolicy(body);

    private async Task<(byte[], string?)> DownloadAsync(string url, CancellationToken ct)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp))
            throw new HostedApiException($"malformed response from {session.EndpointLabel}: image url is not http(s)", null);
        // The image URL is pre-signed: it gets no Authorization header (the key must not go to another host).
        using var response = await session.Http.GetAsync(uri, ct);
        if (!response.IsSuccessStatusCode) throw new HostedApiException($"downloading the image failed: HTTP {(int)response.StatusCode}", (int)response.StatusCode);
        return (await response.Content.ReadAsByteArrayAsync(ct), response.Content.Headers.ContentType?.MediaType);
    }

    internal static JsonObject Parse(string text, HostedSession session)
    {
        try { return JsonNode.Parse(text) as JsonObject ?? throw new JsonException("not a JSON object"); }
        catch (JsonException e) { throw new HostedApiException(session.Redact($"malformed response from {session.EndpointLabel}: {e.Message}"), null); }
    }

    internal static byte[] Base64(string b64, HostedSession session)
    {
        try { return Convert.FromBase64String(b64); }
        catch (FormatException) { throw new HostedApiException($"malformed response from {session.EndpointLabel}: image data is not base64", null); }
    }
}

/// <summary>
/// Gemini's <c>POST {base}/models/{model}:generateContent</c> with image output (e.g. gemini-2.5-flash-image): the key
/// goes in the x-goog-api-key header (never the URL); the image comes back as inline base64 data.
/// </summary>
public sealed class GeminiApi(HostedSession session)
{
    /// <summary>Finish reasons that mean the service declined.</summary>
    private static readonly HashSet<string> BlockedReasons = new(StringComparer.OrdinalIgnoreCase)
    {
        "SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "RECITATION", "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION", "IMAGE_OTHER",
    };

    public async Task<HostedImage> GenerateAsync(string model, string prompt, long? seed, JsonObject? generationConfig, CancellationToken ct)
    {
        var config = generationConfig?.DeepClone() as JsonObject ?? [];
        config["responseModalities"] ??= new JsonArray("TEXT", "IMAGE");
        if (seed is { } s) config["seed"] = s;
        var body = new JsonObject
        {
            ["contents"] = new JsonArray(new JsonObject { ["role"] = "user", ["parts"] = new JsonArray(new JsonObject { ["text"] = prompt }) }),
            ["generationConfig"] = config,
        };
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(session.BaseUri, $"models/{Uri.EscapeDataString(model)}:generateContent"))
        {
            Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"),
        };
        if (session.Key is { } key) request.Headers.Add("x-goog-api-key", key.Value);
        using var response = await session.Http.SendAsync(request, ct);
        var text = await response.Content.ReadAsStringAsync(ct);
        if (!response.IsSuccessStatusCode)
            throw new HostedApiException(session.Redact($"HTTP {(int)response.StatusCode}: {VlmChat.ErrorMessage(text) ?? VlmChat.Truncate(text)}"), (int)response.StatusCode);

        var root = OpenAiImagesApi.Parse(text, session);
        var served = root["modelVersion"]?.GetValue<string>() ?? model;
        var usage = new Dictionary<string, string>();
        if (root["usageMetadata"] is JsonObject u)
            foreach (var (k, v) in u) if (v is JsonValue val && val.TryGetValue<long>(out var n)) usage[k] = n.ToString(CultureInfo.InvariantCulture);
        if (root["promptFeedback"]?["blockReason"]?.GetValue<string>() is { } block)
            return new HostedImage(null, null) { Refusal = $"prompt blocked ({block})", ServedModel = served, Usage = usage };
        var candidate = root["candidates"] is JsonArray { Count: > 0 } cands ? cands[0] as JsonObject : null;
        if (candidate is null) throw new HostedApiException($"malformed response from {session.EndpointLabel}: no candidates", null);
        var finish = candidate["finishReason"]?.GetValue<string>();
        var parts = candidate["content"]?["parts"] as JsonArray ?? [];
        var said = string.Join(" ", parts.Select(p => p?["text"]?.GetValue<string>()).Where(t => !string.IsNullOrWhiteSpace(t)));
        var inline = parts.Select(p => p?["inlineData"] ?? p?["inline_data"]).FirstOrDefault(d => d?["data"] is not null);
        if (finish is not null && BlockedReasons.Contains(finish))
            return new HostedImage(null, null) { Refusal = $"blocked (finishReason {finish})", ServedModel = served, Usage = usage, Text = Redact(said) };
        if (inline is null)
            return new HostedImage(null, null)
            {
                Refusal = $"no image returned (finishReason {finish ?? "none"}){(said.Length > 0 ? $"; the model said: {VlmChat.Truncate(said)}" : "")}",
                ServedModel = served, Usage = usage, Text = Redact(said),
            };
        var bytes = OpenAiImagesApi.Base64(inline["data"]!.GetValue<string>(), session);
        var mime = (inline["mimeType"] ?? inline["mime_type"])?.GetValue<string>();
        return new HostedImage(bytes, mime ?? ImageFormats.Sniff(bytes)) { ServedModel = served, Usage = usage, Text = said.Length > 0 ? Redact(said) : null };
    }

    private string Redact(string s) => session.Redact(s);
}

public static class ImageFormats
{
    /// <summary>The media type from the file's magic bytes (PNG, JPEG, WebP, GIF), or null.</summary>
    public static string? Sniff(ReadOnlySpan<byte> b) =>
        b.Length >= 8 && b[0] == 0x89 && b[1] == (byte)'P' && b[2] == (byte)'N' && b[3] == (byte)'G' ? "image/png"
        : b.Length >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF ? "image/jpeg"
        : b.Length >= 12 && b[0] == (byte)'R' && b[1] == (byte)'I' && b[2] == (byte)'F' && b[3] == (byte)'F' && b[8] == (byte)'W' && b[9] == (byte)'E' && b[10] == (byte)'B' && b[11] == (byte)'P' ? "image/webp"
        : b.Length >= 4 && b[0] == (byte)'G' && b[1] == (byte)'I' && b[2] == (byte)'F' ? "image/gif"
        : null;
}
