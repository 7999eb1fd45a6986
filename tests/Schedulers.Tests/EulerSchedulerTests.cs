using static TorchSharp.torch;

namespace BiasBench.Schedulers.Tests;

/// <summary>Euler and Euler ancestral against diffusers' own test-suite values (tests/schedulers/test_scheduler_euler.py,
/// test_scheduler_euler_ancestral.py: 1100 training steps, linear betas, 10 inference steps, torch.manual_seed(0)).</summary>
public sealed class EulerSchedulerTests
{
    private const int InferenceSteps = 10;

    private static Dictionary<string, object?> DiffusersTestConfig(params (string Key, object? Value)[] overrides)
    {
        var config = new Dictionary<string, object?>
        {
            ["num_train_timesteps"] = 1100, ["beta_start"] = 0.0001, ["beta_end"] = 0.02, ["beta_schedule"] = "linear",
        };
        foreach (var (k, v) in overrides) config[k] = v;
        return config;
    }

    /// <summary>diffusers' test loop (which, as written there, feeds the scaled sample back into step).</summary>
    private static Tensor FullLoop(IDiffusionScheduler scheduler, int startIndex = 0, Func<DiffusionSchedule, Tensor, Tensor>? prepare = null)
    {
        var schedule = scheduler.Schedule(InferenceSteps);
        using var generator = SchedulerNoise.CpuGenerator(0);
        var sample = DiffusersTestSuite.SampleDeter() * schedule.InitNoiseSigma;
        if (prepare is not null) sample = prepare(schedule, sample);
        for (var i = startIndex; i < schedule.Count; i++)
        {
            using var scope = NewDisposeScope();
            var scaled = scheduler.ScaleModelInput(schedule, i, sample);
            var output = DiffusersTestSuite.Model(scaled, schedule.Timesteps[i]);
            var next = scheduler.Step(schedule, i, output, scaled, generator).PrevSample;
            sample.Dispose();
            sample = next.MoveToOuterDisposeScope();
        }
        return sample;
    }

    [Theory]
    [InlineData("epsilon", false, 10.0807, 0.0131)]
    [InlineData("v_prediction", false, 0.0002, 2.2676e-06)]
    [InlineData("epsilon", true, 124.52299499511719, 0.16213932633399963)]
    public void EulerLoopMatchesDiffusersTestSuite(string prediction, bool karras, double sum, double mean)
    {
        var scheduler = DiffusersTestSuite.Build("euler", DiffusersTestConfig(("prediction_type", prediction), ("use_karras_sigmas", karras)));
        using var result = FullLoop(scheduler);
        DiffusersTestSuite.AssertSumMean(result, sum, mean, $"Euler {prediction} karras={karras}");
    }

    [Fact]
    public void EulerAddNoiseLoopMatchesDiffusersTestSuite()
    {
        var scheduler = DiffusersTestSuite.Build("euler", DiffusersTestConfig());
        const int start = InferenceSteps - 2;
        using var result = FullLoop(scheduler, start, (schedule, sample) =>
            scheduler.AddNoise(schedule, start, sample, DiffusersTestSuite.NoiseDeter()));
        DiffusersTestSuite.AssertSumMean(result, 57062.9297, 74.3007, "Euler add_noise + loop");
    }

    [Theory]
    [InlineData("epsilon", 152.3192, 0.1983)]
    [InlineData("v_prediction", 108.4439, 0.1412)]
    public void EulerAncestralLoopMatchesDiffusersTestSuite(string prediction, double sum, double mean)
    {
        var scheduler = DiffusersTestSuite.Build("euler-ancestral", DiffusersTestConfig(("prediction_type", prediction)));
        using var result = FullLoop(scheduler);
        DiffusersTestSuite.AssertSumMean(result, sum, mean, $"Euler ancestral {prediction}");
    }

    [Fact]
    public void EulerAncestralNeedsNoiseAtEveryStepIncludingTheLast()
    {
        var scheduler = DiffusersTestSuite.Build("euler-a", DiffusersTestConfig());
        var schedule = scheduler.Schedule(InferenceSteps);
        Assert.All(Enumerable.Range(0, schedule.Count), i => Assert.True(scheduler.NeedsNoise(schedule, i)));
        using var scope = NewDisposeScope();
        var x = randn(1, 3, 4, 4, generator: SchedulerNoise.CpuGenerator(1));
        Assert.Throws<ArgumentNullException>(() => scheduler.Step(schedule, 0, x, x));
    }

    [Fact]
    public void EulerTimestepsAreFloat32AndLeadingSpacingScalesInitNoise()
    {
        var linspace = DiffusersTestSuite.Build("euler", DiffusersTestConfig(("num_train_timesteps", 1000)));
        var schedule = linspace.Schedule(6);
        Assert.Equal(ScalarType.Float32, schedule.TimestepDType);
        Assert.Equal((double)799.2f, schedule.Timesteps[1]);
        Assert.Equal(schedule.Sigmas![0], (float)schedule.InitNoiseSigma);
        Assert.Equal(schedule.Count + 1, schedule.Sigmas.Count);
        Assert.Equal(0f, schedule.Sigmas[^1]);

        var leading = DiffusersTestSuite.Build("euler", DiffusersTestConfig(("num_train_timesteps", 1000), ("timestep_spacing", "leading"), ("steps_offset", 1)));
        var s = leading.Schedule(5);
        Assert.Equal(new double[] { 801, 601, 401, 201, 1 }, s.Timesteps);
        var max = s.Sigmas!.Max();
        Assert.Equal(MathF.Sqrt(max * max + 1), (float)s.InitNoiseSigma);
    }

    [Fact]
    public void TrainingTimestepAddNoiseUsesTheTrainingSigma()
    {
        var scheduler = DiffusersTestSuite.Build("euler", DiffusersTestConfig(("num_train_timesteps", 1000)));
        var schedule = scheduler.Schedule(4); // linspace: 999, 666, 333, 0 -> integer timesteps
        using var scope = NewDisposeScope();
        var x = DiffusersTestSuite.SampleDeter();
        var noise = DiffusersTestSuite.NoiseDeter();
        var viaSchedule = scheduler.AddNoise(schedule, 1, x, noise);
        var viaTimesteps = scheduler.AddNoise(x, noise, full(4, (long)schedule.Timesteps[1], dtype: ScalarType.Int64));
        Assert.Equal(666.0, schedule.Timesteps[1]);
        Assert.Equal(0f, (viaSchedule - viaTimesteps).abs().max().item<float>());
    }
}
