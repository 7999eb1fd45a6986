namespace BiasBench.Schedulers.Tests;

public sealed class SchedulerFactoryTests
{
    public static TheoryData<string> Cases() => SchedulerFixture.CaseNames();

    /// <summary>Every fixture config can build every scheduler (diffusers' from_config swap), each reading its own
    /// fields and defaults from it.</summary>
    [Theory]
    [MemberData(nameof(Cases))]
    public void AnyConfigBuildsEveryScheduler(string caseName)
    {
        var config = SchedulerConfig.FromFile(SchedulerFixture.Load(caseName).ConfigPath);
        foreach (var className in SchedulerFactory.ClassNames)
        {
            var scheduler = SchedulerFactory.Create(className, config);
            Assert.Equal(className, scheduler.ClassName);
            var schedule = scheduler.Schedule(10);
            Assert.True(schedule.Count >= 10);
            Assert.Equal(config.GetInt("num_train_timesteps", 1000), scheduler.NumTrainTimesteps);
        }
    }

    [Theory]
    [InlineData("ddpm", DdpmScheduler.DiffusersClassName)]
    [InlineData("DDIM", DdimScheduler.DiffusersClassName)]
    [InlineData("plms", PndmScheduler.DiffusersClassName)]
    [InlineData("euler", EulerDiscreteScheduler.DiffusersClassName)]
    [InlineData("euler_a", EulerAncestralDiscreteScheduler.DiffusersClassName)]
    [InlineData("dpm-solver++", DpmSolverMultistepScheduler.DiffusersClassName)]
    [InlineData("DPMSolverMultistepScheduler", DpmSolverMultistepScheduler.DiffusersClassName)]
    public void NamesAndAliasesResolve(string name, string className)
    {
        Assert.True(SchedulerFactory.IsKnown(name));
        Assert.Equal(className, SchedulerFactory.Create(name, SchedulerConfig.FromJson("{}")).ClassName);
    }

    [Fact]
    public void SwappingTheSd15PndmConfigToEulerKeepsItsBetasAndSpacing()
    {
        // SD 1.5 ships PNDMScheduler (scaled_linear, leading, steps_offset 1); EulerDiscreteScheduler.from_config keeps those.
        var sd15 = SchedulerConfig.FromFile(SchedulerFixture.Load("pndm_plms_sd").ConfigPath);
        var euler = (EulerDiscreteScheduler)SchedulerFactory.Create("euler", sd15);
        Assert.Equal("scaled_linear", euler.BetaSchedule.Kind);
        Assert.Equal(TimestepSpacing.Leading, euler.Spacing);
        Assert.Equal(1, euler.StepsOffset);
    }

    [Fact]
    public void UnknownNameListsTheKnownOnes()
    {
        var e = Assert.Throws<ArgumentException>(() => SchedulerFactory.Create("heun", SchedulerConfig.FromJson("{}")));
        Assert.Contains("ddim", e.Message);
    }

    [Fact]
    public void EtaIsOnlyForDdim()
    {
        var config = SchedulerConfig.FromJson("{}", "cfg.json");
        var settings = new SchedulerSettings { Eta = 1 };
        Assert.Equal(1.0, ((DdimScheduler)SchedulerFactory.Create("ddim", config, settings)).Eta);
        var e = Assert.Throws<SchedulerConfigException>(() => SchedulerFactory.Create("euler", config, settings));
        Assert.Equal("eta", e.Field);
    }
}
