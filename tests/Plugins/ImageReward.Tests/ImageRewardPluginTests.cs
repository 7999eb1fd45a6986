using System.Reflection;
using BiasBench.Abstractions;
using Microsoft.Extensions.DependencyInjection;
using static TorchSharp.torch;

namespace BiasBench.Plugins.ImageReward.Tests;

public class ImageRewardPluginTests
{
    [Fact]
    public void Registers_the_image_reward_model_with_its_options()
    {
        var registrar = new RecordingRegistrar();
        new ImageRewardPlugin().Register(registrar);
        var component = Assert.Single(registrar.Components);
        Assert.Equal(ComponentKind.RewardModel, component.Kind);
        Assert.Equal("image-reward", component.Name);
        Assert.Equal(typeof(ImageRewardOptions), component.OptionsType);
        var entry = typeof(ImageRewardPlugin).Assembly.GetCustomAttribute<BiasBenchPluginAttribute>();
        Assert.Equal(typeof(ImageRewardPlugin), entry?.EntryPoint);
    }

    [Theory]
    [InlineData("float32", ScalarType.Float32)]
    [InlineData("fp16", ScalarType.Float16)]
    [InlineData("BFloat16", ScalarType.BFloat16)]
    public void Dtype_names_are_understood(string name, ScalarType expected)
    {
        Assert.Equal(expected, ImageRewardOptions.ParseDType(name));
    }

    [Fact]
    public void Unknown_dtypes_and_cpu_half_precision_are_refused()
    {
        Assert.Throws<ArgumentException>(() => ImageRewardOptions.ParseDType("int8"));
        var options = new ImageRewardOptions { WeightsPath = "x", Device = "cpu", Dtype = "float16" };
        Assert.Throws<ArgumentException>(() => options.ResolvePlacement("auto"));
    }

    [Fact]
    public void Options_validate_with_data_annotations()
    {
        var invalid = new ImageRewardOptions { WeightsPath = "", BatchSize = 0, Dtype = "int8" };
        var results = new List<System.ComponentModel.DataAnnotations.ValidationResult>();
        Assert.False(System.ComponentModel.DataAnnotations.Validator.TryValidateObject(
            invalid, new System.ComponentModel.DataAnnotations.ValidationContext(invalid), results, validateAllProperties: true));
        Assert.Equal(3, results.Count);
    }

    [Fact]
    public void The_factory_names_missing_weights_and_vocabulary()
    {
        using var fixture = ImageRewardFixture.Load();
        var environment = new RunEnvironment("cpu", Path.GetTempPath(), fixture.Folder, Path.GetTempPath(), 0);

        var missing = Assert.Throws<FileNotFoundException>(() =>
            ImageRewardPlugin.Create(new ImageRewardOptions { WeightsPath = "no-such-weights.pt" }, environment));
        Assert.Contains("no-such-weights.pt", missing.Message);

        // Relative paths resolve against the config folder; the fixture folder has no vocab.txt.
        var noVocab = Assert.Throws<FileNotFoundException>(() =>
            ImageRewardPlugin.Create(new ImageRewardOptions { WeightsPath = "." }, environment));
        Assert.Contains("vocab_path", noVocab.Message);
    }

    [Fact]
    public void The_registered_factory_builds_a_differentiable_model_from_options()
    {
        using var fixture = ImageRewardFixture.Load();
        var registrar = new RecordingRegistrar();
        new ImageRewardPlugin().Register(registrar);
        var component = Assert.Single(registrar.Components);
        var environment = new RunEnvironment("cpu", Path.GetTempPath(), fixture.Folder, Path.GetTempPath(), 0);
        var options = new ImageRewardOptions
        {
            WeightsPath = Path.GetFileName(fixture.WeightsFile),
            MedConfigPath = "config.json",
            VocabPath = BiasBench.TestSupport.Fixtures.Data("tokenizers/bert-base-uncased-vocab.txt"),
            BatchSize = 3,
            Device = "cpu",
        };
        var services = new NoServices();
        using var model = Assert.IsAssignableFrom<BiasBench.Abstractions.Torch.IDifferentiableRewardModel>(
            component.Factory(new ComponentContext(services, environment), options));
        Assert.Equal("image-reward", model.Info.Name);
        Assert.Equal(3, model.PreferredBatchSize);
        Assert.Equal(CPU.type, model.Device.type);
    }

    /// <summary>A host without a logger factory: the model must still be built (logging is optional).</summary>
    private sealed class NoServices : IServiceProvider
    {
        public object? GetService(Type serviceType) => null;
    }

    private sealed class RecordingRegistrar : IPluginRegistrar
    {
        public IServiceCollection Services { get; } = new ServiceCollection();
        public List<ComponentDescriptor> Components { get; } = [];
        public void Add(ComponentDescriptor component) => Components.Add(component);
    }
}
