using System.ComponentModel.DataAnnotations;
using System.Reflection;
using BiasBench.Abstractions;
using BiasBench.Abstractions.Torch;
using Microsoft.Extensions.DependencyInjection;

namespace BiasBench.Plugins.ClipRewards.Tests;

public sealed class ClipRewardsPluginTests
{
    private sealed class Registrar : IPluginRegistrar
    {
        public IServiceCollection Services { get; } = new ServiceCollection();
        public List<ComponentDescriptor> Components { get; } = new();
        public void Add(ComponentDescriptor component) => Components.Add(component);
    }

    private sealed class NoServices : IServiceProvider
    {
        public object? GetService(Type serviceType) => null;
    }

    [Fact]
    public void AssemblyNamesTheEntryPoint()
    {
        var attribute = typeof(ClipRewardsPlugin).Assembly.GetCustomAttribute<BiasBenchPluginAttribute>();
        Assert.NotNull(attribute);
        Assert.Equal(typeof(ClipRewardsPlugin), attribute!.EntryPoint);
    }

    [Fact]
    public void RegistersEveryClipRewardModel()
    {
        var registrar = new Registrar();
        new ClipRewardsPlugin().Register(registrar);
        Assert.Equal(["pickscore", "hps-v2", "hps-v2.1", "clip-score", "laion-aesthetic-v2"], registrar.Components.Select(c => c.Name));
        Assert.All(registrar.Components, c => Assert.Equal(ComponentKind.RewardModel, c.Kind));
        Assert.Equal(typeof(LaionAestheticOptions), registrar.Components.Single(c => c.Name == "laion-aesthetic-v2").OptionsType);
        Assert.Equal(typeof(ClipRewardOptions), registrar.Components.Single(c => c.Name == "pickscore").OptionsType);
    }

    [Fact]
    public void FactoryBuildsAWorkingModelFromOptions()
    {
        using var fixture = ClipRewardFixture.Open(ClipRewardFixture.OpenClip);
        var registrar = new Registrar();
        new ClipRewardsPlugin().Register(registrar);
        var descriptor = registrar.Components.Single(c => c.Name == "hps-v2.1");
        var context = new ComponentContext(new NoServices(),
            new RunEnvironment("cpu", Path.GetTempPath(), Path.GetTempPath(), Path.GetTempPath(), 0));
        using var model = Assert.IsAssignableFrom<IDifferentiableRewardModel>(descriptor.Factory(context, fixture.Options()));
        Assert.Equal("hps-v2.1", model.Info.Name);
        Assert.Equal(4, model.PreferredBatchSize);
        Assert.Equal(TorchSharp.DeviceType.CPU, model.Device.type);
    }

    [Theory]
    [InlineData("", "float32", 16, false)]
    [InlineData("/x", "float64", 16, false)]
    [InlineData("/x", "bf16", 0, false)]
    [InlineData("/x", null, 16, true)]
    [InlineData("/x", "float16", 8, true)]
    public void OptionsAreValidatedWithDataAnnotations(string modelPath, string? dtype, int batchSize, bool valid)
    {
        var options = new ClipRewardOptions { ModelPath = modelPath, Dtype = dtype, BatchSize = batchSize };
        var ok = Validator.TryValidateObject(options, new ValidationContext(options), new List<ValidationResult>(), validateAllProperties: true);
        Assert.Equal(valid, ok);
    }

    [Fact]
    public void DefaultPrecisionIsFloat32OnTheCpu()
    {
        BiasBench.Torch.Backend.TorchBackend.EnsureInitialized();
        var (device, dtype) = new ClipRewardOptions { ModelPath = "/x" }.ResolvePlacement("cpu");
        Assert.Equal(TorchSharp.DeviceType.CPU, device.type);
        Assert.Equal(TorchSharp.torch.ScalarType.Float32, dtype);
        Assert.Throws<ArgumentException>(() => new ClipRewardOptions { ModelPath = "/x", Dtype = "float16" }.ResolvePlacement("cpu"));
    }
}
