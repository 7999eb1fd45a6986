using BiasBench.Abstractions;
using Microsoft.Extensions.DependencyInjection;

namespace BiasBench.PluginTemplate.Tests;

public class PluginTests
{
    [Fact]
    public void The_assembly_has_one_entry_point_that_registers_the_component()
    {
        var entryPoint = Assert.Single(typeof(Plugin).Assembly.GetCustomAttributes(typeof(BiasBenchPluginAttribute), false).Cast<BiasBenchPluginAttribute>());
        Assert.Equal(typeof(Plugin), entryPoint.EntryPoint);

        var registrar = new RecordingRegistrar();
        new Plugin().Register(registrar);
        var component = Assert.Single(registrar.Components);
        Assert.Equal("my-component", component.Name);
        Assert.Equal(Plugin.Version, component.Version);
#if (isReward)
        Assert.Equal(ComponentKind.RewardModel, component.Kind);
#elif (isJudge)
        Assert.Equal(ComponentKind.Judge, component.Kind);
#elif (isGenerator)
        Assert.Equal(ComponentKind.Generator, component.Kind);
#else
        Assert.Equal(ComponentKind.Analysis, component.Kind);
#endif

        // The host creates the options type with its parameterless constructor, binds the config onto it and calls the factory.
        var directory = Path.GetTempPath();
        var created = component.Factory(new ComponentContext(new NoServices(), new RunEnvironment("cpu", directory, directory, directory, 0)),
            Activator.CreateInstance(component.OptionsType)!);
        Assert.NotNull(created);
        (created as IDisposable)?.Dispose();
    }

    private sealed class RecordingRegistrar : IPluginRegistrar
    {
        public IServiceCollection Services { get; } = new ServiceCollection();
        public List<ComponentDescriptor> Components { get; } = [];
        public void Add(ComponentDescriptor component) => Components.Add(component);
    }

    private sealed class NoServices : IServiceProvider
    {
        public object? GetService(Type serviceType) => null;
    }
}
