using static TorchSharp.torch;

namespace BiasBench.Generation.Tests;

/// <summary>The Stable Diffusion pipeline against diffusers on the sd_tiny fixture: tokenizer, text encoder, CFG loop, VAE.</summary>
public sealed class StableDiffusionPipelineTests(ITestOutputHelper output)
{
    private static StableDiffusionPipeline Load(string folder) =>
        StableDiffusionPipeline.Load(new PipelineLoadOptions(folder, "cpu", ScalarType.Float32), GenerationFixture.ClipBpe());

    [Fact]
    public void PromptsTokenizeToTheFixtureIds()
    {
        var folder = GenerationFixture.Folder(GenerationFixture.StableDiffusion);
        using var pipeline = Load(folder);
        using var json = GenerationFixture.CasesJson(folder);
        var prompts = json.RootElement.GetProperty("prompts").EnumerateArray().Select(e => e.GetString()!).ToList();
        var cases = GenerationFixture.Cases(folder);
        try
        {
            var (ids, _) = pipeline.Tokenize(prompts);
            using (ids) Assert.Equal(cases["input_ids"].data<long>().ToArray(), ids.data<long>().ToArray());
            using var noGrad = no_grad();
            using var embeddings = pipeline.EncodePrompts(prompts);
            var diff = GenerationFixture.MaxAbsDiff(embeddings, cases["text_embeddings"]);
            Assert.True(diff <= GenerationFixture.Tolerance, $"text embeddings differ by {diff:E3}");
        }
        finally { cases.DisposeAll(); }
    }

    [Fact]
    public void A_sharded_text_encoder_loads_through_its_index_and_encodes_like_diffusers()
    {
        var folder = GenerationFixture.Folder(GenerationFixture.StableDiffusion);
        var copy = Directory.CreateTempSubdirectory("biasbench-sd-sharded-").FullName;
        try
        {
            // The fixture pipeline with its text encoder split into two shards + model.safetensors.index.json (transformers' layout).
            foreach (var entry in Directory.EnumerateFileSystemEntries(folder).Where(e => Path.GetFileName(e) != "text_encoder"))
                if (Directory.Exists(entry)) Directory.CreateSymbolicLink(Path.Combine(copy, Path.GetFileName(entry)), entry);
                else File.CreateSymbolicLink(Path.Combine(copy, Path.GetFileName(entry)), entry);
            var text = Directory.CreateDirectory(Path.Combine(copy, "text_encoder")).FullName;
            File.Copy(Path.Combine(folder, "text_encoder", "config.json"), Path.Combine(text, "config.json"));
            var weightMap = new System.Text.Json.Nodes.JsonObject();
            using (var original = BiasBench.Torch.Weights.SafeTensorsFile.Open(Path.Combine(folder, "text_encoder", "model.safetensors")))
            {
                var names = original.Entries.Keys.Order(StringComparer.Ordinal).ToList();
                Assert.True(names.Count >= 2);
                var halves = new[] { names.Take(names.Count / 2).ToList(), names.Skip(names.Count / 2).ToList() };
                for (var i = 0; i < 2; i++)
                {
                    var shard = $"model-0000{i + 1}-of-00002.safetensors";
                    var tensors = halves[i].ToDictionary(n => n, n => original.Load(n));
                    BiasBench.Torch.Weights.SafeTensorsFile.Save(Path.Combine(text, shard), tensors);
                    foreach (var (n, t) in tensors) { weightMap[n] = shard; t.Dispose(); }
                }
            }
            File.WriteAllText(Path.Combine(text, "model.safetensors.index.json"),
                new System.Text.Json.Nodes.JsonObject { ["metadata"] = new System.Text.Json.Nodes.JsonObject(), ["weight_map"] = weightMap }.ToJsonString());

            using var pipeline = Load(copy);
            using var json = GenerationFixture.CasesJson(folder);
            var prompts = json.RootElement.GetProperty("prompts").EnumerateArray().Select(e => e.GetString()!).ToList();
            var cases = GenerationFixture.Cases(folder);
            try
            {
                using var noGrad = no_grad();
                using var embeddings = pipeline.EncodePrompts(prompts);
                var diff = GenerationFixture.MaxAbsDiff(embeddings, cases["text_embeddings"]);
                output.WriteLine($"sharded text encoder: text embeddings {diff:E2} from diffusers'");
                Assert.True(diff <= GenerationFixture.Tolerance, $"text embeddings differ by {diff:E3}");
            }
            finally { cases.DisposeAll(); }
        }
        finally { Directory.Delete(copy, recursive: true); }
    }

    [Fact]
    public void GuidedDdimRunMatchesDiffusers()
    {
        var folder = GenerationFixture.Folder(GenerationFixture.StableDiffusion);
        using var pipeline = Load(folder);
        using var json = GenerationFixture.CasesJson(folder);
        var root = json.RootElement;
        var prompts = root.GetProperty("prompts").EnumerateArray().Select(e => e.GetString()!).ToList();
        var guidance = root.GetProperty("guidance_scale").GetDouble();
        var timesteps = root.GetProperty("timesteps").EnumerateArray().Select(e => e.GetDouble()).ToList();
        var cases = GenerationFixture.Cases(folder);
        try
        {
            // The fixture's recipe: prompt 0 guided, prompt 1 ("") as the unconditional half; the folder's DDIM config.
            var scheduler = pipeline.CreateScheduler(new SamplingSettings());
            var schedule = scheduler.Schedule(timesteps.Count);
            Assert.Equal(timesteps, schedule.Timesteps);
            using var noGrad = no_grad();
            using var conditioning = pipeline.Conditioning([prompts[0]], [prompts[1]], guidance);
            using var start = cases["latents_T"] * schedule.InitNoiseSigma;
            using var latents = pipeline.Sample(scheduler, schedule, start, conditioning, guidance, null);
            var latentDiff = GenerationFixture.MaxAbsDiff(latents, cases["ddim4_cfg7.5_latents_0"]);
            using var image = pipeline.Decode(latents);
            var imageDiff = GenerationFixture.MaxAbsDiff(image, cases["ddim4_cfg7.5_image01"]);
            output.WriteLine($"4-step DDIM, CFG {guidance}: latents max |diff| = {latentDiff:E3}, image {imageDiff:E3}");
            Assert.True(latentDiff <= GenerationFixture.Tolerance, $"latents differ by {latentDiff:E3}");
            Assert.True(imageDiff <= GenerationFixture.Tolerance, $"image differs by {imageDiff:E3}");
        }
        finally { cases.DisposeAll(); }
    }

    [Fact]
    public void GenerateGivesOneImagePerPromptOfTheConfiguredSize()
    {
        var folder = GenerationFixture.Folder(GenerationFixture.StableDiffusion);
        using var pipeline = Load(folder);
        var settings = new SamplingSettings { Steps = 2, GuidanceScale = 7.5 };
        using var images = pipeline.Generate(["a face", "a photo of a face"], [null, "blurry"], [1, 2], settings);
        var size = pipeline.LatentShape(settings)[1] * pipeline.VaeScaleFactor;
        Assert.Equal(new long[] { 2, 3, size, size }, images.shape);
        using var again = pipeline.Generate(["a photo of a face"], ["blurry"], [2], settings);
        // Batched convolutions and GEMMs may sum in another order than single-item ones (libtorch picks kernels by
        // shape), so a batch and a single run agree to float round-off, not bit for bit; the noise itself is identical.
        Assert.True(GenerationFixture.MaxAbsDiff(images[1..2], again) < 1e-4);
    }
}
