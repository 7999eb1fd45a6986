using BiasBench.Abstractions;
using BiasBench.Hosted;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

[assembly: BiasBenchPlugin(typeof(BiasBench.Plugins.VlmJudges.VlmJudgesPlugin))]

namespace BiasBench.Plugins.VlmJudges;

/// <summary>VLM judges over any OpenAI-compatible chat completions endpoint.</summary>
public sealed class VlmJudgesPlugin : IBiasBenchPlugin
{
    public const string Version = "1.0.0";

    public void Register(IPluginRegistrar registrar)
    {
        registrar.AddJudge<RealFakeOptions>("vlm-real-fake", Version,
            "Asks a VLM whether a face photo is real or AI-generated; P(real) from the first answer token's log-probabilities (hard label without them).",
            (ctx, o) => new RealFakeJudge(o, Session(o, ctx, "vlm-real-fake"), Logger(ctx, "vlm-real-fake")));
        registrar.AddJudge<PairwiseOptions>("vlm-pairwise", Version,
            "Shows a face with a partner face, asks which is AI-generated in both orders; per-order answers and position bias.",
            (ctx, o) => new PairwiseJudge(o, Session(o, ctx, "vlm-pairwise"), Logger(ctx, "vlm-pairwise")));
        registrar.AddJudge<RaterOptions>("vlm-rater", Version,
            "VisionReward-style rater: one question per dimension of a rules CSV (Dimension, Option, Score, Description); expected score sum_k k*p(k) and argmax per dimension.",
            (ctx, o) => new RaterJudge(o, Session(o, ctx, "vlm-rater"), Logger(ctx, "vlm-rater")));
    }

    internal static HostedSession Session(VlmJudgeOptions o, ComponentContext ctx, string name, HttpMessageHandler? handler = null) =>
        HostedSession.Create(o, ctx.Environment, name, (status, body) => status == System.Net.HttpStatusCode.BadRequest && VlmChat.IsContentPolicy(body), handler);

    private static ILogger? Logger(ComponentContext ctx, string name) => ctx.Services.GetService<ILoggerFactory>()?.CreateLogger(name);
}
