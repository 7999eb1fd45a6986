using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using BiasBench.Abstractions;
using BiasBench.Host.Configuration;
using Microsoft.Extensions.Logging;
using static BiasBench.Host.Runs.ExperimentRunner;

namespace BiasBench.Host.Runs;

/// <summary>
/// Generates every prompt with every seed (prompt pairs that differ only in one word share seeds). Each image is
/// stored by content key in the cache (PNG + provenance) and copied into the run's images/ folder with a
/// provenance sidecar, so a re-run regenerates nothing it already has. Image ids carry the stage's sweep values, so
/// the instances of a swept stage never collide.
/// </summary>
internal static class GenerateStage
{
    /// <summary>Columns of the stage table; provenance settings with one of these names get a "setting_" prefix.</summary>
    private static readonly string[] FixedColumns = ["image_id", "condition", "prompt", "negative_prompt", "seed", "generator", "path", "error", "outcome"];

    public static async Task RunAsync(StageContext ctx, CancellationToken ct)
    {
        var ids = new List<string?>(); var conditions = new List<string?>(); var prompts = new List<string?>(); var negatives = new List<string?>();
        var seeds = new List<double>(); var generators = new List<string?>(); var paths = new List<string?>(); var errors = new List<string?>();
        var settings = new List<IReadOnlyDictionary<string, string>?>(); var outcomes = new List<string>();
        foreach (var component in ctx.Planned.Components)
        {
            using var workers = ComponentWorkers<IImageGenerator>.Create(ctx, component); // one per device worker
            var info = workers.Info(g => g.Info);
            // The weights checksum is part of the key: new weights under the same options never reuse old images.
            var configKey = ctx.ConfigurationKey("generate", component, info.Name, info.Version, info.WeightsChecksum);
            using var cache = ctx.OpenCache("images", info.Name, configKey);
            var imageCache = Path.Combine(ctx.Environment.CacheDirectory, "images", "png");
            Directory.CreateDirectory(imageCache);
            var outDir = Path.Combine(ctx.Store.ImagesDirectory, RunStore.SafeFileName(ctx.Stage.Id));
            Directory.CreateDirectory(outDir);

            var negative = string.IsNullOrEmpty(ctx.Stage.NegativePrompt) ? null : ctx.Stage.NegativePrompt;
            var requests = ctx.Stage.Prompts.SelectMany(p => ctx.Stage.Seeds.Select(s => new GenerationRequest(p.Prompt, s)
            {
                NegativePrompt = negative,
                Tags = Tags(ctx.Stage, p.Condition, p.Prompt, s, negative),
            })).Where(ctx.Scale.Owns).ToList(); // a shard generates its part
            string KeyOf(GenerationRequest r) => ResultCache.Key(configKey, r.Prompt, r.Seed.ToString(System.Globalization.CultureInfo.InvariantCulture), r.NegativePrompt);
            var pending = requests.Where(r => !(cache.TryGet(KeyOf(r), out var v) && File.Exists(v?["file"]?.GetValue<string>()))).ToList();
            ctx.Output.ItemsFromCache += requests.Count - pending.Count;
            var failures = new Dictionary<GenerationRequest, string>();
            var refusals = new HashSet<GenerationRequest>();
            if (workers.Merging)
            {
                var missing = pending.Where(r => workers.RecordedFailure(KeyOf(r)) is null).ToList();
                if (missing.Count > 0)
                    throw new StageFailedException(ctx.Stage.Id, $"{info.Name}: {missing.Count} image(s) are neither in the cache ({cache.File}) nor among the failures the shards recorded " +
                        $"(first: \"{missing[0].Prompt}\", seed {missing[0].Seed}). Rerun the shards and merge again.");
                foreach (var r in pending)
                {
                    var (error, value) = workers.RecordedFailure(KeyOf(r))!.Value;
                    failures[r] = error;
                    if (value?["outcome"]?.GetValue<string>() == "refusal") refusals.Add(r);
                }
                pending = [];
            }
            using (var task = ctx.Progress.Start($"{ctx.Stage.Id}: {info.Name}", pending.Count))
            {
                var computed = 0;
                await WorkerPool.RunAsync(workers.Instances, pending, KeyOf, workers.BatchSize(ctx.Stage.BatchSize, g => g.PreferredBatchSize), async (w, generator, batch, token) =>
                {
                    var results = await GenerateIsolatingFailures(generator, batch, ctx, token);
                    for (var i = 0; i < batch.Length; i++)
                    {
                        var r = results[i];
                        if (r.IsSuccess)
                        {
                            var key = KeyOf(batch[i]);
                            var file = Path.Combine(imageCache, key + ".png");
                            var tmp = file + $".{Environment.ProcessId}-{w}.tmp"; // shards and workers never share a temporary file
                            await File.WriteAllBytesAsync(tmp, r.Value!.EncodedPng, token);
                            File.Move(tmp, file, overwrite: true);
                            cache.Put(key, new JsonObject { ["file"] = file, ["provenance"] = JsonSerializer.SerializeToNode(r.Value.Provenance) });
                            Interlocked.Increment(ref computed);
                        }
                        else
                        {
                            lock (failures)
                            {
                                failures[batch[i]] = r.Error!;
                                if (r.IsRefusal) refusals.Add(batch[i]);
                            }
                            workers.RecordFailure(KeyOf(batch[i]), r.Error!, r.IsRefusal ? new JsonObject { ["outcome"] = "refusal" } : null);
                        }
                        task.Increment();
                    }
                    workers.CountWorkerItems(w, batch.Length);
                }, ct);
                ctx.Output.ItemsComputed += computed;
            }
            foreach (var r in requests)
            {
                var id = ImageId(info.Name, r.Tags["condition"], r.Seed, ctx.Stage.SweepValues);
                ids.Add(id); conditions.Add(r.Tags["condition"]); prompts.Add(r.Prompt); negatives.Add(r.NegativePrompt); seeds.Add(r.Seed); generators.Add(info.Name);
                if (failures.TryGetValue(r, out var error)) { paths.Add(null); errors.Add(error); settings.Add(null); outcomes.Add(refusals.Contains(r) ? "refusal" : "error"); ctx.Output.ItemsFailed++; continue; }
                outcomes.Add("success");
                cache.TryGet(KeyOf(r), out var record);
                var target = Path.Combine(outDir, id + ".png");
                File.Copy(record!["file"]!.GetValue<string>(), target, overwrite: true);
                File.WriteAllText(Path.ChangeExtension(target, ".json"), SecretValues.Redact(record["provenance"])?.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) ?? "{}");
                paths.Add(ctx.Store.Relative(target)); errors.Add(null);
                settings.Add(SettingsOf(record["provenance"]));
                var tags = new Dictionary<string, string>(r.Tags) { ["generator"] = info.Name };
                ctx.Output.Images.Add(ImageRef.FromFile(id, target).WithTags(tags));
            }
            if (failures.Count > 0) ctx.Output.Warnings.Add($"{info.Name}: {failures.Count} image(s) failed; first: {failures.Values.First()}");
        }
        var table = new DataTable(ctx.Stage.Id) { Caption = "Generated images with prompt, condition, seed and the generator's settings." }
            .Add("image_id", ids.ToArray()).Add("condition", conditions.ToArray()).Add("prompt", prompts.ToArray())
            .Add("negative_prompt", negatives.ToArray())
            .Add("seed", seeds.ToArray()).Add("generator", generators.ToArray()).Add("path", paths.ToArray()).Add("error", errors.ToArray())
            .Add("outcome", outcomes.Select(o => (string?)o).ToArray());
        // One column per provenance setting (scheduler, steps, guidance, dtype, weights checksum...), in first-seen order.
        var settingKeys = settings.Where(s => s is not null).SelectMany(s => s!.Keys).Distinct(StringComparer.Ordinal).ToList();
        foreach (var key in settingKeys)
        {
            var column = FixedColumns.Contains(key) ? "setting_" + key : key;
            table.Add(column, settings.Select(s => s is not null && s.TryGetValue(key, out var v) ? v : null).ToArray());
        }
        ctx.Output.Tables.Add(table);
        if (outcomes.Any(o => o != "success")) ctx.Output.Tables.Add(OutcomeTables.ByCondition($"{ctx.Stage.Id}-outcomes", conditions, outcomes));
    }

    /// <summary>
    /// One batch call; when the whole batch throws (a generator that does not report per-item failures), each item is
    /// retried alone so one bad item does not fail the others.
    /// </summary>
    private static async Task<IReadOnlyList<ItemResult<GeneratedImage>>> GenerateIsolatingFailures(IImageGenerator generator, GenerationRequest[] batch,
        StageContext ctx, CancellationToken ct)
    {
        IReadOnlyList<ItemResult<GeneratedImage>> results;
        try { results = await generator.GenerateAsync(batch, ct); }
        catch (OperationCanceledException) { throw; }
        catch (ExternalException e) when (NativeFailures.IsResourceExhaustion(e))
        {
            throw NativeFailures.StageError(ctx.Stage.Id, $"generator '{generator.Info.Name}'", batch.Length, e);
        }
        catch (Exception e)
        {
            if (batch.Length == 1) return [ItemResult<GeneratedImage>.Failure($"{e.GetType().Name}: {e.Message}")];
            ctx.Logger.LogWarning("{Stage}: a batch of {Count} failed ({Error}); generating its items one by one", ctx.Stage.Id, batch.Length, e.Message);
            var single = new List<ItemResult<GeneratedImage>>();
            foreach (var request in batch)
            {
                ct.ThrowIfCancellationRequested();
                try
                {
                    var one = await generator.GenerateAsync([request], ct);
                    single.Add(one.Count > 0 ? one[0] : ItemResult<GeneratedImage>.Failure("generator returned no result"));
                }
                catch (OperationCanceledException) { throw; }
                catch (ExternalException itemError) when (NativeFailures.IsResourceExhaustion(itemError))
                {
                    throw NativeFailures.StageError(ctx.Stage.Id, $"generator '{generator.Info.Name}'", 1, itemError);
                }
                catch (Exception itemError) { single.Add(ItemResult<GeneratedImage>.Failure($"{itemError.GetType().Name}: {itemError.Message}")); }
            }
            return single;
        }
        return batch.Select((_, i) => i < results.Count ? results[i] : ItemResult<GeneratedImage>.Failure("generator returned too few results")).ToList();
    }

    private static Dictionary<string, string> Tags(StageConfig stage, string condition, string prompt, long seed, string? negative)
    {
        var tags = new Dictionary<string, string>
        {
            ["condition"] = condition,
            ["prompt"] = prompt,
            ["seed"] = seed.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        if (negative is not null) tags["negative_prompt"] = negative;
        foreach (var (key, value) in stage.SweepValues) tags.TryAdd(key, value);
        return tags;
    }

    /// <summary>generator_condition_seed, plus _key-value for each sweep value of the stage instance.</summary>
    internal static string ImageId(string generator, string condition, long seed, IReadOnlyDictionary<string, string> sweepValues)
    {
        var id = $"{RunStore.SafeFileName(generator)}_{RunStore.SafeFileName(condition)}_{seed.ToString(System.Globalization.CultureInfo.InvariantCulture)}";
        foreach (var (key, value) in sweepValues.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            id += $"_{RunStore.SafeFileName(key)}-{RunStore.SafeFileName(value)}";
        return id;
    }

    private static Dictionary<string, string>? SettingsOf(JsonNode? provenance)
    {
        if (provenance?["Settings"] is not JsonObject settings) return null;
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in settings)
            if (value is not null) result[key] = value is JsonValue v && v.TryGetValue<string>(out var s) ? s : value.ToJsonString();
        return result;
    }
}
