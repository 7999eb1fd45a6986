using System.Reflection;
using System.Runtime.ExceptionServices;
using BiasBench.Abstractions;
using BiasBench.Host.Configuration;
using BiasBench.Host.Plugins;
using Microsoft.Extensions.Logging;

namespace BiasBench.Host.Runs;

/// <summary>
/// The component instances of a run that are shared or referenced. From the plan it counts, for every "sharing key"
/// (kind + component name + canonical JSON of its bound options, secrets included, in memory only) the users: each
/// stage component (every sweep instance) and each component reference (except <see cref="ExclusiveInstanceAttribute"/>
/// ones), and the last stage that uses it. At run time:
/// <list type="bullet">
/// <item>a key with two or more users has one instance per device, created by its first user and disposed here after
/// its last stage; a stage gets it behind a proxy whose Dispose does nothing (stage code disposes what it creates);</item>
/// <item>a stage component with one user is created and disposed by its stage, as before;</item>
/// <item>a referenced component always belongs to the pool (plugins never dispose what they resolve): disposed after the
/// last stage that uses it; an exclusive one after the stage that created it.</item>
/// </list>
/// Each instance is created through its plugin's factory with a <see cref="ComponentContext"/> whose
/// <see cref="ComponentContext.Components"/> resolves its own references, after its <c>{ from_stage: ID }</c> options
/// were set to the checkpoints of those stages. The identities of the components a component resolved (name, version,
/// plugin build, weights checksum, options without secrets) are kept for its cache key.
/// </summary>
internal sealed class ComponentPool(IReadOnlyList<PlannedStage> stages, ILogger logger, Func<IReadOnlyList<StageOutput>> outputs) : IDisposable
{
    private sealed record Usage(int Users, int LastStage, IReadOnlyList<string> Stages);

    private sealed class Entry(object instance, string description, int releaseAfter, List<string> identities)
    {
        public object Instance { get; } = instance;
        public string Description { get; } = description;
        public int ReleaseAfter { get; } = releaseAfter;
        public List<string> Identities { get; } = identities;
    }

    private readonly object _gate = new();
    private readonly Dictionary<object, string> _keys = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<string, Usage> _usage = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Key, string Device), Entry> _shared = new();
    private readonly List<Entry> _live = [];
    private readonly Dictionary<object, List<string>> _identities = new(ReferenceEqualityComparer.Instance);
    private bool _counted;

    /// <summary>Creates a stage's own component (what <c>StageContext.Create</c> returns).</summary>
    public object CreateForStage(PlannedStage stage, PlannedComponent component, ComponentContext context, Type contract)
    {
        CountUses();
        var index = IndexOf(stage);
        StageOutputReferences.Apply(component.Options, outputs());
        var identities = new List<string>();
        lock (_gate) _identities[component] = identities;
        var key = _keys[component];
        var usage = _usage[key];
        if (usage.Users < 2) return Create(component.Component, component.Options, context, index, identities);

        var description = $"{ExperimentValidator.Describe(component.Component.Descriptor.Kind)} '{component.Component.Descriptor.Name}'";
        var entry = Obtain(key, context.Environment.Device, description, usage.LastStage, identities,
            () => Create(component.Component, component.Options, context, index, identities), stage.Config.Id, usage);
        if (!ReferenceEquals(entry.Identities, identities)) lock (_gate) identities.AddRange(entry.Identities); // created by an earlier user
        return Borrowed.Wrap(entry.Instance, contract);
    }

    /// <summary>The identities of the components <paramref name="component"/> resolved when it was created (empty when none).</summary>
    public IReadOnlyList<string> IdentitiesOf(PlannedComponent component)
    {
        lock (_gate) return _identities.TryGetValue(component, out var list) ? list.ToList() : [];
    }

    /// <summary>Disposes what no later stage uses.</summary>
    public void ReleaseAfter(PlannedStage stage)
    {
        var index = IndexOf(stage);
        List<Entry> done;
        lock (_gate)
        {
            done = _live.Where(e => e.ReleaseAfter <= index).ToList();
            _live.RemoveAll(done.Contains);
            foreach (var key in _shared.Where(kv => done.Contains(kv.Value)).Select(kv => kv.Key).ToList()) _shared.Remove(key);
        }
        for (var i = done.Count - 1; i >= 0; i--) Release(done[i]);
    }

    /// <summary>Disposes every instance still alive (the end of the run, also a failed or cancelled one).</summary>
    public void Dispose()
    {
        List<Entry> all;
        lock (_gate)
        {
            all = [.. _live];
            _live.Clear();
            _shared.Clear();
        }
        for (var i = all.Count - 1; i >= 0; i--) Release(all[i]);
    }

    private void Release(Entry entry)
    {
        if (entry.Instance is not IDisposable disposable) return;
        try
        {
            disposable.Dispose();
            logger.LogDebug("Released {Component}", entry.Description);
        }
        catch (Exception e)
        {
            logger.LogWarning("Disposing {Component} failed: {Error}", entry.Description, SecretValues.Redact(e.Message));
        }
    }

    private object Resolve(ComponentReference reference, Type contract, int stageIndex, ComponentContext parent, List<string> identities)
    {
        var plan = ComponentReferences.PlanOf(reference)
            ?? throw new InvalidOperationException($"'{reference.Plugin}' is not a component reference the config check has seen: resolve only references that are the component's options.");
        var descriptor = plan.Component.Descriptor;
        var description = $"{ExperimentValidator.Describe(descriptor.Kind)} '{descriptor.Name}' ({plan.Path})";
        Entry entry;
        try
        {
            StageOutputReferences.Apply(reference.Options, outputs());
            var own = new List<string>();
            if (plan.Exclusive)
            {
                entry = new Entry(Create(plan.Component, reference.Options!, parent, stageIndex, own), description, stageIndex, own);
                lock (_gate) _live.Add(entry);
                logger.LogInformation("Stage {Stage}: created {Component}, an instance of its own", stages[stageIndex].Config.Id, description);
            }
            else
            {
                CountUses();
                string key;
                lock (_gate) key = _keys.TryGetValue(reference, out var k) ? k : SharingKey(plan.Component, reference.Options);
                var usage = _usage.GetValueOrDefault(key) ?? new Usage(1, stageIndex, [stages[stageIndex].Config.Id]);
                entry = Obtain(key, parent.Environment.Device, description, Math.Max(usage.LastStage, stageIndex), own,
                    () => Create(plan.Component, reference.Options!, parent, stageIndex, own), stages[stageIndex].Config.Id, usage);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw new InvalidOperationException($"{description} failed to start: {e.Message}", e);
        }
        if (!contract.IsInstanceOfType(entry.Instance))
            throw new InvalidOperationException($"{description} is a {entry.Instance.GetType().Name}, which does not implement {contract.Name}" +
                                                (contract.Name.Contains("Differentiable", StringComparison.Ordinal) ? " (it cannot give gradients: choose a differentiable one)." : "."));
        lock (_gate)
        {
            identities.Add(Identity(plan.Component, reference.Options, entry.Instance));
            identities.AddRange(entry.Identities);
        }
        return entry.Instance;
    }

    /// <summary>The shared instance of a key on a device, created on first use.</summary>
    private Entry Obtain(string key, string device, string description, int releaseAfter, List<string> identities, Func<object> create, string stageId, Usage usage)
    {
        lock (_gate)
            if (_shared.TryGetValue((key, device), out var existing))
            {
                logger.LogInformation("Stage {Stage}: reusing {Component} (same plugin and options; loaded once for {Stages})", stageId, description, string.Join(", ", usage.Stages));
                return existing;
            }
        var instance = create();
        var entry = new Entry(instance, description, releaseAfter, identities);
        lock (_gate)
        {
            _shared[(key, device)] = entry;
            _live.Add(entry);
        }
        if (usage.Users > 1)
            logger.LogInformation("Stage {Stage}: created {Component}, shared by {Users} users in stages {Stages}", stageId, description, usage.Users, string.Join(", ", usage.Stages));
        return entry;
    }

    private object Create(RegisteredComponent component, object options, ComponentContext context, int stageIndex, List<string> identities) =>
        component.Descriptor.Factory(context with { Components = new Resolver(this, stageIndex, context, identities) }, options);

    private void CountUses()
    {
        lock (_gate)
        {
            if (_counted) return;
            _counted = true;
            var uses = new List<(object Owner, string Key, int Stage)>();
            for (var i = 0; i < stages.Count; i++)
                foreach (var component in stages[i].Components)
                {
                    uses.Add((component, SharingKey(component.Component, component.Options), i));
                    foreach (var (_, reference, plan) in ComponentReferences.Nested(component.Options))
                        if (!plan.Exclusive) uses.Add((reference, SharingKey(plan.Component, reference.Options), i));
                }
            foreach (var (owner, key, _) in uses) _keys[owner] = key;
            foreach (var group in uses.GroupBy(u => u.Key))
                _usage[group.Key] = new Usage(group.Count(), group.Max(u => u.Stage), group.Select(u => stages[u.Stage].Config.Id).Distinct().ToList());
        }
    }

    /// <summary>Kind, name and the options' canonical JSON with every value (secrets too: in memory only, never written).</summary>
    private static string SharingKey(RegisteredComponent component, object? options) =>
        $"{component.Descriptor.Kind}\n{component.Descriptor.Name}\n{ResultCache.CanonicalJson(options)}";

    /// <summary>What identifies a resolved component in its user's cache key: name, declared version, plugin build, the
    /// instance's reported version, weights checksum and preprocessing, and its options without secrets.</summary>
    private static string Identity(RegisteredComponent component, object? options, object instance)
    {
        var (version, checksum, extra) = instance switch
        {
            IRewardModel r => (r.Info.Version, r.Info.WeightsChecksum, r.Info.Preprocessing),
            IImageGenerator g => (g.Info.Version, g.Info.WeightsChecksum, null),
            IJudge j => (j.Info.Version, j.Info.WeightsChecksum, string.Join("\n", j.Info.Labels)),
            _ => ((string?)null, (string?)null, (string?)null),
        };
        return ResultCache.Key(component.Descriptor.Kind.ToString(), component.Descriptor.Name, component.Descriptor.Version, component.Plugin.BuildId,
            version, checksum, extra, SecretOptions.CacheKeyJson(options));
    }

    private int IndexOf(PlannedStage stage)
    {
        for (var i = 0; i < stages.Count; i++) if (ReferenceEquals(stages[i], stage)) return i;
        throw new ArgumentException($"stage '{stage.Config.Id}' is not part of this run's plan.", nameof(stage));
    }

    /// <summary>What a component's factory gets as <see cref="ComponentContext.Components"/>.</summary>
    private sealed class Resolver(ComponentPool pool, int stageIndex, ComponentContext parent, List<string> identities) : IComponentResolver
    {
        public T Resolve<T>(ComponentReference<T> reference) where T : class
        {
            ArgumentNullException.ThrowIfNull(reference);
            return (T)pool.Resolve(reference, typeof(T), stageIndex, parent, identities);
        }
    }
}

/// <summary>
/// A shared instance as a stage sees it: every call goes to the instance except Dispose, which does nothing (the pool
/// disposes the instance after the last stage that uses it).
/// </summary>
internal class Borrowed : DispatchProxy
{
    private object _target = null!;

    public static object Wrap(object instance, Type contract)
    {
        if (!contract.IsInterface || !contract.IsInstanceOfType(instance)) return instance;
        var proxy = Create(contract, typeof(Borrowed));
        ((Borrowed)proxy)._target = instance;
        return proxy;
    }

    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
    {
        ArgumentNullException.ThrowIfNull(targetMethod);
        if (targetMethod.DeclaringType == typeof(IDisposable)) return null;
        try { return targetMethod.Invoke(_target, args); }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            ExceptionDispatchInfo.Capture(e.InnerException).Throw();
            throw;
        }
    }
}
