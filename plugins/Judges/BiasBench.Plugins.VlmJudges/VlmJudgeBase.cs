using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using BiasBench.Abstractions;
using BiasBench.Hosted;
using Microsoft.Extensions.Logging;

namespace BiasBench.Plugins.VlmJudges;

/// <summary>Answer probabilities from one VLM answer and how they were obtained.</summary>
public sealed record AnswerProbabilities(double[] P, string Source, string? ParsedAnswer)
{
    public bool IsHardLabel => Source != LogProbSource;
    public const string LogProbSource = "logprobs";
}

/// <summary>
/// What the VLM judges share: one session (cache, budget, resilience) and chat client per judge, items judged
/// concurrently, refusals and errors per item, the served model, prompt and raw log-probabilities recorded.
/// </summary>
public abstract class VlmJudgeBase : IJudge
{
    protected VlmJudgeBase(string name, string version, IReadOnlyList<string> labels, string description, VlmJudgeOptions options, HostedSession session, ILogger? logger)
    {
        Options = options; Session = session; Logger = logger;
        Chat = new VlmChat(session, options.Model);
        Info = new JudgeInfo(name, version, labels, description) { WeightsChecksum = $"{options.Model}@{session.EndpointLabel}" };
        PreferredBatchSize = Math.Max(1, options.MaxConcurrency * 2);
    }

    protected VlmJudgeOptions Options { get; }
    protected HostedSession Session { get; }
    protected VlmChat Chat { get; }
    protected ILogger? Logger { get; }
    public JudgeInfo Info { get; }
    public int PreferredBatchSize { get; }
    public RequestCounters Counters => Session.Counters;

    public async Task<IReadOnlyList<ItemResult<Judgement>>> JudgeAsync(IReadOnlyList<ImageRef> batch, CancellationToken cancellationToken) =>
        await Task.WhenAll(batch.Select(async image =>
        {
            try { return await JudgeOneAsync(image, cancellationToken); }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested) { throw; }
            catch (HostedApiException e) { return ItemResult<Judgement>.Failure($"{image.Id}: {e.Message}"); }
            catch (Exception e) { return ItemResult<Judgement>.Failure($"{image.Id}: {Session.Describe(e)}"); }
        }));

    protected abstract Task<ItemResult<Judgement>> JudgeOneAsync(ImageRef image, CancellationToken ct);

    protected Task<VlmAnswer> AskAsync(string prompt, IReadOnlyList<(byte[] Bytes, string MediaType)> images, CancellationToken ct) =>
        Chat.AskAsync(new VlmQuestion(prompt, images)
        {
            Temperature = 0, MaxOutputTokens = Options.MaxOutputTokens, TopLogProbs = Options.TopLogprobs, Seed = Options.Seed,
        }, ct);

    protected static async Task<(byte[] Bytes, string MediaType)> ReadImageAsync(ImageRef image, CancellationToken ct)
    {
        var bytes = (await image.ReadBytesAsync(ct)).ToArray();
        return (bytes, ImageFormats.Sniff(bytes) ?? throw new InvalidDataException($"{image} is not a PNG, JPEG, WebP or GIF image"));
    }

    /// <summary>
    /// P(answer) for each of <paramref name="answers"/>: from the first answer token's top log-probabilities (all
    /// spellings summed, renormalised over the answers); otherwise the parsed answer as a hard 0/1 label, marked so;
    /// null when neither works.
    /// </summary>
    public static AnswerProbabilities? Probabilities(VlmAnswer answer, IReadOnlyList<string> answers)
    {
        var parsed = LogProbabilities.ParseAnswer(answer.Text, answers);
        if (answer.FirstTokenTopLogProbs is { } top && LogProbabilities.Renormalised(top, answers) is { } p)
            return new AnswerProbabilities(p, AnswerProbabilities.LogProbSource, parsed);
        if (parsed is null) return null;
        var hard = answers.Select(a => a.Equals(parsed, StringComparison.OrdinalIgnoreCase) ? 1.0 : 0.0).ToArray();
        return new AnswerProbabilities(hard, answer.FirstTokenTopLogProbs is null
            ? "parsed answer (hard label: the server returned no log-probabilities)"
            : "parsed answer (hard label: no answer token among the top log-probabilities)", parsed);
    }

    /// <summary>The first token's top log-probabilities as JSON (what the probabilities were computed from).</summary>
    public static string LogProbsJson(VlmAnswer answer) => answer.FirstTokenTopLogProbs is null ? "null"
        : new JsonArray(answer.FirstTokenTopLogProbs.Select(t => (JsonNode)new JsonObject { ["token"] = t.Token, ["logprob"] = t.LogProb }).ToArray()).ToJsonString();

    /// <summary>Token logprobs read back from <see cref="LogProbsJson"/>.</summary>
    public static IReadOnlyList<TokenLogProb>? ParseLogProbs(string json) =>
        JsonNode.Parse(json) is JsonArray a ? a.Select(t => new TokenLogProb(t!["token"]!.GetValue<string>(), t["logprob"]!.GetValue<double>())).ToList() : null;

    protected static void AddBookkeeping(Dictionary<string, string> details, VlmAnswer answer, string suffix = "")
    {
        details[$"served_model{suffix}"] = answer.ServedModel ?? "";
        if (answer.FinishReason is { } f) details[$"finish_reason{suffix}"] = f;
        if (answer.InputTokens is { } i) details[$"input_tokens{suffix}"] = i.ToString(CultureInfo.InvariantCulture);
        if (answer.OutputTokens is { } o) details[$"output_tokens{suffix}"] = o.ToString(CultureInfo.InvariantCulture);
    }

    protected static string Quote(string text) => JsonSerializer.Serialize(text.Length <= 200 ? text : text[..200] + "...");

    public void Dispose()
    {
        Logger?.LogInformation("{Judge}: {Sent} request(s) sent, {Cached} answered from the cache, {Attempts} attempt(s) on the wire",
            Info.Name, Session.Counters.Sent, Session.Counters.FromCache, Session.Counters.Attempts);
        Session.Dispose();
    }
}
