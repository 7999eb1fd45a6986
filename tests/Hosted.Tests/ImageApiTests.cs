using System.Text.Json.Nodes;
using BiasBench.TestSupport.ApiServers;

namespace BiasBench.Hosted.Tests;

/// <summary>The hand-written OpenAI Images and Gemini generateContent clients against the local server.</summary>
public class ImageApiTests
{
    private static HostedSession Session(LocalApiServer server, string endpoint, Func<System.Net.HttpStatusCode, string, bool>? definitive = null)
    {
        var (run, _) = Env.Run();
        return HostedSession.Create(new FastOptions(endpoint), run, "gen", definitive, null, Env.WithKey);
    }

    [Fact]
    public async Task OpenAI_images_base64_with_revised_prompt_usage_and_extra_fields()
    {
        await using var server = await LocalApiServer.StartAsync();
        using var session = Session(server, server.OpenAiBase);
        var image = await new OpenAiImagesApi(session).GenerateAsync("gpt-image-1", "a portrait photo of a face",
            new Dictionary<string, JsonNode?> { ["size"] = "1024x1024", ["seed"] = 7 }, CancellationToken.None);
        Assert.Equal("image/png", image.MediaType);
        Assert.Equal(TinyPng.Gradient(64, 64, 7 ^ "a portrait photo of a face".Length), image.Bytes);
        Assert.Equal("A detailed studio portrait: a portrait photo of a face", image.RevisedPrompt);
        Assert.Equal("4160", image.Usage["output_tokens"]);
        var sent = server.Received.Single().Json;
        Assert.Equal("gpt-image-1", sent["model"]!.GetValue<string>());
        Assert.Equal(7, sent["seed"]!.GetValue<int>());
    }

    [Fact]
    public async Task OpenAI_images_by_url_are_downloaded_without_the_key()
    {
        await using var server = await LocalApiServer.StartAsync();
        using var session = Session(server, server.OpenAiBase);
        var image = await new OpenAiImagesApi(session).GenerateAsync("dall-e-3", "a face",
            new Dictionary<string, JsonNode?> { ["response_format"] = "url" }, CancellationToken.None);
        Assert.Equal("image/png", image.MediaType);
        Assert.Equal("image/png", ImageFormats.Sniff(image.Bytes));
        var download = server.Received.Single(r => r.Route == LocalApiServer.Files);
        Assert.Null(download.Authorization);
    }

    [Fact]
    public async Task OpenAI_images_content_policy_400_is_a_refusal_and_cached()
    {
        await using var server = await LocalApiServer.StartAsync();
        server.Enqueue(LocalApiServer.Images, new Reply(400,
            """{"error":{"code":"content_policy_violation","message":"Your request was rejected as a result of our safety system.","type":"invalid_request_error"}}"""));
        using var session = Session(server, server.OpenAiBase, OpenAiImagesApi.IsRefusal);
        var api = new OpenAiImagesApi(session);
        var first = await api.GenerateAsync("dall-e-3", "x", new Dictionary<string, JsonNode?>(), CancellationToken.None);
        Assert.Contains("safety system", first.Refusal);
        Assert.Null(first.Bytes);
        var again = await api.GenerateAsync("dall-e-3", "x", new Dictionary<string, JsonNode?>(), CancellationToken.None);
        Assert.NotNull(again.Refusal);
        Assert.Equal(1, server.Count(LocalApiServer.Images));
    }

    [Fact]
    public async Task OpenAI_images_malformed_and_400_errors_are_errors()
    {
        await using var server = await LocalApiServer.StartAsync();
        server.Enqueue(LocalApiServer.Images, new Reply(200, """{"created":1,"data":[{"b64_json":"%%%not base64"}]}"""),
            new Reply(400, """{"error":{"code":"invalid_size","message":"Invalid size 7x7."}}"""), new Reply(200, "not json"));
        using var session = Session(server, server.OpenAiBase, OpenAiImagesApi.IsRefusal);
        var api = new OpenAiImagesApi(session);
        var empty = new Dictionary<string, JsonNode?>();
        Assert.Contains("not base64", (await Assert.ThrowsAsync<HostedApiException>(() => api.GenerateAsync("m", "a", empty, CancellationToken.None))).Message);
        Assert.Contains("Invalid size", (await Assert.ThrowsAsync<HostedApiException>(() => api.GenerateAsync("m", "b", empty, CancellationToken.None))).Message);
        Assert.Contains("malformed response", (await Assert.ThrowsAsync<HostedApiException>(() => api.GenerateAsync("m", "c", empty, CancellationToken.None))).Message);
    }

    [Fact]
    public async Task Gemini_inline_image_with_seed_served_model_and_key_in_a_header()
    {
        await using var server = await LocalApiServer.StartAsync();
        using var session = Session(server, server.GeminiBase);
        var image = await new GeminiApi(session).GenerateAsync("gemini-2.5-flash-image", "a face", 3, null, CancellationToken.None);
        Assert.Equal(TinyPng.Gradient(64, 64, 3 ^ "a face".Length), image.Bytes);
        Assert.Equal(server.ServedModel, image.ServedModel);
        Assert.Equal("1290", image.Usage["candidatesTokenCount"]);
        var request = server.Received.Single();
        Assert.Equal("/v1beta/models/gemini-2.5-flash-image:generateContent", request.Path);
        Assert.Equal(Env.Key, request.GoogApiKey);
        Assert.Null(request.Authorization);
        Assert.Equal(3, request.Json["generationConfig"]!["seed"]!.GetValue<int>());
        Assert.Equal(["TEXT", "IMAGE"], request.Json["generationConfig"]!["responseModalities"]!.AsArray().Select(x => x!.GetValue<string>()));
    }

    [Fact]
    public async Task Gemini_blocks_and_text_only_answers_are_refusals()
    {
        await using var server = await LocalApiServer.StartAsync();
        server.Enqueue(LocalApiServer.Gemini, new Reply(200, """{"promptFeedback":{"blockReason":"SAFETY"},"modelVersion":"g"}"""),
            new Reply(200, server.GeminiJson(null, null, "IMAGE_SAFETY").ToJsonString()),
            new Reply(200, server.GeminiJson(null, "I can't create images of real people.").ToJsonString()));
        using var session = Session(server, server.GeminiBase);
        var api = new GeminiApi(session);
        Assert.Contains("SAFETY", (await api.GenerateAsync("g", "a", 1, null, CancellationToken.None)).Refusal);
        Assert.Contains("IMAGE_SAFETY", (await api.GenerateAsync("g", "b", 1, null, CancellationToken.None)).Refusal);
        var textOnly = await api.GenerateAsync("g", "c", 1, null, CancellationToken.None);
        Assert.Contains("no image returned", textOnly.Refusal);
        Assert.Contains("real people", textOnly.Refusal);
    }
}
