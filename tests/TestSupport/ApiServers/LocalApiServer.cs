using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using System.Net;
using System.Net.Sockets;

namespace BiasBench.TestSupport.ApiServers;

/// <summary>A request the server received (headers kept so tests can check what was sent, e.g. the key).</summary>
public sealed record ReceivedRequest(string Route, string Path, string Body, string? Authorization, string? GoogApiKey)
{
    public JsonObject Json => JsonNode.Parse(Body) as JsonObject ?? [];
}

/// <summary>A scripted reply. <c>{auth}</c> in the body or headers is replaced by the request's credential (to test redaction).</summary>
public sealed record Reply(int Status, string Body, string ContentType = "application/json")
{
    public TimeSpan Delay { get; init; }
    public string? RetryAfter { get; init; }
    public IReadOnlyDictionary<string, string> Headers { get; init; } = new Dictionary<string, string>();
}

/// <summary>
/// A local HTTP server (HttpListener on 127.0.0.1, a free port) speaking the wire formats of the OpenAI chat completions
/// and images APIs and of Gemini's generateContent. Routes: <c>/v1/chat/completions</c>, <c>/v1/images/generations</c>,
/// <c>/v1beta/models/{model}:generateContent</c>, and <c>/files/{name}</c> for image URLs. Each route answers from its
/// queue of scripted replies first, then with a well-formed default answer derived from the request content.
/// </summary>
public sealed class LocalApiServer : IAsyncDisposable
{
    public const string Chat = "chat", Images = "images", Gemini = "gemini", Files = "files";
    private readonly HttpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private Task _loop = Task.CompletedTask;
    private readonly ConcurrentDictionary<string, ConcurrentQueue<Reply>> _scripts = new();
    private readonly ConcurrentDictionary<string, byte[]> _files = new();

    private LocalApiServer(HttpListener listener) { _listener = listener; }

    public string BaseUrl { get; private set; } = "";
    public string OpenAiBase => BaseUrl + "/v1";
    public string GeminiBase => BaseUrl + "/v1beta";
    public ConcurrentQueue<ReceivedRequest> Received { get; } = new();
    public int Count(string route) => Received.Count(r => r.Route == route);

    private int _inFlight;

    /// <summary>The most requests the server was answering at once (counted while a reply's delay runs).</summary>
    public int MaxInFlight { get; private set; }

    /// <summary>Model id the server says it served (the "model" / "modelVersion" field).</summary>
    public string ServedModel { get; set; } = "local-vlm-2025-01-01";

    /// <summary>Whether default chat answers carry log-probabilities.</summary>
    public bool ChatLogProbs { get; set; } = true;

    /// <summary>Replaces the default chat answer: given the request JSON, the reply.</summary>
    public Func<JsonObject, Reply>? ChatDefault { get; set; }

    public void Enqueue(string route, params Reply[] replies)
    {
        var q = _scripts.GetOrAdd(route, _ => new ConcurrentQueue<Reply>());
        foreach (var r in replies) q.Enqueue(r);
    }

    public static Task<LocalApiServer> StartAsync()
    {
        // A free port from the OS, then an HttpListener on 127.0.0.1 only (the BCL's HTTP server: no ASP.NET framework
        // in the test processes, which would shadow the host's Microsoft.Extensions assemblies in their output folders).
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        var listener = new HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        listener.Start();
        var server = new LocalApiServer(listener) { BaseUrl = $"http://127.0.0.1:{port}" };
        server._loop = Task.Run(server.AcceptLoop);
        return Task.FromResult(server);
    }

    private async Task AcceptLoop()
    {
        while (!_stop.IsCancellationRequested)
        {
            HttpListenerContext ctx;
            try { ctx = await _listener.GetContextAsync(); }
            catch (Exception) { return; }
            _ = Task.Run(() => Dispatch(ctx));
        }
    }

    private async Task Dispatch(HttpListenerContext ctx)
    {
        try
        {
            var path = ctx.Request.Url!.AbsolutePath;
            if (path == "/v1/chat/completions") await Handle(ctx, Chat, DefaultChat);
            else if (path == "/v1/images/generations") await Handle(ctx, Images, DefaultImages);
            else if (path.StartsWith("/v1beta/models/", StringComparison.Ordinal)) await Handle(ctx, Gemini, DefaultGemini);
            else if (path.StartsWith("/files/", StringComparison.Ordinal))
                await Handle(ctx, Files, _ => _files.TryGetValue(path["/files/".Length..], out var png)
                    ? new Reply(200, Convert.ToBase64String(png), "image/png")
                    : new Reply(404, "{\"error\":{\"message\":\"no such file\"}}"));
            else { ctx.Response.StatusCode = 404; ctx.Response.Close(); }
        }
        catch (Exception) { try { ctx.Response.Abort(); } catch (Exception) { } } // the client went away (e.g. a timeout test)
    }

    private async Task Handle(HttpListenerContext ctx, string route, Func<JsonObject, Reply> fallback)
    {
        using var reader = new StreamReader(ctx.Request.InputStream, Encoding.UTF8);
        var body = await reader.ReadToEndAsync();
        var auth = ctx.Request.Headers["Authorization"];
        var goog = ctx.Request.Headers["x-goog-api-key"];
        Received.Enqueue(new ReceivedRequest(route, ctx.Request.Url!.PathAndQuery, body, auth, goog));
        var reply = _scripts.TryGetValue(route, out var q) && q.TryDequeue(out var scripted)
            ? scripted
            : fallback(body.Length == 0 ? [] : JsonNode.Parse(body) as JsonObject ?? []);
        var inFlight = Interlocked.Increment(ref _inFlight);
        lock (_scripts) MaxInFlight = Math.Max(MaxInFlight, inFlight);
        try { if (reply.Delay > TimeSpan.Zero) await Task.Delay(reply.Delay, _stop.Token); }
        finally { Interlocked.Decrement(ref _inFlight); }
        var credential = auth ?? goog ?? "";
        ctx.Response.StatusCode = reply.Status;
        ctx.Response.ContentType = reply.ContentType;
        if (reply.RetryAfter is { } ra) ctx.Response.Headers["Retry-After"] = ra;
        foreach (var (k, v) in reply.Headers) ctx.Response.Headers[k] = v.Replace("{auth}", credential);
        var bytes = reply.ContentType.StartsWith("image/") ? Convert.FromBase64String(reply.Body) : Encoding.UTF8.GetBytes(reply.Body.Replace("{auth}", credential));
        ctx.Response.ContentLength64 = bytes.Length;
        await ctx.Response.OutputStream.WriteAsync(bytes);
        ctx.Response.Close();
    }

    // ---- defaults ------------------------------------------------------------------------------------------

    /// <summary>The text of the user message (all text parts).</summary>
    public static string PromptOf(JsonObject request) =>
        string.Join("\n", (request["messages"] as JsonArray ?? []).SelectMany(m => m?["content"] switch
        {
            JsonArray parts => parts.Select(p => p?["text"]?.GetValue<string>()).Where(t => t is not null).Cast<string>(),
            JsonValue v => [v.GetValue<string>()],
            _ => [],
        }));

    /// <summary>The answers a prompt asks for: real/fake, A/B, or digits.</summary>
    public static string[] CandidatesOf(string prompt) =>
        prompt.Contains("real or fake", StringComparison.OrdinalIgnoreCase) ? ["real", "fake"]
        : prompt.Contains("A or B", StringComparison.Ordinal) ? ["A", "B"]
        : ["0", "1", "2"];

    /// <summary>Log-probabilities that depend only on the request body (deterministic), normalised over the candidates plus a distractor.</summary>
    public static double[] LogProbsFor(string seedText, int n)
    {
        var h = SHA256.HashData(Encoding.UTF8.GetBytes(seedText));
        var w = Enumerable.Range(0, n + 1).Select(i => 1.0 + h[i] / 32.0).ToArray();
        var sum = w.Sum();
        return w.Select(x => Math.Log(x / sum)).ToArray();
    }

    private Reply DefaultChat(JsonObject request)
    {
        if (ChatDefault is { } custom) return custom(request);
        var candidates = CandidatesOf(PromptOf(request));
        var lp = LogProbsFor(request.ToJsonString(), candidates.Length);
        var best = Array.IndexOf(lp, lp.Take(candidates.Length).Max());
        // Spell the first candidate with a leading space and capital as some tokenizers do (" Real").
        var tokens = candidates.Select((c, i) => (Token: i == 0 && char.IsLetter(c[0]) ? " " + char.ToUpperInvariant(c[0]) + c[1..] : c, LogProb: lp[i]))
            .Append(("The", lp[^1])).ToList();
        return ChatCompletion(candidates[best], ChatLogProbs ? tokens : null);
    }

    /// <summary>A chat.completion body: the answer text and, optionally, the first token's top log-probabilities.</summary>
    public JsonObject ChatCompletionJson(string? content, IReadOnlyList<(string Token, double LogProb)>? topLogProbs, string? refusal = null, string finishReason = "stop")
    {
        JsonNode? logprobs = null;
        if (topLogProbs is not null)
        {
            var first = topLogProbs.MaxBy(t => t.LogProb);
            JsonObject Tok(string t, double l) => new() { ["token"] = t, ["logprob"] = l, ["bytes"] = new JsonArray(Encoding.UTF8.GetBytes(t).Select(b => (JsonNode)(int)b).ToArray()) };
            var entry = Tok(first.Token, first.LogProb);
            entry["top_logprobs"] = new JsonArray(topLogProbs.Select(t => (JsonNode)Tok(t.Token, t.LogProb)).ToArray());
            logprobs = new JsonObject { ["content"] = new JsonArray(entry), ["refusal"] = null };
        }
        return new JsonObject
        {
            ["id"] = "chatcmpl-local", ["object"] = "chat.completion", ["created"] = 1735689600, ["model"] = ServedModel,
            ["choices"] = new JsonArray(new JsonObject
            {
                ["index"] = 0,
                ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = content, ["refusal"] = refusal },
                ["logprobs"] = logprobs,
                ["finish_reason"] = finishReason,
            }),
            ["usage"] = new JsonObject { ["prompt_tokens"] = 812, ["completion_tokens"] = 1, ["total_tokens"] = 813 },
        };
    }

    public Reply ChatCompletion(string? content, IReadOnlyList<(string Token, double LogProb)>? topLogProbs, string? refusal = null, string finishReason = "stop") =>
        new(200, ChatCompletionJson(content, topLogProbs, refusal, finishReason).ToJsonString());

    private static int SeedOf(JsonObject request, string prompt) =>
        request["seed"] is JsonValue s && s.TryGetValue<long>(out var v) ? (int)v : BitConverter.ToInt32(SHA256.HashData(Encoding.UTF8.GetBytes(prompt)), 0);

    private Reply DefaultImages(JsonObject request)
    {
        var prompt = request["prompt"]?.GetValue<string>() ?? "";
        var png = TinyPng.Gradient(64, 64, SeedOf(request, prompt) ^ prompt.Length);
        var item = new JsonObject { ["revised_prompt"] = "A detailed studio portrait: " + prompt };
        if (request["response_format"]?.GetValue<string>() == "url")
        {
            var name = Convert.ToHexString(SHA256.HashData(png))[..16] + ".png";
            _files[name] = png;
            item["url"] = $"{BaseUrl}/files/{name}";
        }
        else item["b64_json"] = Convert.ToBase64String(png);
        return new Reply(200, new JsonObject
        {
            ["created"] = 1735689600, ["data"] = new JsonArray(item),
            ["usage"] = new JsonObject { ["input_tokens"] = 12, ["output_tokens"] = 4160, ["total_tokens"] = 4172 },
        }.ToJsonString());
    }

    private Reply DefaultGemini(JsonObject request)
    {
        var prompt = request["contents"]?[0]?["parts"]?[0]?["text"]?.GetValue<string>() ?? "";
        var seed = request["generationConfig"]?["seed"] is JsonValue s && s.TryGetValue<long>(out var v) ? (int)v : 0;
        var png = TinyPng.Gradient(64, 64, seed ^ prompt.Length);
        return new Reply(200, GeminiJson(png, "Here is the portrait.").ToJsonString());
    }

    public JsonObject GeminiJson(byte[]? png, string? text, string finishReason = "STOP")
    {
        var parts = new JsonArray();
        if (text is not null) parts.Add(new JsonObject { ["text"] = text });
        if (png is not null) parts.Add(new JsonObject { ["inlineData"] = new JsonObject { ["mimeType"] = "image/png", ["data"] = Convert.ToBase64String(png) } });
        return new JsonObject
        {
            ["candidates"] = new JsonArray(new JsonObject { ["content"] = new JsonObject { ["role"] = "model", ["parts"] = parts }, ["finishReason"] = finishReason, ["index"] = 0 }),
            ["usageMetadata"] = new JsonObject { ["promptTokenCount"] = 9, ["candidatesTokenCount"] = 1290, ["totalTokenCount"] = 1299 },
            ["modelVersion"] = ServedModel,
        };
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        _listener.Close();
        try { await _loop; } catch (Exception) { }
    }
}
