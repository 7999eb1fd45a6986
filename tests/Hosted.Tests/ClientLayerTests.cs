using System.Diagnostics;
using System.Text.Json.Nodes;
using BiasBench.TestSupport.ApiServers;

namespace BiasBench.Hosted.Tests;

/// <summary>The client layer against a local server speaking the OpenAI chat completions wire format.</summary>
public class ClientLayerTests
{
    private static readonly (byte[], string)[] OneImage = [(TinyPng.Gradient(8, 8, 1), "image/png")];

    private static async Task<(VlmAnswer Answer, HostedSession Session)> Ask(LocalApiServer server, FastOptions o, (string, string)? env = null, string prompt = "Is this real or fake?")
    {
        var (run, _) = Env.Run();
        var session = HostedSession.Create(o, run, "test-judge", null, null, Env.WithKey);
        return (await new VlmChat(session, o.Model).AskAsync(new VlmQuestion(prompt, OneImage), CancellationToken.None), session);
    }

    [Fact]
    public async Task A_success_carries_the_answer_the_first_token_logprobs_served_model_and_usage()
    {
        await using var server = await LocalApiServer.StartAsync();
        server.Enqueue(LocalApiServer.Chat, server.ChatCompletion("real", [(" Real", -0.2), ("real", -2.0), ("fake", -1.9), ("The", -5)]));
        var (answer, session) = await Ask(server, new FastOptions(server.OpenAiBase));
        Assert.Equal("real", answer.Text);
        Assert.Equal(4, answer.FirstTokenTopLogProbs!.Count);
        Assert.Equal(server.ServedModel, answer.ServedModel);
        Assert.Equal(812, answer.InputTokens);
        var request = server.Received.Single();
        Assert.Equal($"Bearer {Env.Key}", request.Authorization);
        var json = request.Json;
        Assert.True(json["logprobs"]!.GetValue<bool>());
        Assert.Equal(20, json["top_logprobs"]!.GetValue<int>());
        Assert.Equal(0, json["temperature"]!.GetValue<double>());
        Assert.Contains("data:image/png;base64,", request.Body);
        Assert.Equal((1, 0, 1), (session.Counters.Sent, session.Counters.FromCache, session.Counters.Attempts));
    }

    [Fact]
    public async Task A_429_with_Retry_After_is_retried_after_the_wait_the_server_asked_for()
    {
        await using var server = await LocalApiServer.StartAsync();
        server.Enqueue(LocalApiServer.Chat, new Reply(429, """{"error":{"message":"Rate limit reached"}}""") { RetryAfter = "1" });
        var sw = Stopwatch.StartNew();
        var (answer, session) = await Ask(server, new FastOptions(server.OpenAiBase));
        Assert.True(sw.Elapsed >= TimeSpan.FromSeconds(0.95), $"retried after {sw.Elapsed.TotalSeconds:F2} s, before the 1 s Retry-After");
        Assert.NotEmpty(answer.Text);
        Assert.Equal((1, 2), (session.Counters.Sent, session.Counters.Attempts));
    }

    [Fact]
    public async Task A_Retry_After_longer_than_max_retry_delay_is_capped()
    {
        await using var server = await LocalApiServer.StartAsync();
        server.Enqueue(LocalApiServer.Chat, new Reply(429, "{}") { RetryAfter = "3600" });
        var sw = Stopwatch.StartNew();
        var (answer, _) = await Ask(server, new FastOptions(server.OpenAiBase) { MaxRetryDelaySeconds = 0.2 });
        Assert.InRange(sw.Elapsed.TotalSeconds, 0.19, 4);
        Assert.NotEmpty(answer.Text);
    }

    [Fact]
    public async Task A_500_then_success_succeeds_on_the_retry()
    {
        await using var server = await LocalApiServer.StartAsync();
        server.Enqueue(LocalApiServer.Chat, new Reply(500, """{"error":{"message":"internal"}}"""));
        var (answer, session) = await Ask(server, new FastOptions(server.OpenAiBase));
        Assert.NotEmpty(answer.Text);
        Assert.Equal(2, server.Count(LocalApiServer.Chat));
        Assert.Equal(2, session.Counters.Attempts);
    }

    [Fact]
    public async Task Persistent_500s_fail_after_the_configured_retries_with_the_status()
    {
        await using var server = await LocalApiServer.StartAsync();
        for (var i = 0; i < 3; i++) server.Enqueue(LocalApiServer.Chat, new Reply(503, """{"error":{"message":"overloaded"}}"""));
        var e = await Assert.ThrowsAsync<HostedApiException>(() => Ask(server, new FastOptions(server.OpenAiBase) { MaxRetries = 2 }));
        Assert.Contains("HTTP 503", e.Message);
        Assert.Contains("overloaded", e.Message);
        Assert.Equal(3, server.Count(LocalApiServer.Chat));
    }

    [Fact]
    public async Task A_slow_server_times_out_per_attempt_and_in_total()
    {
        await using var server = await LocalApiServer.StartAsync();
        for (var i = 0; i < 4; i++) server.Enqueue(LocalApiServer.Chat, new Reply(200, "{}") { Delay = TimeSpan.FromSeconds(5) });
        var o = new FastOptions(server.OpenAiBase) { AttemptTimeoutSeconds = 0.2, TotalTimeoutSeconds = 0.7, MaxRetries = 5 };
        var (run, _) = Env.Run();
        using var session = HostedSession.Create(o, run, "t", null, null, Env.WithKey);
        var sw = Stopwatch.StartNew();
        var e = await Assert.ThrowsAnyAsync<Exception>(() => new VlmChat(session, o.Model).AskAsync(new VlmQuestion("real or fake?", OneImage), CancellationToken.None));
        Assert.InRange(sw.Elapsed.TotalSeconds, 0.6, 3);
        Assert.Contains("timed out", session.Describe(e));
        Assert.True(session.Counters.Attempts >= 2, "the attempt timeout should have led to a retry");
    }

    [Fact]
    public async Task Components_on_one_endpoint_share_its_concurrency_limit()
    {
        await using var server = await LocalApiServer.StartAsync();
        const int limit = 2, requests = 8;
        server.ChatDefault = _ => new Reply(200, """{"id":"x","object":"chat.completion","created":0,"model":"local-vlm","choices":[{"index":0,"message":{"role":"assistant","content":"real"},"finish_reason":"stop"}]}""")
            { Delay = TimeSpan.FromMilliseconds(250) };
        var o = new FastOptions(server.OpenAiBase) { MaxConcurrency = limit };
        var (run, _) = Env.Run();
        using var judge = HostedSession.Create(o, run, "judge-a", null, null, Env.WithKey);
        using var rater = HostedSession.Create(o, run, "judge-b", null, null, Env.WithKey);
        // Distinct questions, so that no answer comes from the response cache.
        var asks = Enumerable.Range(0, requests).Select(i =>
            new VlmChat(i % 2 == 0 ? judge : rater, o.Model).AskAsync(new VlmQuestion($"real or fake? ({i})", OneImage), CancellationToken.None));
        await Task.WhenAll(asks);
        Assert.Equal(requests, server.Count(LocalApiServer.Chat));
        Assert.Equal(limit, server.MaxInFlight);
    }

    [Fact]
    public async Task Malformed_json_is_an_error_naming_the_endpoint_and_is_not_cached()
    {
        await using var server = await LocalApiServer.StartAsync();
        server.Enqueue(LocalApiServer.Chat, new Reply(200, "{\"id\": \"x\", \"choices\": [ {\"message\": "));
        var o = new FastOptions(server.OpenAiBase);
        var (run, _) = Env.Run();
        using var session = HostedSession.Create(o, run, "t", null, null, Env.WithKey);
        var chat = new VlmChat(session, o.Model);
        var e = await Assert.ThrowsAsync<HostedApiException>(() => chat.AskAsync(new VlmQuestion("real or fake?", OneImage), CancellationToken.None));
        Assert.Contains("malformed response", e.Message);
        Assert.Contains(server.OpenAiBase, e.Message);
        var again = await chat.AskAsync(new VlmQuestion("real or fake?", OneImage), CancellationToken.None); // asked again, not served from the cache
        Assert.NotEmpty(again.Text);
        Assert.Equal(2, server.Count(LocalApiServer.Chat));
    }

    [Fact]
    public async Task A_refusal_is_an_answer_and_is_cached_so_it_is_not_asked_again()
    {
        await using var server = await LocalApiServer.StartAsync();
        server.Enqueue(LocalApiServer.Chat, server.ChatCompletion(null, null, refusal: "I can't help with identifying people."));
        server.Enqueue(LocalApiServer.Chat, new Reply(400, """{"error":{"code":"content_filter","message":"The prompt was filtered."}}"""));
        var o = new FastOptions(server.OpenAiBase);
        var (run, _) = Env.Run();
        using var session = HostedSession.Create(o, run, "t", (s, b) => (int)s == 400 && VlmChat.IsContentPolicy(b), null, Env.WithKey);
        var chat = new VlmChat(session, o.Model);
        var first = await chat.AskAsync(new VlmQuestion("real or fake? 1", OneImage), CancellationToken.None);
        Assert.Equal("I can't help with identifying people.", first.Refusal);
        var second = await chat.AskAsync(new VlmQuestion("real or fake? 2", OneImage), CancellationToken.None);
        Assert.Equal("The prompt was filtered.", second.Refusal);
        await chat.AskAsync(new VlmQuestion("real or fake? 1", OneImage), CancellationToken.None);
        await chat.AskAsync(new VlmQuestion("real or fake? 2", OneImage), CancellationToken.None);
        Assert.Equal(2, server.Count(LocalApiServer.Chat));
        Assert.Equal(2, session.Counters.FromCache);
    }

    [Fact]
    public async Task Missing_logprobs_give_an_answer_without_them()
    {
        await using var server = await LocalApiServer.StartAsync();
        server.Enqueue(LocalApiServer.Chat, server.ChatCompletion("Fake.", null));
        var (answer, _) = await Ask(server, new FastOptions(server.OpenAiBase));
        Assert.Null(answer.FirstTokenTopLogProbs);
        Assert.Equal("fake", LogProbabilities.ParseAnswer(answer.Text, ["real", "fake"]));
    }

    [Fact]
    public void Probabilities_sum_every_spelling_and_renormalise_over_the_answers()
    {
        TokenLogProb[] top = [new(" Real", Math.Log(0.5)), new("real", Math.Log(0.1)), new("REAL", Math.Log(0.05)), new("Ġfake", Math.Log(0.15)), new("The", Math.Log(0.2))];
        var p = LogProbabilities.Renormalised(top, ["real", "fake"])!;
        Assert.Equal(0.65 / 0.80, p[0], 12);
        Assert.Equal(0.15 / 0.80, p[1], 12);
        Assert.Null(LogProbabilities.Renormalised([new("The", -0.1)], ["real", "fake"]));
    }

    [Fact]
    public async Task A_resumed_session_answers_from_the_cache_and_sends_nothing()
    {
        await using var server = await LocalApiServer.StartAsync();
        var o = new FastOptions(server.OpenAiBase);
        var (run, dir) = Env.Run();
        string[] prompts = ["real or fake? a", "real or fake? b", "real or fake? c"];
        using (var first = HostedSession.Create(o, run, "t", null, null, Env.WithKey))
        {
            var chat = new VlmChat(first, o.Model);
            foreach (var p in prompts.Take(2)) await chat.AskAsync(new VlmQuestion(p, OneImage), CancellationToken.None);
        }
        var run2 = run with { RunDirectory = Path.Combine(dir, "run2") };
        using var second = HostedSession.Create(o, run2, "t", null, null, Env.WithKey);
        var chat2 = new VlmChat(second, o.Model);
        var answers = new List<VlmAnswer>();
        foreach (var p in prompts) answers.Add(await chat2.AskAsync(new VlmQuestion(p, OneImage), CancellationToken.None));
        Assert.Equal(3, server.Count(LocalApiServer.Chat));           // each prompt sent exactly once over both runs
        Assert.Equal((1, 2), (second.Counters.Sent, second.Counters.FromCache));
        Assert.All(answers, a => Assert.NotNull(a.FirstTokenTopLogProbs));
        Assert.Equal(3, Directory.GetFiles(Path.Combine(dir, "run2", "raw", "t"), "*.json").Length); // raw responses of this run, cached ones too
    }

    [Fact]
    public async Task The_request_budget_stops_sending_and_says_why()
    {
        await using var server = await LocalApiServer.StartAsync();
        var o = new FastOptions(server.OpenAiBase) { MaxRequests = 2 };
        var (run, _) = Env.Run();
        using var session = HostedSession.Create(o, run, "t", null, null, Env.WithKey);
        var chat = new VlmChat(session, o.Model);
        await chat.AskAsync(new VlmQuestion("real or fake? 1", OneImage), CancellationToken.None);
        await chat.AskAsync(new VlmQuestion("real or fake? 2", OneImage), CancellationToken.None);
        await chat.AskAsync(new VlmQuestion("real or fake? 1", OneImage), CancellationToken.None); // cached: free
        var e = await Assert.ThrowsAnyAsync<Exception>(() => chat.AskAsync(new VlmQuestion("real or fake? 3", OneImage), CancellationToken.None));
        Assert.Contains("max_requests = 2", session.Describe(e));
        Assert.Equal(2, server.Count(LocalApiServer.Chat));
    }

    [Fact]
    public async Task Repeated_failures_open_the_circuit_and_requests_fail_fast()
    {
        await using var server = await LocalApiServer.StartAsync();
        for (var i = 0; i < 50; i++) server.Enqueue(LocalApiServer.Chat, new Reply(500, "{}"));
        var o = new FastOptions(server.OpenAiBase) { MaxRetries = 0, CircuitBreakerMinimumAttempts = 3, CircuitBreakerFailureRatio = 0.5 };
        var (run, _) = Env.Run();
        using var session = HostedSession.Create(o, run, "t", null, null, Env.WithKey);
        var chat = new VlmChat(session, o.Model);
        var messages = new List<string>();
        for (var i = 0; i < 6; i++)
        {
            try { await chat.AskAsync(new VlmQuestion($"real or fake? {i}", OneImage), CancellationToken.None); }
            catch (Exception e) { messages.Add(session.Describe(e)); }
        }
        Assert.Equal(6, messages.Count);
        Assert.Contains(messages, m => m.Contains("circuit open"));
        Assert.True(server.Count(LocalApiServer.Chat) < 6, "an open circuit must stop requests reaching the server");
    }

    [Fact]
    public async Task The_key_never_reaches_the_run_folder_or_the_cache_even_when_the_server_echoes_it()
    {
        await using var server = await LocalApiServer.StartAsync();
        server.Enqueue(LocalApiServer.Chat, new Reply(401, """{"error":{"message":"Incorrect API key provided: {auth}"}}""")
            { Headers = new Dictionary<string, string> { ["x-echo"] = "{auth}" } });
        server.Enqueue(LocalApiServer.Chat, server.ChatCompletion("real {auth}", [("real", -0.1)]) with
            { Headers = new Dictionary<string, string> { ["x-echo"] = "{auth}" } });
        var o = new FastOptions(server.OpenAiBase);
        var (run, dir) = Env.Run();
        using var session = HostedSession.Create(o, run, "t", null, null, Env.WithKey);
        var chat = new VlmChat(session, o.Model);
        var e = await Assert.ThrowsAsync<HostedApiException>(() => chat.AskAsync(new VlmQuestion("real or fake?", OneImage), CancellationToken.None));
        Assert.DoesNotContain(Env.Key, e.Message);
        Assert.Contains("***", e.Message);
        var answer = await chat.AskAsync(new VlmQuestion("real or fake? again", OneImage), CancellationToken.None);
        Assert.DoesNotContain(Env.Key, answer.Text);
        Assert.Equal(2, Directory.GetFiles(Path.Combine(dir, "run", "raw", "t"), "*.json").Length);
        Assert.Empty(Env.FilesContaining(dir, Env.Key));
        Assert.DoesNotContain(Env.Key, session.Key!.ToString());
    }

    [Fact]
    public void A_missing_key_variable_is_named_in_the_error_without_any_value()
    {
        var (run, _) = Env.Run();
        var e = Assert.Throws<InvalidOperationException>(() => HostedSession.Create(new FastOptions("http://127.0.0.1:9/v1"), run, "vlm-real-fake", null, null, _ => null));
        Assert.Contains("BB_TEST_KEY", e.Message);
        Assert.Contains("not set", e.Message);
    }
}
