using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net;
using System.Text.Json;
using Microsoft.Extensions.AI;
using OpenAI;
using OpenAI.Chat;
using ChatFinishReason = Microsoft.Extensions.AI.ChatFinishReason;
using ChatMessage = Microsoft.Extensions.AI.ChatMessage;

namespace BiasBench.Hosted;

/// <summary>Settings of one VLM question.</summary>
public sealed record VlmQuestion(string Prompt, IReadOnlyList<(byte[] Bytes, string MediaType)> Images)
{
    public float Temperature { get; init; }
    public int MaxOutputTokens { get; init; } = 4;
    public int TopLogProbs { get; init; } = 20;
    public long? Seed { get; init; }
}

/// <summary>What came back: the text, the first answer token's top log-probabilities (null when the server sent none), and bookkeeping.</summary>
public sealed record VlmAnswer(string Text, IReadOnlyList<TokenLogProb>? FirstTokenTopLogProbs, string? FirstToken)
{
    public string? ServedModel { get; init; }
    public string? FinishReason { get; init; }
    public long? InputTokens { get; init; }
    public long? OutputTokens { get; init; }
    /// <summary>Set when the model or the service declined (a refusal message, a content filter).</summary>
    public string? Refusal { get; init; }
}

/// <summary>
/// A VLM behind an OpenAI-compatible chat completions endpoint (OpenAI, vLLM, Ollama, LM Studio, ...), asked through
/// Microsoft.Extensions.AI's <see cref="IChatClient"/> with image content. The OpenAI SDK runs over the session's
/// <see cref="HttpClient"/> (cache, budget, resilience) with its own retries switched off.
/// </summary>
public sealed class VlmChat
{
    private readonly HostedSession _session;

    public VlmChat(HostedSession session, string model)
    {
        _session = session;
        Model = model;
        var options = new OpenAIClientOptions
        {
            Endpoint = session.BaseUri,
            Transport = new HttpClientPipelineTransport(session.Http),
            RetryPolicy = new ClientRetryPolicy(0),
            NetworkTimeout = Timeout.InfiniteTimeSpan,
        };
        // Servers without authentication ignore the header; the SDK requires a credential.
        var credential = new ApiKeyCredential(session.Key?.Value ?? "no-key");
        Client = new OpenAIClient(credential, options).GetChatClient(model).AsIChatClient();
    }

    public string Model { get; }
    public IChatClient Client { get; }

    /// <summary>Sends one question; a refusal is an answer (with <see cref="VlmAnswer.Refusal"/> set), other failures throw with the key redacted.</summary>
    public async Task<VlmAnswer> AskAsync(VlmQuestion question, CancellationToken ct)
    {
        var contents = new List<AIContent> { new TextContent(question.Prompt) };
        foreach (var (bytes, mediaType) in question.Images) contents.Add(new DataContent(bytes, mediaType));
        var options = new ChatOptions
        {
            Temperature = question.Temperature,
            MaxOutputTokens = question.MaxOutputTokens,
            Seed = question.Seed,
            RawRepresentationFactory = _ => new ChatCompletionOptions
            {
                IncludeLogProbabilities = question.TopLogProbs > 0,
                TopLogProbabilityCount = question.TopLogProbs > 0 ? question.TopLogProbs : null,
            },
        };
        ChatResponse response;
        try
        {
            response = await Client.GetResponseAsync([new ChatMessage(ChatRole.User, contents)], options, ct);
        }
        catch (ClientResultException e) when (e.Status == (int)HttpStatusCode.BadRequest && IsContentPolicy(e.GetRawResponse()?.Content?.ToString() ?? ""))
        {
            return new VlmAnswer("", null, null) { Refusal = _session.Redact(ErrorMessage(e.GetRawResponse()!.Content.ToString()) ?? "content policy"), ServedModel = Model };
        }
        catch (ClientResultException e)
        {
            var body = e.GetRawResponse()?.Content?.ToString();
            throw new HostedApiException(_session.Redact($"HTTP {e.Status}: {ErrorMessage(body) ?? Truncate(body) ?? e.Message}"), e.Status);
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException or KeyNotFoundException)
        {
            throw new HostedApiException(_session.Redact($"malformed response from {_session.EndpointLabel}: {e.Message}"), null);
        }

        var completion = response.RawRepresentation as ChatCompletion;
        var first = completion?.ContentTokenLogProbabilities is { Count: > 0 } lp ? lp[0] : null;
        var top = first is null ? null
            : first.TopLogProbabilities.Count > 0 ? first.TopLogProbabilities.Select(t => new TokenLogProb(t.Token, t.LogProbability)).ToList()
            : [new TokenLogProb(first.Token, first.LogProbability)];
        var refusal = completion?.Refusal is { Length: > 0 } r ? r
            : response.FinishReason == ChatFinishReason.ContentFilter ? "content filter (finish_reason content_filter)" : null;
        return new VlmAnswer(response.Text ?? "", top, first?.Token)
        {
            ServedModel = response.ModelId ?? Model,
            FinishReason = response.FinishReason?.Value,
            InputTokens = response.Usage?.InputTokenCount,
            OutputTokens = response.Usage?.OutputTokenCount,
            Refusal = refusal is null ? null : _session.Redact(refusal),
        };
    }

    /// <summary>A 400 that declines on content grounds (OpenAI, Azure content filters): an answer, cached like a success.</summary>
    public static bool IsContentPolicy(string body) =>
        body.Contains("content_policy", StringComparison.OrdinalIgnoreCase) || body.Contains("content_filter", StringComparison.OrdinalIgnoreCase)
        || body.Contains("moderation_blocked", StringComparison.OrdinalIgnoreCase) || body.Contains("safety_violation", StringComparison.OrdinalIgnoreCase);

    /// <summary>error.message of an OpenAI-style error body, if there is one.</summary>
    public static string? ErrorMessage(string? body)
    {
        if (string.IsNullOrWhiteSpace(body)) return null;
        try
        {
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("error", out var err))
            {
                if (err.ValueKind == JsonValueKind.String) return err.GetString();
                if (err.ValueKind == JsonValueKind.Object && err.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String) return m.GetString();
            }
        }
        catch (JsonException) { }
        return null;
    }

    internal static string? Truncate(string? s) => s is null ? null : s.Length <= 300 ? s : s[..300] + "...";
}

/// <summary>A hosted API call failed (after retries); the message is safe to show (no key).</summary>
public sealed class HostedApiException(string message, int? status) : Exception(message)
{
    public int? Status { get; } = status;
}
