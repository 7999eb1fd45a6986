using static TorchSharp.torch;

namespace BiasBench.Schedulers.Tests;

public sealed class PndmSchedulerTests
{
    // diffusers tests/schedulers/test_scheduler_pndm.py get_scheduler_config (PRK warm-up on: skip_prk_steps defaults to false)
    private static Dictionary<string, object?> DiffusersTestConfig(params (string Key, object? Value)[] overrides)
    {
        var config = new Dictionary<string, object?>
        {
            ["num_train_timesteps"] = 1000, ["beta_start"] = 0.0001, ["beta_end"] = 0.02, ["beta_schedule"] = "linear",
        };
        foreach (var (k, v) in overrides) config[k] = v;
        return config;
    }

    private static Tensor FullLoop(IDiffusionScheduler scheduler, int steps = 10)
    {
        var schedule = scheduler.Schedule(steps);
        var sample = DiffusersTestSuite.SampleDeter();
        SchedulerState? state = null;
        for (var i = 0; i < schedule.Count; i++)
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

    [Fact]
    public void PrkTimestepsMatchDiffusers()
    {
        // test_steps_offset
        var scheduler = DiffusersTestSuite.Build("pndm", DiffusersTestConfig(("steps_offset", 1)));
        var schedule = scheduler.Schedule(10);
        Assert.Equal(new double[] { 901, 851, 851, 801, 801, 751, 751, 701, 701, 651, 651, 601, 601, 501, 401, 301, 201, 101, 1 }, schedule.Timesteps);
    }

    [Theory]
    [InlineData("epsilon", null, null, 198.1318, 0.2580)]
    [InlineData("v_prediction", null, null, 67.3986, 0.0878)]
    [InlineData("epsilon", true, 0.01, 230.0399, 0.2995)]
    [InlineData("epsilon", false, 0.01, 186.9482, 0.2434)]
    public void PrkThenPlmsLoopMatchesDiffusersTestSuite(string prediction, bool? setAlphaToOne, double? betaStart, double sum, double mean)
    {
        var config = DiffusersTestConfig(("prediction_type", prediction));
        if (setAlphaToOne is { } one) config["set_alpha_to_one"] = one;
        if (betaStart is { } b) config["beta_start"] = b;
        using var result = FullLoop(DiffusersTestSuite.Build("pndm", config));
        DiffusersTestSuite.AssertSumMean(result, sum, mean, $"PNDM {prediction} set_alpha_to_one={setAlphaToOne} beta_start={betaStart}");
    }

    [Fact]
    public void PlmsAliasSkipsPrkAndRepeatsOneTimestep()
    {
        var scheduler = (PndmScheduler)DiffusersTestSuite.Build("plms", DiffusersTestConfig(("steps_offset", 1)));
        Assert.True(scheduler.SkipPrkSteps);
        var schedule = scheduler.Schedule(5);
        Assert.Equal(new double[] { 801, 601, 601, 401, 201, 1 }, schedule.Timesteps);
    }

    [Fact]
    public void StateIsImmutableAndValidated()
    {
        var scheduler = DiffusersTestSuite.Build("plms", DiffusersTestConfig());
        var schedule = scheduler.Schedule(10);
        using var scope = NewDisposeScope();
        var x = randn(1, 3, 4, 4, generator: SchedulerNoise.CpuGenerator(1));
        var eps0 = randn(1, 3, 4, 4, generator: SchedulerNoise.CpuGenerator(2));
        var first = scheduler.Step(schedule, 0, eps0, x);
        var state = Assert.IsType<PndmState>(first.State);
        Assert.Equal(1, state.NextStepIndex);
        Assert.Single(state.Ets);

        // Stepping from the same state twice gives the same result: the step did not mutate it.
        var eps1 = randn(1, 3, 4, 4, generator: SchedulerNoise.CpuGenerator(3));
        var a = scheduler.Step(schedule, 1, eps1, first.PrevSample, null, state);
        var b = scheduler.Step(schedule, 1, eps1, first.PrevSample, null, state);
        Assert.Equal(0f, (a.PrevSample - b.PrevSample).abs().max().item<float>());
        Assert.Single(state.Ets);

        // The state owns its tensors: disposing the caller's model output does not break it.
        eps0.Dispose();
        using var c = scheduler.Step(schedule, 1, eps1, first.PrevSample, null, state).PrevSample;
        Assert.Equal(0f, (c - a.PrevSample).abs().max().item<float>());

        Assert.Throws<ArgumentException>(() => scheduler.Step(schedule, 2, eps1, first.PrevSample, null, state));
        var euler = DiffusersTestSuite.Build("euler", DiffusersTestConfig());
        var dpm = DiffusersTestSuite.Build("dpmpp-2m", DiffusersTestConfig());
        var dpmSchedule = dpm.Schedule(10);
        Assert.Throws<ArgumentException>(() => dpm.Step(dpmSchedule, 1, eps1, x, null, state));
        Assert.Throws<ArgumentException>(() => euler.Step(schedule, 0, eps1, x));
    }
}
