using BiasBench.Abstractions;
using BiasBench.Abstractions.Torch;
using BiasBench.Plugins.Generators;
using BiasBench.Plugins.ResNetJudge;
using BiasBench.TestSupport;
using BiasBench.Torch.Weights;
using Microsoft.Extensions.Logging.Abstractions;
using static TorchSharp.torch;

namespace BiasBench.Plugins.FineTuning.Tests;

/// <summary>
/// The training loop on the draft_step fixture's tiny UNet with the fixture aesthetic reward and the fixture ResNet
/// judge (CPU, seconds): the reward rises, a run killed half way and resumed ends bit for bit where an uninterrupted
/// one does, and a killed run keeps every finished monitor row.
/// </summary>
public sealed class FineTunerTrainingTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _temp = Directory.CreateTempSubdirectory("biasbench-finetune-").FullName;

    public void Dispose() => Directory.Delete(_temp, recursive: true);

    private sealed class Killed : Exception;

    private static T Options<T>(DraftStepFixture fixture, int trainingSteps) where T : RewardFineTuningOptions, new()
    {
        var steps = DraftStepFixture.SamplingSteps(fixture.Case(fixture.TrainingCases.First()));
        return new T
        {
            Generator = fixture.GeneratorReference(steps),
            Reward = fixture.RewardReference(),
            TrainingSteps = trainingSteps,
            BatchSize = 2,
            LearningRate = 2e-3,
            Precision = "float32",
            CheckpointEverySteps = 2,
            LogEverySteps = 1,
            MonitorEverySteps = 2,
            MonitorImages = 4,
            GridImages = 4,
            Judges = [new ComponentReference<IJudge>
            {
                Plugin = ResNetJudge.ResNetJudge.ModelName,
                Options = new ResNetJudgeOptions { CheckpointPath = Fixtures.File("resnet_attractiveness/model.safetensors"), ImageSize = 32, Threshold = 0.5 },
            }],
            MonitorRewards = [new ComponentReference<IRewardModel> { Plugin = "laion-aesthetic-v2", Options = fixture.RewardOptions() }],
        };
    }

    private FineTuneResult Train(RewardFineTuningOptions options, string work, Action<long>? onStep = null)
    {
        // A fresh resolver per run: a resumed run starts from nothing in memory, as a new process would.
        using var components = new PluginComponents(_temp);
        var tuner = components.FineTuner(options.Algorithm, options);
        return tuner.Run(Path.Combine(work, "out"), work, seed: 3, NullLogger.Instance, null, onStep, CancellationToken.None);
    }

    [Fact]
    public void A_few_updates_raise_the_reward_and_the_result_loads_as_a_ddpm_model()
    {
        using var fixture = DraftStepFixture.Open();
        var options = Options<DraftOptions>(fixture, trainingSteps: 6);
        options.MonitorEverySteps = 6;
        var work = Path.Combine(_temp, "raise");
        var result = Train(options, work);

        var monitor = result.Tables.Single(t => t.Name == "monitor");
        var steps = monitor.Numeric("step").Values;
        var reward = monitor.Numeric("training_reward").Values;
        output.WriteLine($"monitor: {string.Join("; ", steps.Select((s, i) => $"step {s}: reward {reward[i]:G6}"))}");
        Assert.Equal([0.0, 6.0], steps);
        Assert.True(reward[1] > reward[0], $"the training reward on the monitor seeds did not rise: {reward[0]} -> {reward[1]}");
        var log = result.TrainingLog;
        Assert.Equal(6, log.RowCount);
        Assert.All(log.Numeric("gradient_norm").Values, v => Assert.True(double.IsFinite(v) && v > 0));
        Assert.Contains(result.Figures, f => f.Name == "reward-vs-judged" && f.Png.Length > 0 && f.Svg!.Contains("<svg"));
        Assert.Contains(result.Figures, f => f.Name == "samples-step-6");
        Assert.Contains(monitor.Columns, c => c.Name == "judge.resnet-attractiveness.attractive_share");

        // The stage output is a diffusers folder the ddpm generator loads; it samples what the trained network sampled.
        Assert.True(File.Exists(Path.Combine(result.CheckpointPath, "unet", "diffusion_pytorch_model.safetensors")));
        var trained = new DdpmGeneratorOptions { Model = result.CheckpointPath, Scheduler = "ddim", Steps = DraftStepFixture.SamplingSteps(fixture.Case(fixture.TrainingCases.First())), Device = "cpu", Dtype = "float32" };
        using var generator = new DdpmGenerator(trained, "cpu", NullLogger.Instance);
        // The monitor generated in batches of the generator's batch size; the same batch gives the same floating-point work.
        var images = generator.GenerateAsync(Enumerable.Range(0, fixture.Batch).Select(i => new GenerationRequest("x", options.MonitorSeedStart + i)).ToList(),
            CancellationToken.None).GetAwaiter().GetResult();
        Assert.True(images[0].IsSuccess);
        var gridTopLeft = BiasBench.Imaging.ImageDecoder.Decode(File.ReadAllBytes(Path.Combine(work, "grids", "step-0000006.png")), "grid");
        var image = BiasBench.Imaging.ImageDecoder.Decode(images[0].Value!.EncodedPng, "reloaded");
        for (var y = 0; y < image.Height; y++)
            Assert.True(image.Pixels.AsSpan(y * image.Width * 3, image.Width * 3).SequenceEqual(gridTopLeft.Pixels.AsSpan(y * gridTopLeft.Width * 3, image.Width * 3)),
                $"row {y} of the reloaded model's first monitor image differs from the monitor's grid");

        // A re-run of the finished run returns its results without training again.
        var again = Train(options, work, _ => throw new InvalidOperationException("trained again"));
        Assert.Equal(result.CheckpointPath, again.CheckpointPath);
        Assert.Equal(6, again.TrainingLog.RowCount);
    }

    [Fact]
    public void A_resumed_run_ends_bit_for_bit_where_an_uninterrupted_one_does_and_keeps_its_monitor_rows()
    {
        using var fixture = DraftStepFixture.Open();
        RewardFineTuningOptions Make()
        {
            var o = Options<DraftLvOptions>(fixture, trainingSteps: 4);
            o.GradientAccumulation = 2;
            o.EmaDecay = 0.9;
            o.BasePenalty = 0.5;
            o.WarmupSteps = 2;
            return o;
        }
        var straight = Path.Combine(_temp, "straight");
        var straightResult = Train(Make(), straight);

        var resumed = Path.Combine(_temp, "resumed");
        Assert.Throws<Killed>(() => Train(Make(), resumed, step => { if (step == 3) throw new Killed(); }));
        // Killed after update 3: the checkpoint is update 2's, the monitor kept rows 0 and 2, the log rows 1-3.
        var monitorCsv = Path.Combine(resumed, "monitor.csv");
        var killedRows = File.ReadAllLines(monitorCsv).Skip(1).Select(l => l.Split(',')[0]).ToList();
        Assert.Equal(["0", "2"], killedRows);
        Assert.Equal(2, BiasBench.Training.TrainingCheckpoint.PeekPosition(Path.Combine(resumed, RewardFineTuner.StateFile))!.Step);
        // A kill in the middle of writing a row leaves a torn line: it is dropped, the finished rows stay.
        File.AppendAllText(monitorCsv, "4,0.12");
        var resumedResult = Train(Make(), resumed);

        AssertSameTensors(Path.Combine(straightResult.CheckpointPath, "unet", "diffusion_pytorch_model.safetensors"),
            Path.Combine(resumedResult.CheckpointPath, "unet", "diffusion_pytorch_model.safetensors"));
        AssertSameTensors(Path.Combine(straight, RewardFineTuner.StateFile), Path.Combine(resumed, RewardFineTuner.StateFile));
        AssertSameTable(straightResult.TrainingLog, resumedResult.TrainingLog, except: []);
        AssertSameTable(straightResult.Tables.Single(t => t.Name == "monitor"), resumedResult.Tables.Single(t => t.Name == "monitor"), except: ["seconds"]);
        Assert.Equal([0.0, 2.0, 4.0], resumedResult.Tables.Single(t => t.Name == "monitor").Numeric("step").Values);
    }

    [Fact]
    public void Refl_with_real_images_and_lora_in_bf16_trains_only_the_adapters()
    {
        using var fixture = DraftStepFixture.Open();
        var options = Options<ReflOptions>(fixture, trainingSteps: 2);
        options.DatasetDirectory = Fixtures.Data("celeba/test_img");
        options.Trainable = "lora";
        options.LoraRank = 2;
        options.Precision = "bfloat16";
        options.MonitorEverySteps = 0;
        options.Judges = null;
        options.MonitorRewards = null;
        var work = Path.Combine(_temp, "refl");
        var result = Train(options, work);
        var log = result.TrainingLog;
        Assert.Equal(2, log.RowCount);
        Assert.All(log.Numeric("pretrain_loss").Values, v => Assert.True(double.IsFinite(v) && v > 0, $"pre-training loss {v}"));
        using var state = SafeTensorsFile.Open(Path.Combine(work, RewardFineTuner.StateFile));
        var trained = state.Entries.Keys.Where(k => k.StartsWith("model.", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(trained);
        Assert.All(trained, k => Assert.True(k.Contains(".lora_A.") || k.Contains(".lora_B."), k));
        Assert.All(trained, k => Assert.Equal("F32", state.Entries[k].DType)); // float32 master weights

        // The merged model differs from the base only in the attention projections' weights.
        using var before = SafeTensorsFile.Open(Path.Combine(fixture.Folder, "unet", "diffusion_pytorch_model.safetensors"));
        using var after = SafeTensorsFile.Open(Path.Combine(result.CheckpointPath, "unet", "diffusion_pytorch_model.safetensors"));
        Assert.Equal(before.Entries.Keys.Order(StringComparer.Ordinal), after.Entries.Keys.Order(StringComparer.Ordinal));
        var changed = new List<string>();
        foreach (var key in before.Entries.Keys)
        {
            using var a = before.Load(key, ScalarType.Float32);
            using var b = after.Load(key, ScalarType.Float32);
            if (!Same(a, b)) changed.Add(key);
        }
        output.WriteLine($"changed by the merged LoRA: {string.Join(", ", changed)}");
        Assert.NotEmpty(changed);
        Assert.All(changed, k => Assert.Matches(@"\.(to_q|to_k|to_v|to_out\.0)\.weight$", k));
    }

    private static bool Same(Tensor a, Tensor b)
    {
        if (!a.shape.SequenceEqual(b.shape) || a.dtype != b.dtype) return false;
        using var eq = a.eq(b).all();
        return eq.item<bool>();
    }

    private static void AssertSameTensors(string expectedPath, string actualPath)
    {
        using var expected = SafeTensorsFile.Open(expectedPath);
        using var actual = SafeTensorsFile.Open(actualPath);
        Assert.Equal(expected.Entries.Keys.Order(StringComparer.Ordinal), actual.Entries.Keys.Order(StringComparer.Ordinal));
        foreach (var key in expected.Entries.Keys)
        {
            using var a = expected.Load(key);
            using var b = actual.Load(key);
            Assert.True(Same(a, b), $"{Path.GetFileName(actualPath)}: '{key}' differs from the uninterrupted run's");
        }
    }

    private static void AssertSameTable(DataTable expected, DataTable actual, string[] except)
    {
        Assert.Equal(expected.Columns.Select(c => c.Name), actual.Columns.Select(c => c.Name));
        foreach (var column in expected.Columns.Where(c => !except.Contains(c.Name)))
            Assert.Equal(expected.Numeric(column.Name).Values, actual.Numeric(column.Name).Values);
    }
}
