using System.Security.Cryptography;
using System.Text;
using BiasBench.Schedulers;
using BiasBench.Torch.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Generation;

/// <summary>
/// Per-request sampling settings: changing them never reloads a model (they are not part of the
/// <see cref="PipelineLoadOptions"/>), so a sweep over steps or guidance reuses the loaded pipeline.
/// </summary>
public sealed record SamplingSettings
{
    /// <summary>Number of inference steps (<c>num_inference_steps</c>).</summary>
    public int Steps { get; init; } = 50;

    /// <summary>A scheduler name (ddim, ddpm, pndm, euler, euler-ancestral, dpmpp-2m...; see SchedulerFactory), built
    /// from the model's <c>scheduler/scheduler_config.json</c> as diffusers' <c>from_config</c>; null: that config's own class.</summary>
    public string? Scheduler { get; init; }

    /// <summary>DDIM's eta (0 = deterministic).</summary>
    public double Eta { get; init; }

    /// <summary>Classifier-free guidance scale (Stable Diffusion); guidance is off at 1 or below, as in diffusers.</summary>
    public double GuidanceScale { get; init; } = 7.5;

    /// <summary>Image size in pixels (Stable Diffusion); null: the UNet's sample_size times the VAE factor.</summary>
    public int? Height { get; init; }

    public int? Width { get; init; }

    public void Validate()
    {
        if (Steps < 1) throw new ArgumentException($"steps must be at least 1 (got {Steps}).");
        if (Eta < 0) throw new ArgumentException($"eta must not be negative (got {Eta}).");
        if (Height is <= 0 || Width is <= 0) throw new ArgumentException("height and width must be positive.");
    }
}

/// <summary>Load-time options: what identifies a loaded pipeline (weights, precision, placement).</summary>
public sealed record PipelineLoadOptions(string Folder, string Device, ScalarType DType, string? Variant = null)
{
    /// <summary>A cache key for <see cref="SharedPipelines"/>.</summary>
    public string Key => $"{Path.GetFullPath(Folder)}|{Device}|{DType}|{Variant}";
}

/// <summary>What the denoising loops of both pipelines share.</summary>
public static class DenoisingLoop
{
    /// <summary>The scheduler for <paramref name="settings"/>, from the model folder's scheduler config.</summary>
    public static IDiffusionScheduler CreateScheduler(SchedulerConfig config, SamplingSettings settings)
    {
        var schedulerSettings = settings.Eta != 0 ? new SchedulerSettings { Eta = settings.Eta } : null;
        return string.IsNullOrWhiteSpace(settings.Scheduler)
            ? SchedulerFactory.FromConfig(config, schedulerSettings)
            : SchedulerFactory.Create(settings.Scheduler, config, schedulerSettings);
    }

    /// <summary>
    /// Runs steps [<paramref name="from"/>, <paramref name="to"/>) of <paramref name="schedule"/> from
    /// <paramref name="sample"/>, calling <paramref name="step"/> (a pipeline's DenoiseStep) with each stochastic
    /// step's noise from <paramref name="noise"/>. Does not touch autograd: wrap in no_grad to sample, leave it on to
    /// differentiate. Intermediate samples are freed as the loop goes; returns the last sample (a new tensor).
    /// </summary>
    public static Tensor Run(IDiffusionScheduler scheduler, DiffusionSchedule schedule, Tensor sample, StepNoise? noise,
        Func<int, Tensor, Tensor?, SchedulerState?, SchedulerStepOutput> step, int from = 0, int? to = null)
    {
        var end = to ?? schedule.Count;
        if (from < 0 || end > schedule.Count || from > end)
            throw new ArgumentOutOfRangeException(nameof(from), $"steps [{from}, {end}) are outside the {schedule.Count}-step schedule.");
        var x = sample.alias();
        SchedulerState? state = null;
        try
        {
            for (var i = from; i < end; i++)
            {
                using var scope = NewDisposeScope();
                Tensor? n = null;
                if (scheduler.NeedsNoise(schedule, i))
                {
                    if (noise is null) throw new InvalidOperationException($"{scheduler.ClassName} step {i} is stochastic and needs noise.");
                    n = noise(i, x.shape, x.dtype, x.device);
                }
                var output = step(i, x, n, state);
                var next = output.PrevSample.DetachFromDisposeScope();
                var nextState = output.State?.DetachFromDisposeScope();
                x.Dispose();
                state?.Dispose();
                (x, state) = (next, nextState);
            }
            return x;
        }
        catch
        {
            x.Dispose();
            throw;
        }
        finally
        {
            state?.Dispose();
        }
    }

    /// <summary>Model-space images in [-1, 1] -> [0, 1] float32 on the CPU (diffusers' <c>(x / 2 + 0.5).clamp(0, 1)</c>).</summary>
    public static Tensor ToUnitRange(Tensor images)
    {
        using var scope = NewDisposeScope();
        return (images.to(ScalarType.Float32) / 2 + 0.5).clamp(0, 1).cpu().MoveToOuterDisposeScope();
    }

    /// <summary>One SHA-256 for a model made of several files: SHA-256 of the sorted "digest  relative path" lines
    /// (the file's own digest when there is one file).</summary>
    public static string WeightsChecksum(string root, IEnumerable<string> files)
    {
        var entries = files.Select(f => (Name: Path.GetRelativePath(root, f).Replace('\\', '/'), Digest: WeightFileChecksum.Sha256(f)))
            .OrderBy(e => e.Name, StringComparer.Ordinal).ToList();
        if (entries.Count == 1) return entries[0].Digest;
        var manifest = string.Concat(entries.Select(e => $"{e.Digest}  {e.Name}\n"));
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(manifest)));
    }
}

/// <summary>
/// Loaded pipelines shared across the components of a run: a stage sweeping steps or guidance creates one generator
/// per sweep value, and each acquires the pipeline for its (unchanged) load options instead of reloading the
/// weights. One pipeline per type is kept; acquiring another key evicts (disposes) the previous one once unused.
/// </summary>
public static class SharedPipelines
{
    private static readonly object Gate = new();
    private static readonly Dictionary<Type, Entry> Entries = new();
    private static int _loads;

    /// <summary>How many pipelines were loaded in this process (for tests and logs).</summary>
    public static int LoadCount => Volatile.Read(ref _loads);

    public static Lease<T> Acquire<T>(string key, Func<T> load) where T : class, IDisposable
    {
        lock (Gate)
        {
            if (Entries.TryGetValue(typeof(T), out var entry) && entry.Key == key)
            {
                entry.Leases++;
                return new Lease<T>((T)entry.Pipeline, entry);
            }
            if (entry is not null && entry.Leases == 0)
            {
                entry.Pipeline.Dispose();
                Entries.Remove(typeof(T));
            }
            var pipeline = load();
            Interlocked.Increment(ref _loads);
            var created = new Entry(key, pipeline) { Leases = 1 };
            // A pipeline still in use elsewhere under another key stays with its users; the newest one is cached.
            Entries[typeof(T)] = created;
            return new Lease<T>(pipeline, created);
        }
    }

    /// <summary>Disposes every cached pipeline that is not in use.</summary>
    public static void Clear()
    {
        lock (Gate)
        {
            foreach (var (type, entry) in Entries.ToList())
                if (entry.Leases == 0) { entry.Pipeline.Dispose(); Entries.Remove(type); }
        }
    }

    internal static void Release(Entry entry)
    {
        lock (Gate)
        {
            entry.Leases--;
            // An evicted pipeline (no longer the cached one) is disposed by its last user.
            if (entry.Leases == 0 && !Entries.Values.Contains(entry)) entry.Pipeline.Dispose();
        }
    }

    internal sealed class Entry(string key, IDisposable pipeline)
    {
        public string Key { get; } = key;
        public IDisposable Pipeline { get; } = pipeline;
        public int Leases { get; set; }
    }

    /// <summary>A use of a shared pipeline; disposing it releases the use (the pipeline stays cached).</summary>
    public sealed class Lease<T> : IDisposable where T : class
    {
        private Entry? _entry;

        internal Lease(T pipeline, Entry entry)
        {
            Pipeline = pipeline;
            _entry = entry;
        }

        public T Pipeline { get; }

        public void Dispose()
        {
            var entry = Interlocked.Exchange(ref _entry, null);
            if (entry is not null) Release(entry);
        }
    }
}
