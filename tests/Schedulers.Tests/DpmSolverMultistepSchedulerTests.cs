using static TorchSharp.torch;

namespace BiasBench.Schedulers.Tests;

/// <summary>DPM-Solver++ against diffusers' own test-suite values (tests/schedulers/test_scheduler_dpm_multi.py:
/// dpmsolver++, midpoint, order 2, lower_order_final false, final_sigmas_type sigma_min, 10 steps).</summary>
public sealed class DpmSolverMultistepSchedulerTests
{
    private static Dictionary<string, object?> DiffusersTestConfig(params (string Key, object? Value)[] overrides)
    {
        var config = new Dictionary<string, object?>
        {
            ["num_train_timesteps"] = 1000, ["beta_start"] = 0.0001, ["beta_end"] = 0.02, ["beta_schedule"] = "linear",
            ["solver_order"] = 2, ["prediction_type"] = "epsilon", ["thresholding"] = false, ["sample_max_value"] = 1.0,
            ["algorithm_type"] = "dpmsolver++", ["solver_type"] = "midpoint", ["lower_order_final"] = false,
            ["euler_at_final"] = false, ["lambda_min_clipped"] = double.NegativeInfinity, ["variance_type"] = null,
            ["final_sigmas_type"] = "sigma_min",
        };
        foreach (var (k, v) in overrides) config[k] = v;
        return config;
    }

    private static Tensor Loop(IDiffusionScheduler scheduler, int startIndex = 0, bool addNoise = false)
    {
        var schedule = scheduler.Schedule(10);
        var sample = DiffusersTestSuite.SampleDeter();
        if (addNoise)
        {
            using var clean = sample;
            using var noise = DiffusersTestSuite.NoiseDeter();
            sample = scheduler.AddNoise(schedule, startIndex, clean, noise);
        }
        SchedulerState? state = null;
        for (var i = startIndex; i < schedule.Count; i++)
        {
            using var scope = NewDisposeScope();
            var step = scheduler.Step(schedule, i, DiffusersTestSuite.Model(sample, schedule.Timesteps[i]), sample, null, state);
            sample.Dispose();
            state?.Dispose();
            sample = step.PrevSample.MoveToOuterDisposeScope();
            state = step.State!.MoveToOuterDisposeScope();
        }
        state?.Dispose();
        return sample;
    }

    [Theory]
    [InlineData("epsilon", null, 0.3301)]
    [InlineData("v_prediction", null, 0.2251)]
    [InlineData("v_prediction", "use_karras_sigmas", 0.2096)]
    [InlineData("v_prediction", "use_lu_lambdas", 0.1554)]
    public void FullLoopMatchesDiffusersTestSuite(string prediction, string? sigmaOption, double mean)
    {
        var config = DiffusersTestConfig(("prediction_type", prediction));
        if (sigmaOption is not null) config[sigmaOption] = true;
        using var result = Loop(DiffusersTestSuite.Build("dpmpp-2m", config));
        DiffusersTestSuite.AssertSumMean(result, null, mean, $"DPM-Solver++ {prediction} {sigmaOption}");
    }

    [Fact]
    public void AddNoiseThenLoopMatchesDiffusersTestSuite()
    {
        // test_full_loop_with_noise: add_noise at schedule index 5, then steps 5..9 (a fresh state: first order first).
        using var result = Loop(DiffusersTestSuite.Build("dpmpp-2m", DiffusersTestConfig()), startIndex: 5, addNoise: true);
        DiffusersTestSuite.AssertSumMean(result, 318.4111, 0.4146, "DPM-Solver++ add_noise + loop");
    }

    [Fact]
    public void KarrasAliasAndSdDefaults()
    {
        var scheduler = (DpmSolverMultistepScheduler)SchedulerFactory.Create("dpmpp_2m_karras", SchedulerConfig.FromJson("{}", "empty"));
        Assert.True(scheduler.UseKarrasSigmas);
        Assert.Equal(2, scheduler.SolverOrder);
        var schedule = scheduler.Schedule(20);
        Assert.Equal(21, schedule.Sigmas!.Count);
        Assert.True(schedule.Sigmas.Zip(schedule.Sigmas.Skip(1)).All(p => p.First > p.Second), "Karras sigmas decrease");
        Assert.Equal(1.0, schedule.InitNoiseSigma);
    }

    [Theory]
    [InlineData("algorithm_type", "sde-dpmsolver++")]
    [InlineData("solver_order", 3)]
    [InlineData("thresholding", true)]
    [InlineData("use_beta_sigmas", true)]
    [InlineData("prediction_type", "flow_prediction")]
    public void UnsupportedSettingsAreRefusedWithTheirField(string field, object value)
    {
        var e = Assert.Throws<SchedulerConfigException>(() => DiffusersTestSuite.Build("dpmpp-2m", DiffusersTestConfig((field, value))));
        Assert.Equal(field, e.Field);
    }

    [Fact]
    public void LambdaMinClippedTrimsTheNoisiestTimesteps()
    {
        var unclipped = DiffusersTestSuite.Build("dpmpp-2m", DiffusersTestConfig()).Schedule(10);
        var clipped = DiffusersTestSuite.Build("dpmpp-2m", DiffusersTestConfig(("lambda_min_clipped", -4.0))).Schedule(10);
        Assert.Equal(999.0, unclipped.Timesteps[0]);
        Assert.True(clipped.Timesteps[0] < unclipped.Timesteps[0]);
    }
}
