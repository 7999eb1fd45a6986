using static TorchSharp.torch;

namespace BiasBench.Schedulers.Tests;

/// <summary>
/// Every scheduler recorded in ../shared/fixtures/schedulers (diffusers 0.40) fed the recorded model outputs step by step:
/// schedule (timesteps, sigmas, init_noise_sigma), scale_model_input, prev_sample and pred_original_sample at 1e-5.
/// </summary>
public sealed class SchedulerParityTests
{
    public static TheoryData<string> Cases() => SchedulerFixture.CaseNames();

    [Theory]
    [MemberData(nameof(Cases))]
    public void ScheduleMatchesDiffusers(string caseName)
    {
        var c = SchedulerFixture.Load(caseName);
        var scheduler = SchedulerFactory.FromConfigFile(c.ConfigPath);
        Assert.Equal(c.ClassName, scheduler.ClassName);

        var schedule = scheduler.Schedule(c.NumInferenceSteps);
        Assert.Equal(c.Timesteps.Length, schedule.Count);
        for (var i = 0; i < c.Timesteps.Length; i++)
            Assert.True(Math.Abs(schedule.Timesteps[i] - c.Timesteps[i]) <= SchedulerFixture.Tolerance,
                $"{caseName}: timestep {i} is {schedule.Timesteps[i]}, diffusers {c.Timesteps[i]}");
        if (c.Sigmas is null)
        {
            Assert.Null(schedule.Sigmas);
        }
        else
        {
            Assert.NotNull(schedule.Sigmas);
            Assert.Equal(c.Sigmas.Length, schedule.Sigmas!.Count);
            for (var i = 0; i < c.Sigmas.Length; i++)
                Assert.True(Math.Abs(schedule.Sigmas[i] - c.Sigmas[i]) <= SchedulerFixture.Tolerance,
                    $"{caseName}: sigma {i} is {schedule.Sigmas[i]}, diffusers {c.Sigmas[i]}");
        }
        Assert.True(Math.Abs(schedule.InitNoiseSigma - c.InitNoiseSigma) <= SchedulerFixture.Tolerance,
            $"{caseName}: init_noise_sigma {schedule.InitNoiseSigma}, diffusers {c.InitNoiseSigma}");
    }

    /// <summary>Each step from the recorded sample and model output (and noise), the state threaded through.</summary>
    [Theory]
    [MemberData(nameof(Cases))]
    public void EveryRecordedStepMatchesDiffusers(string caseName)
    {
        var c = SchedulerFixture.Load(caseName);
        var scheduler = SchedulerFactory.FromConfigFile(c.ConfigPath);
        var schedule = scheduler.Schedule(c.NumInferenceSteps);
        var tensors = c.LoadTensors();
        try
        {
            var steps = tensors.Keys.Count(k => k.StartsWith("step", StringComparison.Ordinal) && k.EndsWith(".model_output", StringComparison.Ordinal));
            Assert.Equal(schedule.Count, steps);
            Assert.True(SchedulerFixture.MaxAbsDiff(tensors["x_T_scaled"], tensors["step0.sample"]) == 0, $"{caseName}: x_T_scaled is not step 0's sample");

            SchedulerState? state = null;
            var worst = new Dictionary<string, double>();
            for (var i = 0; i < steps; i++)
            {
                using var scope = NewDisposeScope();
                var sample = tensors[$"step{i}.sample"];
                var modelOutput = tensors[$"step{i}.model_output"];
                Record(worst, "model_input", SchedulerFixture.MaxAbsDiff(scheduler.ScaleModelInput(schedule, i, sample), tensors[$"step{i}.model_input"]));

                var needsNoise = scheduler.NeedsNoise(schedule, i);
                if (!c.Stochastic) Assert.False(needsNoise, $"{caseName}: step {i} asks for noise but the case is deterministic");
                if (needsNoise) Assert.True(tensors.ContainsKey($"step{i}.noise"), $"{caseName}: step {i} needs noise the fixture does not record");
                var noise = needsNoise ? tensors[$"step{i}.noise"] : null;

                var output = scheduler.Step(schedule, i, modelOutput, sample, noise, state);
                Record(worst, "prev_sample", SchedulerFixture.MaxAbsDiff(output.PrevSample, tensors[$"step{i}.prev_sample"]));
                if (tensors.TryGetValue($"step{i}.pred_original_sample", out var expectedOriginal))
                {
                    Assert.NotNull(output.PredOriginalSample);
                    Record(worst, "pred_original_sample", SchedulerFixture.MaxAbsDiff(output.PredOriginalSample!, expectedOriginal));
                    Record(worst, "PredictOriginalSample", SchedulerFixture.MaxAbsDiff(scheduler.PredictOriginalSample(schedule, i, modelOutput, sample), expectedOriginal));
                }
                state?.Dispose();
                state = output.State?.MoveToOuterDisposeScope();
            }
            state?.Dispose();
            TestContext.Current.TestOutputHelper?.WriteLine($"{caseName}: " + string.Join(", ", worst.Select(w => $"{w.Key} {w.Value:E1}")));
            foreach (var (what, diff) in worst)
                Assert.True(diff <= SchedulerFixture.Tolerance, $"{caseName}: {what} max |diff| {diff:E2} > {SchedulerFixture.Tolerance:E0}");
        }
        finally
        {
            tensors.DisposeAll();
        }
    }

    /// <summary>The whole loop from x_T on our own samples, fed the recorded model outputs: no drift across steps.</summary>
    [Theory]
    [MemberData(nameof(Cases))]
    public void ChainedLoopMatchesDiffusers(string caseName)
    {
        var c = SchedulerFixture.Load(caseName);
        var scheduler = SchedulerFactory.FromConfigFile(c.ConfigPath);
        var schedule = scheduler.Schedule(c.NumInferenceSteps);
        var tensors = c.LoadTensors();
        try
        {
            using var scope = NewDisposeScope();
            var sample = tensors["x_T_scaled"].alias();
            SchedulerState? state = null;
            var worst = 0.0;
            for (var i = 0; i < schedule.Count; i++)
            {
                var noise = scheduler.NeedsNoise(schedule, i) ? tensors[$"step{i}.noise"] : null;
                var output = scheduler.Step(schedule, i, tensors[$"step{i}.model_output"], sample, noise, state);
                worst = Math.Max(worst, SchedulerFixture.MaxAbsDiff(output.PrevSample, tensors[$"step{i}.prev_sample"]));
                sample.Dispose();
                state?.Dispose();
                (sample, state) = (output.PrevSample, output.State);
            }
            state?.Dispose();
            TestContext.Current.TestOutputHelper?.WriteLine($"{caseName}: chained prev_sample max |diff| {worst:E1}");
            Assert.True(worst <= SchedulerFixture.Tolerance, $"{caseName}: chained prev_sample max |diff| {worst:E2}");
        }
        finally
        {
            tensors.DisposeAll();
        }
    }

    private static void Record(Dictionary<string, double> worst, string what, double diff) =>
        worst[what] = Math.Max(worst.GetValueOrDefault(what), diff);
}
