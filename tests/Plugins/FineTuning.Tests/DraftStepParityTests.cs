using System.Globalization;
using System.Text.RegularExpressions;
using BiasBench.Abstractions.Torch;
using BiasBench.Schedulers;
using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Plugins.FineTuning.Tests;

/// <summary>
/// Gradient parity with draft_step/ (diffusers UNet2DModel + DDIMScheduler + the differentiable CLIP aesthetic reward in
/// PyTorch): image, reward, loss and the gradient of every UNet parameter for each recorded case, and the reward after
/// one plain SGD step. The gradients come from <see cref="RewardFineTuner.AccumulateGradients"/>, the function the
/// training loop calls, through the ddpm generator's and the laion-aesthetic-v2 plugin's own code; only x_T is replaced
/// by the fixture's.
/// </summary>
public sealed class DraftStepParityTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _temp = Directory.CreateTempSubdirectory("biasbench-draft-parity-").FullName;

    public void Dispose() => Directory.Delete(_temp, recursive: true);

    [Fact]
    public void Every_case_matches_the_reference() => RunAll(recomputeSteps: false);

    /// <summary>DRaFT-K with step-level gradient checkpointing (K &gt; 1 cases) gives the same gradients.</summary>
    [Fact]
    public void Recomputed_gradient_steps_match_the_reference() => RunAll(recomputeSteps: true);

    private void RunAll(bool recomputeSteps)
    {
        using var fixture = DraftStepFixture.Open();
        var names = fixture.TrainingCases.ToList();
        Assert.NotEmpty(names);
        foreach (var name in names) RunCase(fixture, name, recomputeSteps);
    }

    private void RunCase(DraftStepFixture fixture, string name, bool recomputeSteps)
    {
        var c = fixture.Case(name);
        var mode = c.GetProperty("mode").GetString();
        var steps = DraftStepFixture.SamplingSteps(c);
        var expectedTimesteps = c.GetProperty("timesteps").EnumerateArray().Select(e => e.GetDouble()).ToList();
        // The generator builds DDIMScheduler.from_config(scheduler/scheduler_config.json), as the fixture did.
        Assert.Equal(expectedTimesteps, SchedulerFactory.FromConfigFile(Path.Combine(fixture.Folder, "scheduler", "scheduler_config.json"), "ddim").Schedule(steps).Timesteps);
        // Step recomputation is a DRaFT-K option, and only changes anything with more than one gradient step.
        if (recomputeSteps && (mode != "draft" || c.GetProperty("grad_steps").GetInt32() < 2)) return;

        using var components = new PluginComponents(_temp);
        RewardFineTuningOptions options = mode switch
        {
            "draft" => new DraftOptions { GradientSteps = c.GetProperty("grad_steps").GetInt32(), RecomputeSteps = recomputeSteps },
            "refl" => new ReflOptions { StopStepMin = c.GetProperty("stop_index").GetInt32(), StopStepMax = c.GetProperty("stop_index").GetInt32() },
            _ => throw new InvalidOperationException($"draft_step case '{name}' has an unknown mode '{mode}'."),
        };
        options.Generator = fixture.GeneratorReference(steps);
        options.Reward = fixture.RewardReference();
        options.BatchSize = fixture.Batch;
        options.Precision = "float32";
        options.RewardPrompt = DraftStepFixture.Prompt;
        var tuner = components.FineTuner(options.Algorithm, options);
        var generator = tuner.Generator;
        var parameters = generator.PrepareTraining(options.Setup(null, 0));
        var reward = components.Resolve(fixture.RewardReference());
        var objective = new RewardObjective([("laion-aesthetic-v2", reward, 1.0)], options.RewardPrompt);
        var algorithm = RewardAlgorithm.Create(options, objective, runSeed: 0);
        var xT = fixture.Tensors["x_T"];
        DifferentiableSampling FromFixture(DifferentiableSampling r) => r with { InitialNoise = xT, Seeds = null };

        var stats = RewardFineTuner.AccumulateGradients(generator, algorithm, null, options, 0, FromFixture, CancellationToken.None);
        using (stats.LastImages)
        {
            var imageDiff = MaxAbsDiff(stats.LastImages, fixture.Tensors[$"{name}.image"]);
            var rewardDiff = MaxAbsDiff(tensor(objective.LastTotal), fixture.Tensors[$"{name}.reward"]);
            var lossDiff = Math.Abs(stats.Loss - fixture.Tensors[$"{name}.loss"].to(ScalarType.Float64).item<double>());
            output.WriteLine($"{name}{(recomputeSteps ? " (recomputed steps)" : "")}: image {imageDiff:E2}, reward {rewardDiff:E2}, loss {lossDiff:E2} (bound {fixture.ValueTolerance:E0})");
            Assert.True(imageDiff <= fixture.ValueTolerance, $"{name}: image differs by {imageDiff:E3}");
            Assert.True(rewardDiff <= fixture.ValueTolerance, $"{name}: reward differs by {rewardDiff:E3}");
            Assert.True(lossDiff <= fixture.ValueTolerance, $"{name}: loss differs by {lossDiff:E3}");
        }

        // Every UNet parameter has its reference gradient, and nothing else is trained.
        var prefix = $"{name}.grad.";
        var expectedNames = fixture.Tensors.Keys.Where(k => k.StartsWith(prefix, StringComparison.Ordinal)).Select(k => k[prefix.Length..]).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(expectedNames, parameters.Select(p => p.Name).Order(StringComparer.Ordinal).ToList());
        double worst = 0;
        var worstName = "";
        var largest = parameters.Max(p => fixture.Tensors[prefix + p.Name].abs().max().item<float>());
        foreach (var (parameterName, parameter) in parameters)
        {
            var expected = fixture.Tensors[prefix + parameterName];
            Assert.NotNull(parameter.grad);
            var scale = expected.abs().max().item<float>();
            if (parameterName.EndsWith(".to_k.bias", StringComparison.Ordinal))
            {
                // A looser check, with its reason: the key bias adds q.b to every score of a query, and softmax ignores
                // a shift shared by all keys, so this gradient is exactly zero in exact arithmetic. Both sides hold
                // float32 round-off (the reference ~1e-13 against gradients ~1e-2), which no relative bound can
                // compare; both must be round-off, below 1e-6 of the case's largest gradient.
                var ours = parameter.grad!.abs().max().item<float>();
                output.WriteLine($"{name}: {parameterName} is zero in exact arithmetic: ours {ours:E2}, reference {scale:E2}, case's largest gradient {largest:E2}");
                Assert.True(ours <= 1e-6 * largest && scale <= 1e-6 * largest, $"{name}: {parameterName} should be round-off: {ours:E3} (reference {scale:E3})");
                continue;
            }
            var relative = scale == 0 ? MaxAbsDiff(parameter.grad!, expected) : MaxAbsDiff(parameter.grad!, expected) / scale;
            if (relative > worst) (worst, worstName) = (relative, parameterName);
            Assert.True(relative <= fixture.GradientTolerance,
                $"{name}: gradient of {parameterName} differs by {relative:E3} of its max |value| {scale:E3} (bound {fixture.GradientTolerance:E0})");
        }
        output.WriteLine($"{name}: {parameters.Count} parameter gradients; worst {worst:E2} of its max |value| ({worstName})");

        // The recorded SGD step: p <- p - lr * grad, then the same sampling again.
        var sgdName = name + "_sgd";
        if (!fixture.Json.RootElement.GetProperty("cases").TryGetProperty(sgdName, out var sgd) || recomputeSteps) return;
        var update = sgd.GetProperty("update").GetString()!;
        var match = Regex.Match(update, @"p\s*<-\s*p\s*-\s*([0-9.eE-]+)\s*\*\s*grad\((\w+)\)");
        Assert.True(match.Success, $"unrecognised update recipe '{update}'");
        Assert.Equal(name, match.Groups[2].Value);
        var lr = double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
        using (no_grad())
            foreach (var (_, p) in parameters) p.sub_(p.grad! * lr);
        foreach (var (_, p) in parameters) { p.grad!.Dispose(); p.grad = null; }
        var after = RewardFineTuner.AccumulateGradients(generator, algorithm, null, options, 0, FromFixture, CancellationToken.None);
        after.LastImages.Dispose();
        var afterDiff = MaxAbsDiff(tensor(objective.LastTotal), fixture.Tensors[$"{sgdName}.reward_after"]);
        output.WriteLine($"{sgdName}: reward after the step {afterDiff:E2} from the reference (before: {string.Join(", ", fixture.Tensors[$"{name}.reward"].data<float>().ToArray())}, " +
                         $"after: {string.Join(", ", objective.LastTotal.Select(v => v.ToString("G7", CultureInfo.InvariantCulture)))})");
        Assert.True(afterDiff <= fixture.ValueTolerance, $"{sgdName}: reward differs by {afterDiff:E3}");
    }

    private static double MaxAbsDiff(Tensor actual, Tensor expected)
    {
        Assert.Equal(expected.shape, actual.shape);
        using var scope = NewDisposeScope();
        return (actual.to(ScalarType.Float64, CPU) - expected.to(ScalarType.Float64, CPU)).abs().max().item<double>();
    }
}
