using System.Globalization;
using System.Text.Json.Nodes;
using BiasBench.Abstractions;
using BiasBench.Hosted;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

[assembly: BiasBenchPlugin(typeof(BiasBench.Plugins.HostedGenerators.HostedGeneratorsPlugin))]

namespace BiasBench.Plugins.HostedGenerators;

/// <summary>Image generation through hosted APIs, with the same generate stage, prompt pairs and provenance as local generators.</summary>
public sealed class HostedGeneratorsPlugin : IBiasBenchPlugin
{
    public const string Version = "1.0.0";

    public void Register(IPluginRegistrar registrar)
    {
        registrar.AddGenerator<OpenAiImagesOptions>("openai-images", Version,
            "OpenAI Images API (gpt-image-1, dall-e-3; base64 or URL; revised prompt recorded). The API takes no seed: recorded as unsupported. Key: OPENAI_API_KEY.",
            (ctx, o) => OpenAi("openai-images", o, ctx));
        registrar.AddGenerator<OpenAiCompatibleImagesOptions>("openai-compatible-images", Version,
            "Any server speaking the OpenAI Images API (endpoint required); the seed is sent in 'seed' (seed_parameter).",
            (ctx, o) => OpenAi("openai-compatible-images", o, ctx));
        registrar.AddGenerator<GeminiImagesOptions>("gemini-images", Version,
            "Gemini image output (gemini-2.5-flash-image, 'Nano Banana') via generateContent; inline base64 images; seed in generationConfig. Key: GEMINI_API_KEY.",
            (ctx, o) => Gemini(o, ctx));
    }

    private static ILogger? Logger(ComponentContext ctx, string name) => ctx.Services.GetService<ILoggerFactory>()?.CreateLogger(name);

    internal static HostedImageGenerator OpenAi(string name, OpenAiImagesOptions o, ComponentContext ctx, HttpMessageHandler? handler = null)
    {
        var session = HostedSession.Create(o, ctx.Environment, name, OpenAiImagesApi.IsRefusal, handler);
        var api = new OpenAiImagesApi(session);
        var fixedParameters = new Dictionary<string, JsonNode?>();
        if (o.Size is { Length: > 0 }) fixedParameters["size"] = o.Size;
        if (o.Quality is { Length: > 0 }) fixedParameters["quality"] = o.Quality;
        if (o.ResponseFormat is { Length: > 0 }) fixedParameters["response_format"] = o.ResponseFormat;
        if (o.Style is { Length: > 0 }) fixedParameters["style"] = o.Style;
        foreach (var (k, v) in o.ExtraParameters) fixedParameters[k] = HostedImageGenerator.ParameterValue(v);
        var seedField = string.IsNullOrWhiteSpace(o.SeedParameter) ? null : o.SeedParameter;
        var settings = new Dictionary<string, string> { ["model"] = o.Model };
        foreach (var (k, v) in fixedParameters) settings[k] = v?.ToJsonString().Trim('"') ?? "";
        return new HostedImageGenerator(name, Version, $"{o.Model} at {session.EndpointLabel}", o, session,
            (r, ct) =>
            {
                var parameters = new Dictionary<string, JsonNode?>(fixedParameters.Select(kv => KeyValuePair.Create(kv.Key, kv.Value?.DeepClone())));
                if (seedField is not null) parameters[seedField] = r.Seed;
                return api.GenerateAsync(o.Model, r.Prompt, parameters, ct);
            },
            settings, seedField is null ? "not sent: the API takes no seed (unsupported)" : $"sent as '{seedField}'", Logger(ctx, name));
    }

    internal static HostedImageGenerator Gemini(GeminiImagesOptions o, ComponentContext ctx, HttpMessageHandler? handler = null)
    {
        var session = HostedSession.Create(o, ctx.Environment, "gemini-images", null, handler);
        var api = new GeminiApi(session);
        var config = new JsonObject();
        if (o.AspectRatio is { Length: > 0 } ar) config["imageConfig"] = new JsonObject { ["aspectRatio"] = ar };
        if (o.Temperature is { } t) config["temperature"] = t;
        var settings = new Dictionary<string, string> { ["model"] = o.Model };
        if (o.AspectRatio is { Length: > 0 }) settings["aspect_ratio"] = o.AspectRatio;
        if (o.Temperature is { } temp) settings["temperature"] = temp.ToString(CultureInfo.InvariantCulture);
        return new HostedImageGenerator("gemini-images", Version, $"{o.Model} at {session.EndpointLabel}", o, session,
            (r, ct) => api.GenerateAsync(o.Model, r.Prompt, o.SendSeed ? r.Seed : null, config, ct),
            settings, o.SendSeed ? "sent as generationConfig.seed" : "not sent (send_seed: false)", Logger(ctx, "gemini-images"));
    }
}
