using BiasBench.TestSupport;

namespace BiasBench.Schedulers.Tests;

public sealed class SchedulerConfigTests
{
    [Fact]
    public void PythonInfinityLiteralsAreRead()
    {
        var config = SchedulerConfig.FromJson("""{"_class_name": "DPMSolverMultistepScheduler", "lambda_min_clipped": -Infinity, "note": "-Infinity in a string", "x": NaN}""", "dpm.json");
        Assert.Equal(double.NegativeInfinity, config.GetDouble("lambda_min_clipped", 0));
        Assert.True(double.IsNaN(config.GetDouble("x", 0)));
        Assert.Equal("-Infinity in a string", config.GetString("note", null));
        Assert.Equal("DPMSolverMultistepScheduler", config.ClassName);
        Assert.Equal(double.NegativeInfinity, config.With("lambda_min_clipped", double.NegativeInfinity).GetDouble("lambda_min_clipped", 0));
    }

    [Fact]
    public void UseDefaultValuesKeysAreDroppedSoTheTargetDefaultsApply()
    {
        // As diffusers' extract_init_dict: a key saved only because DDPM filled in its default must not override DDIM's.
        var config = SchedulerConfig.FromJson("""{"_class_name": "DDIMScheduler", "set_alpha_to_one": false, "_use_default_values": ["set_alpha_to_one"]}""", "cfg");
        Assert.False(config.Contains("set_alpha_to_one"));
        Assert.True(((DdimScheduler)SchedulerFactory.FromConfig(config)).SetAlphaToOne);
    }

    [Fact]
    public void MalformedJsonAndWrongTypesNameTheFileAndField()
    {
        var json = Assert.Throws<SchedulerConfigException>(() => SchedulerConfig.FromJson("{\n  \"beta_start\": 0.1,\n  oops\n}", "broken.json"));
        Assert.StartsWith("broken.json: invalid JSON at line 3", json.Message);

        var type = Assert.Throws<SchedulerConfigException>(() => SchedulerFactory.FromJson("""{"_class_name": "DDIMScheduler", "beta_start": "small"}""", "typed.json"));
        Assert.Equal(("typed.json", "beta_start"), (type.ConfigSource, type.Field));

        var value = Assert.Throws<SchedulerConfigException>(() => SchedulerFactory.FromJson("""{"_class_name": "EulerDiscreteScheduler", "beta_schedule": "sigmoid"}""", "euler.json"));
        Assert.Equal("beta_schedule", value.Field);
        Assert.Contains("euler.json", value.Message);
        Assert.Contains("sigmoid", value.Message);

        var spacing = Assert.Throws<SchedulerConfigException>(() => SchedulerFactory.FromJson("""{"_class_name": "DDIMScheduler", "timestep_spacing": "log"}""", "ddim.json"));
        Assert.Equal("timestep_spacing", spacing.Field);

        var threshold = Assert.Throws<SchedulerConfigException>(() => SchedulerFactory.FromJson("""{"_class_name": "DDPMScheduler", "thresholding": true}""", "ddpm.json"));
        Assert.Equal("thresholding", threshold.Field);

        var cls = Assert.Throws<SchedulerConfigException>(() => SchedulerFactory.FromJson("""{"_class_name": "LMSDiscreteScheduler"}""", "lms.json"));
        Assert.Equal("_class_name", cls.Field);
        Assert.Contains("LMSDiscreteScheduler", cls.Message);
    }

    [Fact]
    public void UnknownKeysAreIgnoredAsDiffusersDoes()
    {
        var scheduler = SchedulerFactory.FromJson("""{"_class_name": "DDIMScheduler", "some_future_option": 3, "skip_prk_steps": true}""");
        Assert.Equal(DdimScheduler.DiffusersClassName, scheduler.ClassName);
    }

    [Fact]
    public void WithAndWithoutReturnCopies()
    {
        var config = SchedulerConfig.FromJson("""{"beta_start": 0.1}""");
        var changed = config.With("beta_start", 0.2).Without("missing");
        Assert.Equal(0.1, config.GetDouble("beta_start", 0));
        Assert.Equal(0.2, changed.GetDouble("beta_start", 0));
        Assert.False(config.Without("beta_start").Contains("beta_start"));
        Assert.Contains("\"beta_start\": 0.2", changed.ToJson());
    }

    [Fact]
    public void ConfigFileMissingIsAClearError()
    {
        var e = Assert.Throws<FileNotFoundException>(() => SchedulerFactory.FromConfigFile("/nonexistent/scheduler_config.json"));
        Assert.Contains("/nonexistent/scheduler_config.json", e.Message);
    }

    [Fact]
    public void PipelineFolderResolvesItsSchedulerSubfolder()
    {
        var folder = Fixtures.File("ddpm_unet");
        var scheduler = SchedulerFactory.FromConfigFile(folder);
        Assert.Equal(DdpmScheduler.DiffusersClassName, scheduler.ClassName);
        Assert.EndsWith(Path.Combine("scheduler", "scheduler_config.json"), scheduler.Config.Source);
    }
}
