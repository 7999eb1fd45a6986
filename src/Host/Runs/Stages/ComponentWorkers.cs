using System.Text.Json;
using System.Text.Json.Nodes;
using BiasBench.Host.Configuration;
using static BiasBench.Host.Runs.ExperimentRunner;

namespace BiasBench.Host.Runs;

/// <summary>
/// One expensive component of a stage (a reward model, judge or generator) as the run's scale-out sees it: one instance
/// per device worker, or none when merging shards (then its info and per-item failures come from what the shards
/// recorded). What it records (info, failures, items per worker) goes into the stage's entry in the manifest.
/// </summary>
internal sealed class ComponentWorkers<T> : IDisposable where T : class, IDisposable
{
    private static readonly JsonSerializerOptions InfoJson = new() { WriteIndented = false };
    private readonly List<T> _instances;
    private readonly JsonObject _record;
    private readonly IReadOnlyDictionary<string, (string Error, JsonNode? Value)> _recordedFailures;
    private readonly JsonNode? _recordedInfo;
    private readonly Dictionary<string, (string Error, JsonNode? Value)> _failures = new(StringComparer.Ordinal);
    private readonly int[] _itemsPerWorker;
    private readonly bool _recordFailures;

    private ComponentWorkers(StageContext ctx, PlannedComponent component, List<T> instances, IReadOnlyList<string> devices,
        JsonNode? recordedInfo, IReadOnlyDictionary<string, (string Error, JsonNode? Value)> recordedFailures)
    {
        _instances = instances;
        Devices = devices;
        _recordedInfo = recordedInfo;
        _recordedFailures = recordedFailures;
        _itemsPerWorker = new int[Math.Max(1, devices.Count)];
        _recordFailures = ctx.Scale.Role == RunRole.Shard; // the merge needs them; a single run reports them in its tables
        _record = new JsonObject
        {
            ["index"] = ctx.Planned.Components.ToList().IndexOf(component),
            ["name"] = component.Component.Descriptor.Name,
        };
        ctx.Output.ComponentRecords.Add(_record);
    }

    /// <summary>Creates one instance per device (none when merging: the recorded info stands in for it).</summary>
    public static ComponentWorkers<T> Create(StageContext ctx, PlannedComponent component)
    {
        var scale = ctx.Scale;
        var index = ctx.Planned.Components.ToList().IndexOf(component);
        if (scale.Role == RunRole.Merge)
        {
            if (!scale.Recorded!.TryGet(ctx.Stage.Id, index, out var info, out var failures))
                throw new StageFailedException(ctx.Stage.Id, $"no shard recorded component {index} ('{component.Component.Descriptor.Name}') of this stage; were the shards run with this config?");
            return new ComponentWorkers<T>(ctx, component, [], [], info, failures);
        }
        var instances = new List<T>();
        try
        {
            foreach (var device in scale.Devices) instances.Add(ctx.Create<T>(component, device));
        }
        catch
        {
            foreach (var created in instances) created.Dispose();
            throw;
        }
        return new ComponentWorkers<T>(ctx, component, instances, scale.Devices, null, new Dictionary<string, (string, JsonNode?)>());
    }

    /// <summary>The instances, one per device; empty when merging.</summary>
    public IReadOnlyList<T> Instances => _instances;
    public IReadOnlyList<string> Devices { get; }
    public bool Merging => _instances.Count == 0;

    /// <summary>The component's info: read from the first instance (and recorded), or the shards' record when merging.</summary>
    public TInfo Info<TInfo>(Func<T, TInfo> read) where TInfo : class
    {
        if (Merging)
            return _recordedInfo.Deserialize<TInfo>(InfoJson) ?? throw new InvalidOperationException($"The shards recorded no info for '{_record["name"]}'.");
        var info = read(_instances[0]);
        _record["info"] = Configuration.SecretValues.Redact(JsonSerializer.SerializeToNode(info, InfoJson));
        return info;
    }

    public int BatchSize(int? configured, Func<T, int> preferred) => Math.Max(1, configured ?? (Merging ? 16 : preferred(_instances[0])));

    /// <summary>Batches in flight per worker that the component allows (at least 1).</summary>
    public int Concurrency(Func<T, int> allowed) => Merging ? 1 : Math.Clamp(allowed(_instances[0]), 1, 8);

    /// <summary>The error (and the value that travels with it, e.g. a refusal's outcome) a shard recorded for an item
    /// it could not compute, if any.</summary>
    public (string Error, JsonNode? Value)? RecordedFailure(string key) => _recordedFailures.TryGetValue(key, out var failure) ? failure : null;

    public void RecordFailure(string key, string error, JsonNode? value = null)
    {
        lock (_failures) _failures[key] = (error, value?.DeepClone());
    }

    public void CountWorkerItems(int worker, int items) => Interlocked.Add(ref _itemsPerWorker[worker], items);

    public void Dispose()
    {
        if (_recordFailures)
            lock (_failures)
                _record["failures"] = Configuration.SecretValues.Redact(new JsonObject(_failures.OrderBy(kv => kv.Key, StringComparer.Ordinal)
                    .Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)new JsonObject { ["error"] = kv.Value.Error, ["value"] = kv.Value.Value?.DeepClone() }))));
        if (!Merging)
            _record["workers"] = new JsonArray(Devices.Select((d, w) => (JsonNode)new JsonObject { ["device"] = d, ["items"] = _itemsPerWorker[w] }).ToArray());
        foreach (var instance in _instances) instance.Dispose();
    }
}

/// <summary>Runs batches of items on several workers at once: items spread by a content key, each worker's batches in order.</summary>
internal static class WorkerPool
{
    public static async Task RunAsync<TWorker, TItem>(IReadOnlyList<TWorker> workers, IReadOnlyList<TItem> items, Func<TItem, string> key,
        int batchSize, Func<int, TWorker, TItem[], CancellationToken, Task> runBatch, CancellationToken ct, int inFlight = 1)
    {
        if (inFlight > 1)
        {
            await RunPipelinedAsync(workers, items, key, batchSize, runBatch, inFlight, ct);
            return;
        }
        if (workers.Count == 1)
        {
            foreach (var batch in items.Chunk(Math.Max(1, batchSize)))
            {
                ct.ThrowIfCancellationRequested();
                await runBatch(0, workers[0], batch, ct);
            }
            return;
        }
        var queues = Enumerable.Range(0, workers.Count).Select(_ => new List<TItem>()).ToArray();
        foreach (var item in items) queues[Partition.Bucket(key(item), workers.Count)].Add(item);
        // The first worker that fails stops the others (they would only add work nobody waits for).
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var tasks = queues.Select((queue, w) => Task.Run(async () =>
        {
            try
            {
                foreach (var batch in queue.Chunk(Math.Max(1, batchSize)))
                {
                    failed.Token.ThrowIfCancellationRequested();
                    await runBatch(w, workers[w], batch, failed.Token);
                }
            }
            catch
            {
                await failed.CancelAsync();
                throw;
            }
        }, CancellationToken.None)).ToArray();
        await WhenAllReportingTheCause(tasks, ct);
    }

    /// <summary>
    /// Each worker keeps up to <paramref name="inFlight"/> of its batches running, started in order (the component
    /// allows it: e.g. the next batch is decoded on the CPU while the device scores this one).
    /// </summary>
    private static async Task RunPipelinedAsync<TWorker, TItem>(IReadOnlyList<TWorker> workers, IReadOnlyList<TItem> items, Func<TItem, string> key,
        int batchSize, Func<int, TWorker, TItem[], CancellationToken, Task> runBatch, int inFlight, CancellationToken ct)
    {
        var queues = Enumerable.Range(0, workers.Count).Select(_ => new List<TItem>()).ToArray();
        foreach (var item in items) queues[workers.Count == 1 ? 0 : Partition.Bucket(key(item), workers.Count)].Add(item);
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var tasks = queues.Select((queue, w) => Task.Run(async () =>
        {
            var running = new List<Task>();
            try
            {
                foreach (var batch in queue.Chunk(Math.Max(1, batchSize)))
                {
                    failed.Token.ThrowIfCancellationRequested();
                    while (running.Count >= inFlight)
                    {
                        var done = await Task.WhenAny(running);
                        running.Remove(done);
                        await done; // rethrows its failure
                    }
                    running.Add(runBatch(w, workers[w], batch, failed.Token));
                }
                await Task.WhenAll(running);
            }
            catch
            {
                await failed.CancelAsync();
                try { await Task.WhenAll(running); } catch { /* the first failure is the one reported */ }
                throw;
            }
        }, CancellationToken.None)).ToArray();
        await WhenAllReportingTheCause(tasks, ct);
    }

    private static async Task WhenAllReportingTheCause(Task[] tasks, CancellationToken ct)
    {
        try { await Task.WhenAll(tasks); }
        catch (Exception) when (!ct.IsCancellationRequested)
        {
            // Report the worker's own failure, not the cancellations it caused in the others.
            var cause = tasks.Where(t => t.IsFaulted).SelectMany(t => t.Exception!.InnerExceptions).FirstOrDefault(e => e is not OperationCanceledException);
            if (cause is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(cause);
            throw;
        }
    }
}
