using BiasBench.Abstractions;
using BiasBench.TestSupport.ApiServers;

namespace BiasBench.Plugins.HostedGenerators.Tests;

/// <summary>The hosted generators against a local server: provenance, seeds, refusals and errors per item.</summary>
public class HostedGeneratorsTests
{
    private static ComponentContext Context()
    {
        var dir = Path.Combine(Path.GetTempPath(), "biasbench-tests", "gen-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(dir);
        Environment.SetEnvironmentVariable("BB_GEN_TEST_KEY", "sk-gen-test-77aa");
        return new ComponentContext(new EmptyServices(), new RunEnvironment("cpu", Path.Combine(dir, "run"), dir, Path.Combine(dir, "cache"), 0));
    }

    private static T Fast<T>(T o, string endpoint) where T : Hosted.RemoteApiOptions
    {
        o.Endpoint = endpoint; o.ApiKeyEnv = "BB_GEN_TEST_KEY"; o.RetryBaseDelayMs = 10; o.AttemptTimeoutSeconds = 10;
        return o;
    }

    private static readonly GenerationRequest[] Pair =
    [
        new("a photo of an attractive face", 3) { Tags = new Dictionary<string, string> { ["condition"] = "attractive" } },
        new("a photo of an unattractive face", 3) { Tags = new Dictionary<string, string> { ["condition"] = "unattractive" } },
    ];

    [Fact]
    public async Task OpenAI_images_record_the_revised_prompt_and_the_seed_as_unsupported_and_report_refusals()
    {
        await using var server = await LocalApiServer.StartAsync();
        server.Enqueue(LocalApiServer.Images, new Reply(400, """{"error":{"code":"moderation_blocked","message":"Your request was rejected by the safety system."}}"""));
        using var generator = HostedGeneratorsPlugin.OpenAi("openai-images", Fast(new OpenAiImagesOptions { Size = "1024x1024", MaxConcurrency = 1 }, server.OpenAiBase), Context());
        var results = await generator.GenerateAsync(Pair, CancellationToken.None);
        Assert.True(results[0].IsRefusal);
        Assert.Contains("safety system", results[0].Error);
        var ok = results[1].Value!;
        Assert.Equal("image/png", Hosted.ImageFormats.Sniff(ok.EncodedPng));
        Assert.Equal("A detailed studio portrait: a photo of an unattractive face", ok.Provenance.Settings["revised_prompt"]);
        Assert.Contains("unsupported", ok.Provenance.Settings["seed"]);
        Assert.Equal("gpt-image-1", ok.Provenance.Settings["model"]);
        Assert.Equal("1024x1024", ok.Provenance.Settings["size"]);
        Assert.Equal(3, ok.Provenance.Seed);
        Assert.All(server.Received, r => Assert.Null(r.Json["seed"]));
        Assert.Equal($"gpt-image-1@{server.OpenAiBase}", generator.Info.WeightsChecksum);
    }

    [Fact]
    public async Task OpenAI_compatible_images_send_the_seed_and_gemini_sends_it_in_generation_config()
    {
        await using var server = await LocalApiServer.StartAsync();
        using (var compatible = HostedGeneratorsPlugin.OpenAi("openai-compatible-images", Fast(new OpenAiCompatibleImagesOptions { Model = "flux-local" }, server.OpenAiBase), Context()))
        {
            var r = await compatible.GenerateAsync(Pair, CancellationToken.None);
            Assert.All(r, x => Assert.True(x.IsSuccess, x.Error));
            Assert.Equal("sent as 'seed'", r[0].Value!.Provenance.Settings["seed"]);
            Assert.All(server.Received, q => Assert.Equal(3, q.Json["seed"]!.GetValue<int>()));
        }
        server.Enqueue(LocalApiServer.Gemini, new Reply(500, "{}"), new Reply(200, """{"candidates":[{"content":{"parts":[{"inlineData":{"mimeType":"image/png","data":"bm90IGFuIGltYWdl"}}]},"finishReason":"STOP"}]}"""));
        using var gemini = HostedGeneratorsPlugin.Gemini(Fast(new GeminiImagesOptions { MaxConcurrency = 1, MaxRetries = 1 }, server.GeminiBase), Context());
        var g = await gemini.GenerateAsync(Pair, CancellationToken.None);
        Assert.False(g[0].IsSuccess);  // 500 then an answer whose image bytes are not an image
        Assert.Contains("not a readable image", g[0].Error);
        Assert.True(g[1].IsSuccess, g[1].Error);
        Assert.Equal(server.ServedModel, g[1].Value!.Provenance.Settings["served_model"]);
        Assert.Equal("sent as generationConfig.seed", g[1].Value!.Provenance.Settings["seed"]);
        Assert.Equal("1290", g[1].Value!.Provenance.Settings["usage_candidatesTokenCount"]);
        Assert.Equal(3, server.Count(LocalApiServer.Gemini));
    }

    [Fact]
    public void Non_png_images_are_re_encoded_as_png()
    {
        using var bitmap = new SkiaSharp.SKBitmap(4, 4);
        bitmap.Erase(SkiaSharp.SKColors.Coral);
        using var jpeg = SkiaSharp.SKImage.FromBitmap(bitmap).Encode(SkiaSharp.SKEncodedImageFormat.Jpeg, 90);
        var png = HostedImageGenerator.ToPng(jpeg.ToArray(), "image/jpeg");
        Assert.Equal("image/png", Hosted.ImageFormats.Sniff(png));
    }

    private sealed class EmptyServices : IServiceProvider
    {
        public object? GetService(Type serviceType) => null;
    }
}
