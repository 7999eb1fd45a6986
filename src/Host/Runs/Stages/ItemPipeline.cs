using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using BiasBench.Abstractions;
using static BiasBench.Host.Runs.ExperimentRunner;

namespace BiasBench.Host.Runs;

/// <summary>
/// The shared per-item loop of score and judge stages: hash each input once, skip items already in the cache,
/// run the rest in batches, cache each success the moment it arrives, and isolate a failing batch item by item so
/// one bad image never costs the others.
/// </summary>
internal static class ItemPipeline
{
    public sealed record Item(int Index, ImageRef Image, string Prompt, string? Hash, string? ReadError);

    /// <summary>Reads and hashes every image (in parallel). Unreadable files become per-item errors.</summary>
    public static async Task<List<Item>> PrepareAsync(IReadOnlyList<(ImageRef Image, string Prompt)> inputs, CancellationToken ct)
    {
        var items = new Item[inputs.Count];
        await Parallel.ForEachAsync(Enumerable.Range(0, inputs.Count), new ParallelOptions { CancellationToken = ct, MaxDegreeOfParallelism = Environment.ProcessorCount },
            async (i, token) =>
            {
                var (image, prompt) = inputs[i];
                try
                {
                    var bytes = await image.ReadBytesAsync(token);
                    items[i] = new Item(i, image, prompt, ResultCache.Hash(bytes.Span), null);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    items[i] = new Item(i, image, prompt, null, $"cannot read image: {e.Message}");
                }
            });
        return items.ToList();
    }

    /// <summary>
    /// Runs <paramref name="compute"/> on the items missing from <paramref name="cache"/>. Returns each item's cached
    /// JSON value or its error.
    /// </summary>
    public static async Task<(JsonNode? Value, string? Error)[]> RunAsync(
        StageContext ctx, string componentName, List<Item> items, ResultCache cache, int batchSize,
        Func<IReadOnlyList<Item>, CancellationToken, Task<IReadOnlyList<(JsonNode? Value, string? Error)>>> compute,
        CancellationToken ct)
    {
        var results = new (JsonNode? Value, string? Error)[items.Count];
        string? lastError = null;
        var pending = new List<Item>();
        foreach (var item in items)
        {
            if (item.ReadError is not null) { results[item.Index] = (null, item.ReadError); continue; }
            if (cache.TryGet(Key(item), out var cached)) { results[item.Index] = (cached, null); ctx.Output.ItemsFromCache++; }
            else pending.Add(item);
        }
        if (pending.Count > 0)
            ctx.Logger.LogInformationSafe($"{ctx.Stage.Id}: {componentName}: {pending.Count} item(s) to compute, {items.Count - pending.Count} already done");
        using var task = ctx.Progress.Start($"{ctx.Stage.Id}: {componentName}", pending.Count);
        foreach (var batch in pending.Chunk(Math.Max(1, batchSize)))
        {
            ct.ThrowIfCancellationRequested();
            var outcome = await TryBatch(batch, compute, ct);
            if (outcome is null && batch.Length > 1)
            {
                // The whole batch failed: retry item by item so the error lands on the item that caused it.
                var single = new List<(JsonNode?, string?)>();
                foreach (var item in batch)
                    single.Add((await TryBatch([item], compute, ct))?[0] ?? (null, "failed"));
                outcome = single;
            }
            for (var i = 0; i < batch.Length; i++)
            {
                var (value, error) = outcome?[i] ?? (null, lastError ?? "failed");
                var item = batch[i];
                if (error is null)
                {
                    cache.Put(Key(item), value);
                    ctx.Output.ItemsComputed++;
                }
                results[item.Index] = (value, error);
                task.Increment();
            }
        }
        ctx.Output.ItemsFailed += results.Count(r => r.Error is not null);
        return results;

        async Task<IReadOnlyList<(JsonNode?, string?)>?> TryBatch(IReadOnlyList<Item> batch, Func<IReadOnlyList<Item>, CancellationToken, Task<IReadOnlyList<(JsonNode? Value, string? Error)>>> f, CancellationToken token)
        {
            try
            {
                var r = await f(batch, token);
                if (r.Count != batch.Count)
                {
                    lastError = $"{componentName} returned {r.Count} results for {batch.Count} items";
                    return null;
                }
                return r;
            }
            catch (OperationCanceledException) { throw; }
            catch (ExternalException e) when (NativeFailures.IsResourceExhaustion(e))
            {
                // Out of (GPU) memory is not the item's fault: stop the stage with advice; finished items are already cached.
                throw NativeFailures.StageError(ctx.Stage.Id, componentName, batch.Count, e);
            }
            catch (Exception e)
            {
                lastError = $"{componentName} failed: {e.GetType().Name}: {e.Message}";
                if (batch.Count == 1) return [(null, lastError)];
                return null;
            }
        }
    }

    public static string Key(Item item) => ResultCache.Key(item.Hash, item.Prompt);
}
