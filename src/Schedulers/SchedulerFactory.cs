namespace BiasBench.Schedulers;

/// <summary>
/// Builds schedulers from diffusers configs. <see cref="FromConfigFile"/> builds the config's own <c>_class_name</c>;
/// <see cref="Create"/> builds any supported scheduler from any scheduler config, as diffusers'
/// <c>OtherScheduler.from_config(pipe.scheduler.config)</c> does (the common way to swap the sampler of a pipeline).
/// Names are diffusers class names or short aliases (case-insensitive; '-' and '_' are interchangeable):
/// ddpm, ddim, pndm, plms (PNDM with skip_prk_steps=true), euler, euler-ancestral (euler-a), dpm-solver++ / dpmpp-2m,
/// dpmpp-2m-karras (use_karras_sigmas=true).
/// </summary>
public static class SchedulerFactory
{
    private sealed record Entry(string ClassName, Func<SchedulerConfig, SchedulerSettings?, IDiffusionScheduler> Build,
        IReadOnlyDictionary<string, object?>? Overrides = null);

    private static readonly Dictionary<string, Entry> Entries = BuildEntries();

    /// <summary>Every accepted name (class names and aliases).</summary>
    public static IReadOnlyCollection<string> Names => Entries.Keys;

    /// <summary>The diffusers class names this library implements.</summary>
    public static IReadOnlyList<string> ClassNames { get; } = Entries.Values.Select(e => e.ClassName).Distinct().ToArray();

    /// <summary>Reads <paramref name="path"/> (a <c>scheduler_config.json</c>, or a pipeline folder containing
    /// <c>scheduler/scheduler_config.json</c>) and builds its <c>_class_name</c>, or <paramref name="name"/> when given.</summary>
    public static IDiffusionScheduler FromConfigFile(string path, string? name = null, SchedulerSettings? settings = null)
    {
        if (Directory.Exists(path))
        {
            var inFolder = Path.Combine(path, "scheduler_config.json");
            path = File.Exists(inFolder) ? inFolder : Path.Combine(path, "scheduler", "scheduler_config.json");
        }
        var config = SchedulerConfig.FromFile(path);
        return name is null ? FromConfig(config, settings) : Create(name, config, settings);
    }

    /// <summary>Parses config JSON and builds its <c>_class_name</c> (or <paramref name="name"/>).</summary>
    public static IDiffusionScheduler FromJson(string json, string source = "scheduler config", string? name = null, SchedulerSettings? settings = null)
    {
        var config = SchedulerConfig.FromJson(json, source);
        return name is null ? FromConfig(config, settings) : Create(name, config, settings);
    }

    /// <summary>Builds the scheduler named by the config's <c>_class_name</c>.</summary>
    public static IDiffusionScheduler FromConfig(SchedulerConfig config, SchedulerSettings? settings = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.ClassName is null)
            throw new SchedulerConfigException(config.Source, "_class_name", "is missing; name the scheduler explicitly (SchedulerFactory.Create).");
        if (!Entries.TryGetValue(Normalize(config.ClassName), out var entry))
            throw new SchedulerConfigException(config.Source, "_class_name", $"'{config.ClassName}' is not supported (supported: {string.Join(", ", ClassNames)}).");
        return entry.Build(config, settings);
    }

    /// <summary>Builds scheduler <paramref name="name"/> from <paramref name="baseConfig"/> (any scheduler's config).</summary>
    public static IDiffusionScheduler Create(string name, SchedulerConfig baseConfig, SchedulerSettings? settings = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(baseConfig);
        if (!Entries.TryGetValue(Normalize(name), out var entry))
            throw new ArgumentException($"Unknown scheduler '{name}' (known: {string.Join(", ", Names.Order(StringComparer.Ordinal))}).", nameof(name));
        var config = entry.Overrides is null ? baseConfig : baseConfig.With(entry.Overrides);
        return entry.Build(config, settings);
    }

    /// <summary>Whether <paramref name="name"/> is a known scheduler name or alias.</summary>
    public static bool IsKnown(string name) => Entries.ContainsKey(Normalize(name));

    private static string Normalize(string name) => name.Trim().ToLowerInvariant().Replace('_', '-');

    private static Dictionary<string, Entry> BuildEntries()
    {
        var ddpm = new Entry(DdpmScheduler.DiffusersClassName, (c, s) => new DdpmScheduler(c, s));
        var ddim = new Entry(DdimScheduler.DiffusersClassName, (c, s) => new DdimScheduler(c, s));
        var pndm = new Entry(PndmScheduler.DiffusersClassName, (c, s) => new PndmScheduler(c, s));
        var plms = pndm with { Overrides = new Dictionary<string, object?> { ["skip_prk_steps"] = true } };
        var euler = new Entry(EulerDiscreteScheduler.DiffusersClassName, (c, s) => new EulerDiscreteScheduler(c, s));
        var eulerAncestral = new Entry(EulerAncestralDiscreteScheduler.DiffusersClassName, (c, s) => new EulerAncestralDiscreteScheduler(c, s));
        var dpm = new Entry(DpmSolverMultistepScheduler.DiffusersClassName, (c, s) => new DpmSolverMultistepScheduler(c, s));
        var dpmKarras = dpm with { Overrides = new Dictionary<string, object?> { ["use_karras_sigmas"] = true } };

        var entries = new Dictionary<string, Entry>(StringComparer.Ordinal);
        void Add(Entry entry, params string[] aliases)
        {
            entries[Normalize(entry.ClassName)] = entry;
            foreach (var alias in aliases) entries[Normalize(alias)] = entry;
        }
        Add(ddpm, "ddpm");
        Add(ddim, "ddim");
        Add(pndm, "pndm");
        entries[Normalize("plms")] = plms;
        Add(euler, "euler");
        Add(eulerAncestral, "euler-ancestral", "euler-a", "euler-ancestral-discrete");
        Add(dpm, "dpm-solver++", "dpmpp-2m", "dpm++-2m", "dpmsolver++", "dpm-solver-multistep");
        entries[Normalize("dpmpp-2m-karras")] = dpmKarras;
        entries[Normalize("dpm++-2m-karras")] = dpmKarras;
        return entries;
    }
}
