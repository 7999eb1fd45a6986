using System.Text.Json;
using BiasBench.Abstractions;
using BiasBench.Torch.Backend;
using BiasBench.Torch.Weights;
using BiasBench.TestSupport;
using static TorchSharp.torch;

namespace BiasBench.Plugins.Onnx.Tests;

public class OnnxRewardModelTests
{
    private const double Tolerance = 1e-4;

    /// <summary>The ONNX model named in onnx_clip/ (the only .onnx file there).</summary>
    private static string ModelPath() =>
        Directory.GetFiles(Fixtures.Path_("onnx_clip"), "*.onnx").Single();

    private static OnnxRewardOptions Options() => new()
    {
        ModelPath = ModelPath(),
        BpeVocabPath = Fixtures.Data("tokenizers/clip_bpe_simple_vocab_16e6.txt.gz"),
        TextCleaning = "huggingface",
        PadId = 49407,
        Output = "logits_per_image",
        Reduce = "diagonal",
    };

    [Fact]
    public void Every_output_matches_the_torch_reference_on_the_same_cases()
    {
        TorchBackend.EnsureInitialized();
        var onnxCases = JsonDocument.Parse(File.ReadAllText(Fixtures.File("onnx_clip/cases.json"))).RootElement;
        // "same_cases_as": the inputs and torch outputs live in another fixture folder.
        var casesFile = Fixtures.File(onnxCases.GetProperty("same_cases_as").GetString()!);
        using var cases = SafeTensorsFile.Open(casesFile);
        using var scope = NewDisposeScope();
        var pixels = cases.Load("pixel_values", ScalarType.Float32);
        var ids = cases.Load("input_ids", ScalarType.Int64);
        var mask = cases.Load("attention_mask", ScalarType.Int64);
        using var model = new OnnxRewardModel(Options());
        var outputs = model.Run(pixels.data<float>().ToArray(), (int)pixels.shape[0], ids.data<long>().ToArray(), mask.data<long>().ToArray(), (int)ids.shape[0]);

        var names = onnxCases.GetProperty("outputs").EnumerateArray().Select(o => o.GetString()!.Split(' ')[0]).ToList();
        Assert.NotEmpty(names);
        foreach (var name in names)
        {
            var expected = cases.Load(name, ScalarType.Float32);
            var (data, shape) = outputs[name];
            Assert.Equal(expected.shape, shape);
            var diff = expected.data<float>().ToArray().Zip(data, (e, a) => Math.Abs(e - a)).Max();
            Assert.True(diff <= Tolerance, $"{name}: max |diff| {diff:E3} > {Tolerance}");
        }
    }

    [Fact]
    public async Task Scoring_images_from_files_matches_the_reference_diagonal()
    {
        TorchBackend.EnsureInitialized();
        var clipCases = JsonDocument.Parse(File.ReadAllText(Fixtures.File("clip_hf/cases.json"))).RootElement;
        var images = clipCases.GetProperty("images").EnumerateArray().Select(e => Fixtures.File(e.GetString()!)).ToList();
        var prompts = clipCases.GetProperty("prompts").EnumerateArray().Select(e => e.GetString()!).ToList();
        using var cases = SafeTensorsFile.Open(Fixtures.File("clip_hf/cases.safetensors"));
        using var scope = NewDisposeScope();
        var logits = cases.Load("logits_per_image", ScalarType.Float32); // [images, prompts]
        using var model = new OnnxRewardModel(Options());
        var requests = new List<RewardRequest>(); var expected = new List<float>();
        for (var i = 0; i < images.Count; i++)
        for (var p = 0; p < prompts.Count; p++)
        {
            requests.Add(new RewardRequest(ImageRef.FromFile($"i{i}", images[i]), prompts[p]));
            expected.Add(logits[i, p].item<float>());
        }
        var results = await model.ScoreAsync(requests, TestContext.Current.CancellationToken);
        for (var k = 0; k < results.Count; k++)
        {
            Assert.True(results[k].IsSuccess, results[k].Error);
            // Decoded PNGs through the PIL-exact path (pixels equal the reference), ONNX Runtime vs torch ~2e-5
            // (onnx_clip/cases.json): the parity bound of every scoring path holds.
            Assert.True(Math.Abs(results[k].Value - expected[k]) <= Tolerance, $"pair {k}: {results[k].Value} vs {expected[k]} (|diff| {Math.Abs(results[k].Value - expected[k]):E2})");
        }
        Assert.False(model.Info.Semantics.ComparableAcrossPrompts);
        Assert.Equal(64, model.Info.WeightsChecksum!.Length);
    }

    [Fact]
    public async Task A_bad_image_fails_only_its_item()
    {
        using var model = new OnnxRewardModel(Options());
        var good = Fixtures.File("preprocess/crop.png");
        var results = await model.ScoreAsync(
            [new RewardRequest(ImageRef.FromBytes("junk", "not an image"u8.ToArray()), "a face"), new RewardRequest(ImageRef.FromFile("ok", good), "a face")],
            TestContext.Current.CancellationToken);
        Assert.False(results[0].IsSuccess);
        Assert.Contains("junk", results[0].Error);
        Assert.True(results[1].IsSuccess, results[1].Error);
    }

    [Fact]
    public void Unmapped_inputs_and_unknown_outputs_are_named()
    {
        var noOutput = Assert.Throws<InvalidDataException>(() => new OnnxRewardModel(new OnnxRewardOptions
        {
            ModelPath = ModelPath(), BpeVocabPath = Options().BpeVocabPath, Output = "reward",
        }));
        Assert.Contains("no output 'reward'", noOutput.Message);
        Assert.Contains("logits_per_image", noOutput.Message);

        var noImage = Assert.Throws<InvalidDataException>(() => new OnnxRewardModel(new OnnxRewardOptions
        {
            ModelPath = ModelPath(), BpeVocabPath = Options().BpeVocabPath, ImageInput = "image",
        }));
        Assert.Contains("no input 'image'", noImage.Message);

        var missing = Assert.Throws<FileNotFoundException>(() => new OnnxRewardModel(new OnnxRewardOptions { ModelPath = "/nonexistent/model.onnx" }));
        Assert.Contains("/nonexistent/model.onnx", missing.Message);
    }

    [Fact]
    public async Task Auto_on_a_gpu_run_without_a_usable_cuda_provider_falls_back_to_the_cpu_with_a_warning_and_the_same_scores()
    {
        var logger = new RecordingLogger();
        using var onCpu = new OnnxRewardModel(Options(), device: "cpu");
        using var onGpuRun = new OnnxRewardModel(Options(), logger, device: "cuda:1");
        Assert.Equal("CPUExecutionProvider", onCpu.ExecutionProvider);
        // This machine has no GPU: either the CPU build has no CUDA provider or the CUDA build cannot load it.
        Assert.Equal("CPUExecutionProvider", onGpuRun.ExecutionProvider);
        var warning = Assert.Single(logger.Messages);
        Assert.Contains(ModelPath(), warning);
        Assert.Contains("cuda:1", warning);
        Assert.Contains("execution_provider: cpu", warning);
        Assert.EndsWith("; CPUExecutionProvider", onGpuRun.Info.Preprocessing);

        var request = new RewardRequest(ImageRef.FromFile("crop", Fixtures.File("preprocess/crop.png")), "a face");
        var a = await onCpu.ScoreAsync([request], TestContext.Current.CancellationToken);
        var b = await onGpuRun.ScoreAsync([request], TestContext.Current.CancellationToken);
        Assert.True(a[0].IsSuccess, a[0].Error);
        Assert.Equal(a[0].Value, b[0].Value);
    }

    [Fact]
    public void Asking_for_cuda_where_it_cannot_run_is_a_clear_error_naming_the_model_and_the_remedy()
    {
        var options = Options();
        options.ExecutionProvider = "cuda";
        var error = Assert.Throws<InvalidOperationException>(() => new OnnxRewardModel(options, device: "cpu"));
        Assert.Contains(ModelPath(), error.Message);
        Assert.Contains("execution_provider cuda is not available", error.Message);
        Assert.True(error.Message.Contains("BiasBenchOnnxGpu=true") || error.Message.Contains("did not load"), error.Message);
    }

    private sealed class RecordingLogger : Microsoft.Extensions.Logging.ILogger
    {
        public List<string> Messages { get; } = [];
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel level) => true;
        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel level, Microsoft.Extensions.Logging.EventId id, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Messages.Add(formatter(state, exception));
    }
}
