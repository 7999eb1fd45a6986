using static TorchSharp.torch;

namespace BiasBench.Schedulers.Tests;

public sealed class DdpmSchedulerTests
{
    // diffusers tests/schedulers/test_scheduler_ddpm.py get_scheduler_config
    private static Dictionary<string, object?> DiffusersTestConfig(string prediction = "epsilon") => new()
    {
        ["num_train_timesteps"] = 1000, ["beta_start"] = 0.0001, ["beta_end"] = 0.02, ["beta_schedule"] = "linear",
        ["variance_type"] = "fixed_small", ["clip_sample"] = true, ["prediction_type"] = prediction,
    };

    /// <summary>test_full_loop_no_noise / test_full_loop_with_v_prediction: all 1000 training timesteps, the step noise
    /// drawn from torch.manual_seed(0) inside the loop, so this also checks that SchedulerNoise + NeedsNoise consume
    /// the generator exactly as diffusers' step(generator=...) does.</summary>
    [Theory]
    [InlineData("epsilon", 258.9606, 0.3372)]
    [InlineData("v_prediction", 202.0296, 0.2631)]
    public void FullAncestralLoopMatchesDiffusersTestSuite(string prediction, double sum, double mean)
    {
        var scheduler = DiffusersTestSuite.Build("ddpm", DiffusersTestConfig(prediction));
        var schedule = scheduler.Schedule(scheduler.NumTrainTimesteps);
        using var generator = SchedulerNoise.CpuGenerator(0);
        var sample = DiffusersTestSuite.SampleDeter();
        for (var i = 0; i < schedule.Count; i++)
        {
            using var scope = NewDisposeScope();
            var next = scheduler.Step(schedule, i, DiffusersTestSuite.Model(sample, schedule.Timesteps[i]), sample, generator).PrevSample;
            sample.Dispose();
            sample = next.MoveToOuterDisposeScope();
        }
        using (sample) DiffusersTestSuite.AssertSumMean(sample, sum, mean, $"DDPM {prediction}");
    }

    [Fact]
    public void AddNoiseThenLastStepsMatchDiffusersTestSuite()
    {
        // test_full_loop_with_noise: add_noise at timestep 1, then the steps at t = 1 (noisy) and t = 0.
        var scheduler = DiffusersTestSuite.Build("ddpm", DiffusersTestConfig());
        var schedule = scheduler.Schedule(scheduler.NumTrainTimesteps);
        using var generator = SchedulerNoise.CpuGenerator(0);
        using var scope = NewDisposeScope();
        var start = scheduler.NumTrainTimesteps - 2;
        var sample = scheduler.AddNoise(schedule, start, DiffusersTestSuite.SampleDeter(), DiffusersTestSuite.NoiseDeter());
        for (var i = start; i < schedule.Count; i++)
            sample = scheduler.Step(schedule, i, DiffusersTestSuite.Model(sample, schedule.Timesteps[i]), sample, generator).PrevSample;
        DiffusersTestSuite.AssertSumMean(sample, 387.9466, 0.5051, "DDPM add_noise + loop");
    }

    [Fact]
    public void LastStepNeedsNoNoiseAndUsesAlphaOne()
    {
        var scheduler = DiffusersTestSuite.Build("ddpm", DiffusersTestConfig());
        var schedule = scheduler.Schedule(8);
        Assert.True(scheduler.NeedsNoise(schedule, 0));
        Assert.False(scheduler.NeedsNoise(schedule, schedule.Count - 1));
        Assert.Equal(0.0, schedule.Timesteps[^1]);
        using var scope = NewDisposeScope();
        // At t = 0 with alpha_prev = 1 the posterior mean is the (clipped) x_0 prediction itself.
        var eps = randn(1, 3, 4, 4, generator: SchedulerNoise.CpuGenerator(1)) * 0.01;
        var x = randn(1, 3, 4, 4, generator: SchedulerNoise.CpuGenerator(2)) * 0.5;
        var step = scheduler.Step(schedule, schedule.Count - 1, eps, x);
        Assert.True((step.PrevSample - step.PredOriginalSample!).abs().max().item<float>() < 1e-6);
    }

    [Theory]
    [InlineData("fixed_small")]
    [InlineData("fixed_small_log")]
    [InlineData("fixed_large")]
    public void VarianceTypesScaleTheNoiseAsDiffusers(string varianceType)
    {
        var config = DiffusersTestConfig();
        config["variance_type"] = varianceType;
        config["clip_sample"] = false;
        var scheduler = DiffusersTestSuite.Build("ddpm", config);
        var schedule = scheduler.Schedule(10);
        using var scope = NewDisposeScope();
        var eps = randn(1, 3, 4, 4, generator: SchedulerNoise.CpuGenerator(1));
        var x = randn(1, 3, 4, 4, generator: SchedulerNoise.CpuGenerator(2));
        var noise = randn(1, 3, 4, 4, generator: SchedulerNoise.CpuGenerator(3));
        var withNoise = scheduler.Step(schedule, 2, eps, x, noise).PrevSample;
        var withoutNoise = scheduler.Step(schedule, 2, eps, x, zeros_like(noise)).PrevSample;
        var acp = scheduler.BetaSchedule.AlphasCumprod;
        double a = acp[700], aPrev = acp[600], beta = 1 - a / aPrev;
        var posterior = (1 - aPrev) / (1 - a) * beta;
        var expectedStd = varianceType == "fixed_large" ? Math.Sqrt(beta) : Math.Sqrt(posterior);
        Assert.True(((withNoise - withoutNoise) - noise * expectedStd).abs().max().item<float>() < 1e-5);
    }

    [Fact]
    public void UnsupportedVarianceTypeNamesFileAndField()
    {
        var config = DiffusersTestConfig();
        config["variance_type"] = "learned_range";
        var e = Assert.Throws<SchedulerConfigException>(() => DiffusersTestSuite.Build("ddpm", config));
        Assert.Equal("variance_type", e.Field);
        Assert.Contains("learned_range", e.Message);
        Assert.Contains("test config for ddpm", e.Message);
    }
}
