using BiasBench.Abstractions;
using BiasBench.Plugins.ClipRewards;
using BiasBench.Plugins.Generators;
using BiasBench.Plugins.ResNetJudge;
using Microsoft.Extensions.DependencyInjection;

namespace BiasBench.Plugins.FineTuning.Tests;

/// <summary>
/// Creates the components a fine-tuner's options reference through the real plugins' registrations (their factories
/// and options types), as the host's resolver does; disposes what it created. Each resolve creates a new instance.
/// </summary>
public sealed class PluginComponents : IComponentResolver, IDisposable
{
    private readonly Dictionary<string, ComponentDescriptor> _descriptors = new(StringComparer.Ordinal);
    private readonly List<IDisposable> _created = [];

    public PluginComponents(string runDirectory, int seed = 0)
    {
        var registrar = new Registrar();
        foreach (var plugin in new IBiasBenchPlugin[] { new GeneratorsPlugin(), new ClipRewardsPlugin(), new ResNetJudgePlugin(), new FineTuningPlugin() })
            plugin.Register(registrar);
        foreach (var d in registrar.Components) _descriptors[d.Name] = d;
        Context = new ComponentContext(new NoServices(), new RunEnvironment("cpu", runDirectory, runDirectory, Path.Combine(runDirectory, "cache"), seed)) { Components = this };
    }

    public ComponentContext Context { get; }

    public T Resolve<T>(ComponentReference<T> reference) where T : class
    {
        var descriptor = _descriptors[reference.Plugin];
        var instance = descriptor.Factory(Context, reference.Options ?? Activator.CreateInstance(descriptor.OptionsType)!);
        if (instance is IDisposable d) _created.Add(d);
        return instance as T ?? throw new InvalidOperationException($"'{reference.Plugin}' does not implement {typeof(T).Name}.");
    }

    /// <summary>A fine-tuner created through its plugin's factory.</summary>
    public RewardFineTuner FineTuner(string name, RewardFineTuningOptions options) =>
        (RewardFineTuner)_descriptors[name].Factory(Context, options);

    public void Dispose()
    {
        foreach (var d in Enumerable.Reverse(_created)) d.Dispose();
        _created.Clear();
    }

    private sealed class Registrar : IPluginRegistrar
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
