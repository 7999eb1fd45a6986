using System.Text.Json.Nodes;
using BiasBench.Abstractions;
using BiasBench.Hosted;
using BiasBench.Imaging;
using BiasBench.TestSupport.ApiServers;

namespace BiasBench.Plugins.VlmJudges.Tests;

/// <summary>The VLM judges end to end against a local OpenAI-compatible chat server.</summary>
public class VlmJudgesTests
{
    private const string Key = "sk-judge-test-0f3a9c2b1d";

    private static (ComponentContext Ctx, string Dir) Context()
    {
        var dir = Path.Combine(Path.GetTempPath(), "biasbench-tests", "vlm-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(dir);
        Environment.SetEnvironmentVariable("BB_JUDGE_TEST_KEY", Key);
        return (new ComponentContext(new EmptyServices(), new RunEnvironment("cpu", Path.Combine(dir, "run"), dir, Path.Combine(dir, "cache"), 0)), dir);
    }

    private static T Fast<T>(T o, string endpoint) where T : VlmJudgeOptions
    {
        o.Endpoint = endpoint; o.Model = "local-vlm"; o.ApiKeyEnv = "BB_JUDGE_TEST_KEY"; o.RetryBaseDelayMs = 10; o.AttemptTimeoutSeconds = 10;
        return o;
    }

    private static ImageRef Face(int seed) => ImageRef.FromBytes($"face{seed}", TinyPng.Gradient(24, 24, seed));

    [Fact]
    public async Task Real_fake_probability_sums_spellings_and_renormalises_over_real_and_fake()
    {
        await using var server = await LocalApiServer.StartAsync();
        server.Enqueue(LocalApiServer.Chat, server.ChatCompletion(" Real", [(" Real", -0.3), ("real", -2.1), ("Fake", -1.7), (" fake", -3.2), ("The", -4.0)]));
        var (ctx, dir) = Context();
        using var judge = new RealFakeJudge(Fast(new RealFakeOptions(), server.OpenAiBase), VlmJudgesPlugin.Session(Fast(new RealFakeOptions(), server.OpenAiBase), ctx, "vlm-real-fake"), null);
        var r = (await judge.JudgeAsync([Face(1)], CancellationToken.None)).Single();
        Assert.True(r.IsSuccess, r.Error);
        // Computed from the recorded log-probabilities, which equal the sent ones to float32 precision (the OpenAI SDK keeps them as float).
        var recorded = VlmJudgeBase.ParseLogProbs(r.Value!.Details["logprobs"])!;
        Assert.Equal(new[] { -0.3, -2.1, -1.7, -3.2, -4.0 }, recorded.Select(t => t.LogProb), (a, b) => Math.Abs(a - b) < 1e-6);
        double Lp(string token) => recorded.Single(t => t.Token == token).LogProb;
        var real = Math.Exp(Lp(" Real")) + Math.Exp(Lp("real"));
        var fake = Math.Exp(Lp("Fake")) + Math.Exp(Lp(" fake"));
        Assert.Equal(real / (real + fake), r.Value!.Probabilities["real"], 12);
        Assert.Equal("real", r.Value.Label);
        Assert.Equal(1, r.Value.Values["judged_real"]);
        Assert.Equal(0, r.Value.Values["hard_label"]);
        Assert.Equal("logprobs", r.Value.Details["probability_source"]);
        Assert.Equal(server.ServedModel, r.Value.Details["served_model"]);
        Assert.Equal(RealFakeOptions.DefaultPrompt, r.Value.Details["judge_prompt"]);
        Assert.Equal(5, VlmJudgeBase.ParseLogProbs(r.Value.Details["logprobs"])!.Count);
        Assert.Equal(0, server.Received.Single().Json["temperature"]!.GetValue<double>());
        Assert.Equal($"local-vlm@{server.OpenAiBase}", judge.Info.WeightsChecksum);
        Assert.Empty(Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).Where(f => File.ReadAllText(f).Contains(Key)));
    }

    [Fact]
    public async Task Without_logprobs_the_parsed_answer_is_a_hard_label_marked_as_such_and_refusals_are_refusals()
    {
        await using var server = await LocalApiServer.StartAsync();
        server.Enqueue(LocalApiServer.Chat, server.ChatCompletion("Fake.", null), server.ChatCompletion(null, null, refusal: "I can't judge faces."),
            server.ChatCompletion("I am not sure.", null));
        var (ctx, _) = Context();
        var o = Fast(new RealFakeOptions { MaxConcurrency = 1 }, server.OpenAiBase);
        using var judge = new RealFakeJudge(o, VlmJudgesPlugin.Session(o, ctx, "vlm-real-fake"), null);
        var results = new List<ItemResult<Judgement>>();
        foreach (var i in new[] { 1, 2, 3 }) results.Add((await judge.JudgeAsync([Face(i)], CancellationToken.None)).Single());
        Assert.Equal("fake", results[0].Value!.Label);
        Assert.Equal(0, results[0].Value!.Probabilities["real"]);
        Assert.Equal(1, results[0].Value!.Values["hard_label"]);
        Assert.Contains("no log-probabilities", results[0].Value!.Details["probability_source"]);
        Assert.True(results[1].IsRefusal);
        Assert.Contains("I can't judge faces.", results[1].Error);
        Assert.False(results[2].IsSuccess);
        Assert.False(results[2].IsRefusal);
        Assert.Contains("neither 'real' nor 'fake'", results[2].Error);
    }

    [Fact]
    public async Task Pairwise_asks_both_orders_and_reports_per_order_answers_and_position_bias()
    {
        await using var server = await LocalApiServer.StartAsync();
        // The judged image comes first in the first request and second in the other; the server answers by the order of the images.
        var (ctx, dir) = Context();
        var partners = Path.Combine(dir, "partners");
        Directory.CreateDirectory(partners);
        File.WriteAllBytes(Path.Combine(partners, "real1.png"), TinyPng.Gradient(24, 24, 100));
        var judged = Face(5);
        var judgedB64 = Convert.ToBase64String((await judged.ReadBytesAsync()).ToArray());
        server.ChatDefault = req =>
        {
            var first = req["messages"]![0]!["content"]!.AsArray().First(p => p!["type"]!.GetValue<string>() == "image_url")!["image_url"]!["url"]!.GetValue<string>();
            var judgedFirst = first.EndsWith(judgedB64);
            // P(A) = 0.8 when the judged image is A, 0.4 when it is B: it is called AI-made 0.8 / 0.6 of the time, and "A" is favoured.
            var pA = judgedFirst ? 0.8 : 0.4;
            return server.ChatCompletion(pA > 0.5 ? "A" : "B", [("A", Math.Log(pA)), (" b", Math.Log(1 - pA))]);
        };
        var o = Fast(new PairwiseOptions { PartnerDirectory = partners }, server.OpenAiBase);
        using var judge = new PairwiseJudge(o, VlmJudgesPlugin.Session(o, ctx, "vlm-pairwise"), null);
        var r = (await judge.JudgeAsync([judged], CancellationToken.None)).Single();
        Assert.True(r.IsSuccess, r.Error);
        var v = r.Value!.Values;
        // 1e-6: the OpenAI SDK keeps log-probabilities as float32.
        Assert.Equal(0.8, v["p_ai_image_first"], 6);
        Assert.Equal(0.6, v["p_ai_image_second"], 6);
        Assert.Equal(0.7, v["p_ai_mean"], 6);
        Assert.Equal((0.8 + 0.4) / 2 - 0.5, v["position_bias"], 6);
        Assert.Equal("ai", r.Value.Label);
        Assert.Equal(0, v["judged_real"]);
        Assert.Equal("real1.png", r.Value.Details["partner_id"]);
        Assert.Equal(("A", "B"), (r.Value.Details["answer_order1"], r.Value.Details["answer_order2"]));
        Assert.Equal(2, server.Count(LocalApiServer.Chat));
        Assert.Equal(2, o.RequestsPerItem());
    }

    [Fact]
    public async Task Rater_expected_scores_follow_from_the_recorded_logprobs_and_skip_dimensions_are_not_asked()
    {
        await using var server = await LocalApiServer.StartAsync();
        var (ctx, dir) = Context();
        var rules = Path.Combine(dir, "rules.csv");
        File.WriteAllText(rules, """
            Dimension,Option,Score,Description
            Face realism,implausible,0,"Distorted features, wrong anatomy"
            Face realism,plausible,1,Minor artefacts
            Face realism,photographic,2,"Indistinguishable from a photo, ""studio"" quality"
            Lighting,poor,0,Flat or inconsistent
            Lighting,good,1,Consistent
            Lighting,excellent,2,Professional
            Background,cluttered,0,Distracting
            Background,clean,1,Unobtrusive
            """);
        var o = Fast(new RaterOptions { RulesFile = rules, SkipDimensions = ["background"] }, server.OpenAiBase);
        Assert.Empty(o.Validate(new System.ComponentModel.DataAnnotations.ValidationContext(o)));
        Assert.Equal(2, o.RequestsPerItem());
        using var judge = new RaterJudge(o, VlmJudgesPlugin.Session(o, ctx, "vlm-rater"), null);
        var image = ImageRef.FromBytes("face", TinyPng.Gradient(40, 30, 9));
        var r = (await judge.JudgeAsync([image], CancellationToken.None)).Single();
        Assert.True(r.IsSuccess, r.Error);
        Assert.Equal(2, server.Count(LocalApiServer.Chat));
        foreach (var (slug, name) in new[] { ("face_realism", "Face realism"), ("lighting", "Lighting") })
        {
            var top = VlmJudgeBase.ParseLogProbs(r.Value!.Details[$"rater_{slug}_logprobs"])!;
            // p(k) = exp(lp_k) / sum_j exp(lp_j) over the tokens "0", "1", "2" (spellings summed); E = sum_k k p(k).
            var mass = new[] { "0", "1", "2" }.Select(k => top.Where(t => t.Token.Trim() == k).Sum(t => Math.Exp(t.LogProb))).ToArray();
            var p = mass.Select(m => m / mass.Sum()).ToArray();
            Assert.Equal(0 * p[0] + 1 * p[1] + 2 * p[2], r.Value.Values[$"rater_{slug}"], 12);
            Assert.Equal(Array.IndexOf(p, p.Max()), r.Value.Values[$"rater_{slug}_argmax"]);
            Assert.Contains(server.Received, q => LocalApiServer.PromptOf(q.Json).Contains($"Dimension: {name}"));
        }
        Assert.DoesNotContain(server.Received, q => LocalApiServer.PromptOf(q.Json).Contains("Background"));
        Assert.Contains("2: photographic - Indistinguishable from a photo, \"studio\" quality", LocalApiServer.PromptOf(server.Received.First().Json) + LocalApiServer.PromptOf(server.Received.Last().Json));
        // The image was sent resized to 512 x 512.
        var url = server.Received.First().Json["messages"]![0]!["content"]!.AsArray().First(p => p!["type"]!.GetValue<string>() == "image_url")!["image_url"]!["url"]!.GetValue<string>();
        var sent = ImageDecoder.Decode(Convert.FromBase64String(url[(url.IndexOf(',') + 1)..]), "sent");
        Assert.Equal((512, 512), (sent.Width, sent.Height));
    }

    [Fact]
    public void Rater_rules_errors_name_the_file_and_line()
    {
        var (_, dir) = Context();
        var rules = Path.Combine(dir, "bad.csv");
        File.WriteAllText(rules, "Dimension,Option,Score,Description\nRealism,ok,high,words\n");
        var e = Assert.Throws<InvalidDataException>(() => RaterRules.Load(rules));
        Assert.Contains($"{rules}:2", e.Message);
        var o = new RaterOptions { RulesFile = rules, Model = "m", Endpoint = "http://127.0.0.1:1/v1" };
        Assert.Contains(o.Validate(new System.ComponentModel.DataAnnotations.ValidationContext(o)), v => v.ErrorMessage!.Contains("single digit"));
    }

    private sealed class EmptyServices : IServiceProvider
    {
        public object? GetService(Type serviceType) => null;
    }
}
