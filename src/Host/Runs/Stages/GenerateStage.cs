using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using BiasBench.Abstractions;
using BiasBench.Host.Configuration;
using static BiasBench.Host.Runs.ExperimentRunner;

namespace BiasBench.Host.Runs;

/// <summary>
/// Generates every prompt with every seed (prompt pairs that differ only in one word share seeds). Each image is
/// stored by content key in the cache (PNG + provenance) and copied into the run's images/ folder with a
/// provenance sidecar, so a re-run regenerates nothing it already has.
/// </summary>
internal static class GenerateStage
{
    public static async Task RunAsync(StageContext ctx, CancellationToken ct)
    {
        var ids = new List<string?>(); var conditions = new List<string?>(); var prompts = new List<string?>();
        var seeds = new List<double>(); var generators = new List<string?>(); var paths = new List<string?>(); var errors = new List<string?>(); var outcomes = new List<string>();
        foreach (var component in ctx.Planned.Components)
        {
            using var workers = ComponentWorkers<IImageGenerator>.Create(ctx, component); // one per device worker
            var info = workers.Info(g => g.Info);
            var configKey = ctx.ConfigurationKey("generate", component, info.Name, info.Version, info.WeightsChecksum);
            using var cache = ctx.OpenCache("images", info.Name, configKey);
            var imageCache = Path.Combine(ctx.Environment.CacheDirectory, "images", "png");
            Directory.CreateDirectory(imageCache);
            var outDir = Path.Combine(ctx.Store.ImagesDirectory, RunStore.SafeFileName(ctx.Stage.Id));
            Directory.CreateDirectory(outDir);

            var requests = ctx.Stage.Prompts.SelectMany(p => ctx.Stage.Seeds.Select(s => new GenerationRequest(p.Prompt, s)
            {
                Tags = new Dictionary<string, string> { ["condition"] = p.Condition, ["prompt"] = p.Prompt, ["seed"] = s.ToString(System.Globalization.CultureInfo.InvariantCulture) },
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
                    IReadOnlyList<ItemResult<GeneratedImage>> results;
                    try { results = await generator.GenerateAsync(batch, token); }
                    catch (OperationCanceledException) { throw; }
                    catch (ExternalException e) when (NativeFailures.IsResourceExhaustion(e))
                    {
                        throw NativeFailures.StageError(ctx.Stage.Id, $"generator '{info.Name}'", batch.Length, e);
                    }
                    catch (Exception e) { results = batch.Select(_ => ItemResult<GeneratedImage>.Failure($"{e.GetType().Name}: {e.Message}")).ToList(); }
                    for (var i = 0; i < batch.Length; i++)
                    {
                        var r = i < results.Count ? results[i] : ItemResult<GeneratedImage>.Failure("generator returned too few results");
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
                var id = $"{RunStore.SafeFileName(info.Name)}_{RunStore.SafeFileName(r.Tags["condition"])}_{r.Seed}";
                ids.Add(id); conditions.Add(r.Tags["condition"]); prompts.Add(r.Prompt); seeds.Add(r.Seed); generators.Add(info.Name);
                if (failures.TryGetValue(r, out var error)) { paths.Add(null); errors.Add(error); outcomes.Add(refusals.Contains(r) ? "refusal" : "error"); ctx.Output.ItemsFailed++; continue; }
                outcomes.Add("success");
                cache.TryGet(KeyOf(r), out var record);
                var target = Path.Combine(outDir, id + ".png");
                File.Copy(record!["file"]!.GetValue<string>(), target, overwrite: true);
                File.WriteAllText(Path.ChangeExtension(target, ".json"), SecretValues.Redact(record["provenance"])?.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) ?? "{}");
                paths.Add(ctx.Store.Relative(target)); errors.Add(null);
                var tags = new Dictionary<string, string>(r.Tags) { ["generator"] = info.Name };
                ctx.Output.Images.Add(ImageRef.FromFile(id, target).WithTags(tags));
            }
            if (failures.Count > 0) ctx.Output.Warnings.Add($"{info.Name}: {failures.Count} image(s) failed; first: {failures.Values.First()}");
        }
        ctx.Output.Tables.Add(new DataTable(ctx.Stage.Id) { Caption = "Generated images with prompt, condition and seed." }
            .Add("image_id", ids.ToArray()).Add("condition", conditions.ToArray()).Add("prompt", prompts.ToArray())
            .Add("seed", seeds.ToArray()).Add("generator", generators.ToArray()).Add("path", paths.ToArray()).Add("error", errors.ToArray()).Add("outcome", outcomes.Select(o => (string?)o).ToArray()));
        if (outcomes.Any(o => o != "success")) ctx.Output.Tables.Add(OutcomeTables.ByCondition($"{ctx.Stage.Id}-outcomes", conditions, outcomes));
    }
}
