using static TorchSharp.torch;

namespace BiasBench.Schedulers.Tests;

/// <summary>fp16/bf16 pipelines: the step keeps the model output's dtype (the Euler and DPM schedulers compute in
/// float32 and cast back, as diffusers does) and stays close to the float32 result.</summary>
public sealed class ReducedPrecisionTests
{
    public static TheoryData<string> Cases() => SchedulerFixture.CaseNames();

    [Theory]
    [MemberData(nameof(Cases))]
    public void HalfAndBFloat16StepsKeepTheirDtype(string caseName)
    {
        var c = SchedulerFixture.Load(caseName);
        var scheduler = SchedulerFactory.FromConfigFile(c.ConfigPath);
        var schedule = scheduler.Schedule(c.NumInferenceSteps);
        var tensors = c.LoadTensors();
        try
        {
            using var scope = NewDisposeScope();
            var noise = scheduler.NeedsNoise(schedule, 0) ? tensors["step0.noise"] : null;
            var reference = scheduler.Step(schedule, 0, tensors["step0.model_output"], tensors["step0.sample"], noise).PrevSample;
            var scale = reference.abs().max().item<float>();
            foreach (var dtype in new[] { ScalarType.Float16, ScalarType.BFloat16 })
            {
                var output = scheduler.Step(schedule, 0, tensors["step0.model_output"].to(dtype), tensors["step0.sample"].to(dtype), noise?.to(dtype));
                Assert.Equal(dtype, output.PrevSample.dtype);
                var diff = SchedulerFixture.MaxAbsDiff(output.PrevSample, reference);
                // bf16 keeps 8 mantissa bits: a few units of 2^-8 relative to the sample's scale.
                Assert.True(diff <= scale * 0.05, $"{caseName} {dtype}: max |diff| {diff} vs float32 (scale {scale})");
                Assert.Equal(dtype, scheduler.ScaleModelInput(schedule, 0, tensors["step0.sample"].to(dtype)).dtype);
            }
        }
        finally
        {
            tensors.DisposeAll();
        }
    }
}
