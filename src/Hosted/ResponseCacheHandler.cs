using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace BiasBench.Hosted;

/// <summary>
/// The outermost handler: looks a request up by its content (method, URL without credentials, body bytes: model,
/// prompt, images and parameters are all in the body) before anything is sent, so a resumed run never pays twice.
/// Successful responses, and failures the client says are answers (refusals), are cached in
/// <c>&lt;cache&gt;/http/</c>; every response the run used is also written to <c>&lt;run&gt;/raw/&lt;component&gt;/</c> with
/// long base64 payloads elided (the images are in images/). Request headers (and so the key) are never stored.
/// </summary>
internal sealed class ResponseCacheHandler(string cacheDirectory, string? rawDirectory, ApiKey? key, RequestCounters counters,
    Func<HttpStatusCode, string, bool> isDefinitiveFailure) : DelegatingHandler
{
    private const int ElideAbove = 2048;

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
    {
        var body = request.Content is null ? [] : await request.Content.ReadAsByteArrayAsync(ct);
        if (request.Content is not null)
        {
            // Buffered once, so every retry sends the same bytes.
            var copy = new ByteArrayContent(body);
            foreach (var h in request.Content.Headers) copy.Headers.TryAddWithoutValidation(h.Key, h.Value);
            request.Content = copy;
        }
        var url = Redact(request.RequestUri!.GetComponents(UriComponents.SchemeAndServer | UriComponents.PathAndQuery, UriFormat.UriEscaped));
        var cacheKey = Key(request.Method.Method, url, body);
        var file = Path.Combine(cacheDirectory, cacheKey[..2], cacheKey + ".json");
        if (TryRead(file) is { } cached)
        {
            counters.AddFromCache();
            WriteRaw(cacheKey, cached, body, fromCache: true);
            return ToResponse(cached, request);
        }

        using var response = await base.SendAsync(request, ct);
        var bytes = await response.Content.ReadAsByteArrayAsync(ct);
        var contentType = response.Content.Headers.ContentType?.ToString();
        var textual = IsText(contentType, bytes);
        var record = new JsonObject
        {
            ["method"] = request.Method.Method,
            ["url"] = url,
            ["status"] = (int)response.StatusCode,
            ["content_type"] = contentType,
            ["headers"] = new JsonObject(response.Headers.Where(h => !h.Key.Equals("Set-Cookie", StringComparison.OrdinalIgnoreCase))
                .Select(h => KeyValuePair.Create(h.Key, (JsonNode?)Redact(string.Join(", ", h.Value))))),
            ["received_utc"] = DateTime.UtcNow.ToString("O"),
        };
        if (textual) record["body"] = Redact(Encoding.UTF8.GetString(bytes));
        else record["body_base64"] = Convert.ToBase64String(bytes);

        var status = response.StatusCode;
        // A 2xx whose JSON does not parse is a fault, not an answer: it is not cached, so the next run asks again.
        var wellFormed = !textual || !(contentType ?? "").Contains("json", StringComparison.OrdinalIgnoreCase) || TryParse(record["body"]!.GetValue<string>()) is not null;
        if (wellFormed && (response.IsSuccessStatusCode || (textual && isDefinitiveFailure(status, record["body"]!.GetValue<string>()))))
            Write(file, record);
        WriteRaw(cacheKey, record, body, fromCache: false);
        return ToResponse(record, request);
    }

    private string Redact(string text) => ApiKey.Redact(key, text);

    internal static string Key(string method, string url, byte[] body)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var part in new[] { "biasbench-http-v1", method, url })
        {
            var b = Encoding.UTF8.GetBytes(part);
            sha.AppendData(BitConverter.GetBytes(b.Length));
            sha.AppendData(b);
        }
        sha.AppendData(BitConverter.GetBytes(body.Length));
        sha.AppendData(body);
        return Convert.ToHexString(sha.GetHashAndReset()).ToLowerInvariant();
    }

    private static bool IsText(string? contentType, byte[] bytes)
    {
        if (contentType is null) return bytes.Length == 0;
        var ct = contentType.ToLowerInvariant();
        return ct.Contains("json") || ct.StartsWith("text/") || ct.Contains("xml");
    }

    private static JsonObject? TryRead(string file)
    {
        if (!File.Exists(file)) return null;
        try { return JsonNode.Parse(File.ReadAllText(file)) as JsonObject; }
        catch (Exception e) when (e is JsonException or IOException) { return null; } // a torn write: ask again
    }

    private static void Write(string file, JsonObject record)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        var tmp = file + "." + Guid.NewGuid().ToString("N")[..8] + ".tmp";
        File.WriteAllText(tmp, record.ToJsonString());
        File.Move(tmp, file, overwrite: true);
    }

    private void WriteRaw(string cacheKey, JsonObject record, byte[] requestBody, bool fromCache)
    {
        if (rawDirectory is null) return;
        var copy = (JsonObject)Elide(record.DeepClone())!;
        copy["from_cache"] = fromCache;
        if (copy["body"] is JsonValue v && v.TryGetValue<string>(out var text) && TryParse(text) is { } parsed) copy["body"] = Elide(parsed);
        if (copy["body_base64"] is not null) copy["body_base64"] = $"<{record["body_base64"]!.GetValue<string>().Length} base64 characters elided>";
        copy["request"] = requestBody.Length == 0 ? null : TryParse(Redact(Encoding.UTF8.GetString(requestBody))) is { } req ? Elide(req) : $"<{requestBody.Length} bytes>";
        Write(Path.Combine(rawDirectory, cacheKey + ".json"), copy);
    }

    private static JsonNode? TryParse(string text)
    {
        try { return JsonNode.Parse(text); } catch (JsonException) { return null; }
    }

    /// <summary>Replaces long strings (base64 images) by a note with their length and SHA-256.</summary>
    private static JsonNode? Elide(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var k in o.Select(kv => kv.Key).ToList()) o[k] = Elide(o[k]?.DeepClone());
                return o;
            case JsonArray a:
                for (var i = 0; i < a.Count; i++) a[i] = Elide(a[i]?.DeepClone());
                return a;
            case JsonValue v when v.TryGetValue<string>(out var s) && s.Length > ElideAbove:
                var hash = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(s))).ToLowerInvariant();
                return $"<{s.Length} characters elided, sha256 {hash}>";
            default:
                return node;
        }
    }

    private static HttpResponseMessage ToResponse(JsonObject record, HttpRequestMessage request)
    {
        var bytes = record["body_base64"] is { } b64 ? Convert.FromBase64String(b64.GetValue<string>())
            : Encoding.UTF8.GetBytes(record["body"]?.GetValue<string>() ?? "");
        var response = new HttpResponseMessage((HttpStatusCode)record["status"]!.GetValue<int>()) { RequestMessage = request, Content = new ByteArrayContent(bytes) };
        if (record["content_type"]?.GetValue<string>() is { } ct && MediaTypeHeaderValue.TryParse(ct, out var mt)) response.Content.Headers.ContentType = mt;
        if (record["headers"] is JsonObject headers)
            foreach (var (name, value) in headers) response.Headers.TryAddWithoutValidation(name, value?.GetValue<string>());
        return response;
    }
}
