using BiasBench.Abstractions;

// The plugin's one entry point: BiasBench finds it in the assembly's metadata before running any of its code.
[assembly: BiasBenchPlugin(typeof(BiasBench.PluginTemplate.Plugin))]

namespace BiasBench.PluginTemplate;

/// <summary>Registers the plugin's components; a config names them with <c>plugin: my-component</c>.</summary>
public sealed class Plugin : IBiasBenchPlugin
{
    /// <summary>The component's version: part of every cached result's key, so bump it when its output changes.</summary>
    public const string Version = "0.1.0";

    public void Register(IPluginRegistrar registrar)
    {
#if (isReward)
        registrar.AddRewardModel<BitsPerPixelOptions>(BitsPerPixelReward.Name, Version,
            "Encoded bits per pixel of PNG/JPEG images: 8 x file size / (width x height). A detail/texture proxy, not a human-preference model.",
            (_, options) => new BitsPerPixelReward(options));
#elif (isJudge)
        registrar.AddJudge<DetailJudgeOptions>(DetailJudge.Name, Version,
            "Labels PNG/JPEG images 'detailed' or 'plain' from their encoded bits per pixel (logistic around a threshold).",
            (_, options) => new DetailJudge(options));
#elif (isGenerator)
        registrar.AddGenerator<TestPatternOptions>(TestPatternGenerator.Name, Version,
            "Deterministic test-pattern PNGs: a gradient whose colours come from the prompt, plus noise from the seed. For trying pipelines without a diffusion model.",
            (_, options) => new TestPatternGenerator(options));
#else
        registrar.AddAnalysis<GroupSummaryOptions>(GroupSummaryAnalysis.Name, Version,
            "n, mean, sd, min and max of every numeric column of the input table, by group (e.g. by prompt condition).",
            (_, options) => new GroupSummaryAnalysis(options));
#endif
    }
}
