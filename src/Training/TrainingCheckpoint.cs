using System.Text.Json;
using System.Text.Json.Nodes;
using BiasBench.Torch.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Training;

/// <summary>
/// Where a run stands: completed optimiser steps, the epoch and the next batch within it (the data-order position:
/// the epoch's order is re-derived from the seed, so the position is all that is needed), and a free JSON object the
/// trainer keeps its own bookkeeping in (metric history, best score, early-stopping counter...).
/// </summary>
public sealed class TrainingPosition
{
    public long Step { get; set; }
    public int Epoch { get; set; }
    public int BatchInEpoch { get; set; }
    public JsonObject Extra { get; set; } = new();
}

/// <summary>
/// One file with everything a run needs to continue exactly: the model's parameters and buffers (<c>model.*</c>,
/// batch-norm running statistics included), AdamW's moments (<c>optimizer.*</c>), the state of every torch generator
/// the run uses (<c>rng.*</c>), and in the metadata the position, the schedule and a fingerprint of the settings (a
/// checkpoint of other settings is refused rather than silently continued). safetensors, written to a temporary file
/// and renamed, so a kill during the write leaves the previous checkpoint intact.
/// </summary>
public static class TrainingCheckpoint
{
    public const string StateKey = "biasbench.training_state";
    private const string ModelPrefix = "model.", OptimizerPrefix = "optimizer.", RngPrefix = "rng.";

    public static void Save(string path, nn.Module model, AdamW optimizer, TrainingPosition position, string settingsFingerprint,
        IReadOnlyDictionary<string, Generator>? generators = null, IReadOnlyDictionary<string, string>? metadata = null)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        using var scope = NewDisposeScope();
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, p) in model.named_parameters()) tensors[ModelPrefix + name] = p.detach();
        foreach (var (name, b) in model.named_buffers()) tensors[ModelPrefix + name] = b;
        foreach (var (name, t) in optimizer.StateTensors()) tensors[OptimizerPrefix + name] = t;
        foreach (var (name, g) in generators ?? new Dictionary<string, Generator>()) tensors[RngPrefix + name] = g.get_state();
        var state = new JsonObject
        {
            ["step"] = position.Step,
            ["epoch"] = position.Epoch,
            ["batch_in_epoch"] = position.BatchInEpoch,
            ["optimizer_step"] = optimizer.Step,
            ["settings"] = settingsFingerprint,
            ["extra"] = position.Extra.DeepClone(),
        };
        var meta = new Dictionary<string, string>(metadata ?? new Dictionary<string, string>(), StringComparer.Ordinal) { [StateKey] = state.ToJsonString() };
        var tmp = path + ".tmp";
        SafeTensorsFile.Save(tmp, tensors, meta);
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>
    /// <see cref="Save(string, nn.Module, AdamW, TrainingPosition, string, IReadOnlyDictionary{string, Generator}?, IReadOnlyDictionary{string, string}?)"/>
    /// for parameters that are not one module (a fine-tuner's trainable parameters: a whole UNet or only its LoRA
    /// adapters), plus further named tensor groups (e.g. <c>ema</c>: an EMA's shadows), stored as <c>GROUP.NAME</c>.
    /// </summary>
    public static void Save(string path, IEnumerable<(string Name, Tensor Value)> parameters, AdamW optimizer, TrainingPosition position,
        string settingsFingerprint, IReadOnlyDictionary<string, IReadOnlyDictionary<string, Tensor>>? groups = null,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        using var scope = NewDisposeScope();
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, p) in parameters) tensors[ModelPrefix + name] = p.detach();
        foreach (var (name, t) in optimizer.StateTensors()) tensors[OptimizerPrefix + name] = t;
        foreach (var (group, values) in groups ?? new Dictionary<string, IReadOnlyDictionary<string, Tensor>>())
        {
            if (group is "model" or "optimizer" or "rng") throw new ArgumentException($"'{group}' is a reserved checkpoint group.", nameof(groups));
            foreach (var (name, t) in values) tensors[$"{group}.{name}"] = t;
        }
        var meta = new Dictionary<string, string>(metadata ?? new Dictionary<string, string>(), StringComparer.Ordinal)
        {
            [StateKey] = StateJson(position, optimizer, settingsFingerprint).ToJsonString(),
        };
        var tmp = path + ".tmp";
        SafeTensorsFile.Save(tmp, tensors, meta);
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>
    /// Restores what <see cref="Save(string, IEnumerable{ValueTuple{string, Tensor}}, AdamW, TrainingPosition, string, IReadOnlyDictionary{string, IReadOnlyDictionary{string, Tensor}}?, IReadOnlyDictionary{string, string}?)"/>
    /// wrote: copies every saved parameter into <paramref name="parameters"/> (all must be there, with their shapes),
    /// the optimiser state, and hands each named group's tensors to <paramref name="restoreGroup"/> (disposed after it
    /// returns: copy what you keep). Throws, naming the file, when the settings fingerprint differs.
    /// </summary>
    public static TrainingPosition Restore(string path, IReadOnlyList<(string Name, Tensor Value)> parameters, AdamW optimizer, string settingsFingerprint,
        Action<string, IReadOnlyDictionary<string, Tensor>>? restoreGroup = null)
    {
        using var file = SafeTensorsFile.Open(path);
        var state = ReadState(file, path, settingsFingerprint);
        var all = file.LoadAll();
        try
        {
            using (no_grad())
            {
                foreach (var (name, p) in parameters)
                {
                    if (!all.TryGetValue(ModelPrefix + name, out var saved))
                        throw new InvalidDataException($"{path}: no value for parameter '{name}'.");
                    if (!saved.shape.SequenceEqual(p.shape))
                        throw new InvalidDataException($"{path}: '{name}' has shape [{string.Join(", ", saved.shape)}], parameter [{string.Join(", ", p.shape)}].");
                    p.copy_(saved);
                }
            }
            var known = parameters.Select(p => ModelPrefix + p.Name).ToHashSet(StringComparer.Ordinal);
            var unexpected = all.Keys.Where(k => k.StartsWith(ModelPrefix, StringComparison.Ordinal) && !known.Contains(k)).ToList();
            if (unexpected.Count > 0)
                throw new InvalidDataException($"{path}: parameters this run does not train: {string.Join(", ", unexpected.Take(5))}{(unexpected.Count > 5 ? ", ..." : "")}.");
            var optimizerTensors = all.Where(kv => kv.Key.StartsWith(OptimizerPrefix, StringComparison.Ordinal))
                .ToDictionary(kv => kv.Key[OptimizerPrefix.Length..], kv => kv.Value, StringComparer.Ordinal);
            optimizer.LoadState(state["optimizer_step"]!.GetValue<long>(), optimizerTensors, path);
            if (restoreGroup is not null)
            {
                foreach (var group in all.Keys.Select(k => k.Split('.')[0]).Distinct().Where(g => g is not ("model" or "optimizer" or "rng")))
                    restoreGroup(group, all.Where(kv => kv.Key.StartsWith(group + ".", StringComparison.Ordinal))
                        .ToDictionary(kv => kv.Key[(group.Length + 1)..], kv => kv.Value, StringComparer.Ordinal));
            }
        }
        finally
        {
            foreach (var t in all.Values) t.Dispose();
        }
        return Position(state);
    }

    private static JsonObject StateJson(TrainingPosition position, AdamW optimizer, string settingsFingerprint) => new()
    {
        ["step"] = position.Step,
        ["epoch"] = position.Epoch,
        ["batch_in_epoch"] = position.BatchInEpoch,
        ["optimizer_step"] = optimizer.Step,
        ["settings"] = settingsFingerprint,
        ["extra"] = position.Extra.DeepClone(),
    };

    private static JsonObject ReadState(SafeTensorsFile file, string path, string settingsFingerprint)
    {
        if (!file.Metadata.TryGetValue(StateKey, out var json))
            throw new InvalidDataException($"{path}: not a BiasBench training checkpoint (no '{StateKey}' metadata).");
        JsonObject state;
        try { state = JsonNode.Parse(json)!.AsObject(); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: training state metadata is not valid JSON: {e.Message}", e); }
        var saved = state["settings"]?.GetValue<string>();
        if (saved != settingsFingerprint)
            throw new InvalidDataException($"{path}: this checkpoint was written with other training settings (fingerprint {saved} vs {settingsFingerprint}); " +
                                           "use a new checkpoint directory or the settings it was made with.");
        return state;
    }

    private static TrainingPosition Position(JsonObject state) => new()
    {
        Step = state["step"]!.GetValue<long>(),
        Epoch = state["epoch"]!.GetValue<int>(),
        BatchInEpoch = state["batch_in_epoch"]!.GetValue<int>(),
        Extra = state["extra"]?.AsObject().DeepClone().AsObject() ?? new JsonObject(),
    };

    /// <summary>
    /// Restores model, optimiser and generators from <paramref name="path"/> into freshly built objects and returns the
    /// position. Throws (naming the file) when the settings fingerprint differs or a tensor does not fit.
    /// </summary>
    public static TrainingPosition Restore(string path, nn.Module model, AdamW optimizer, string settingsFingerprint,
        IReadOnlyDictionary<string, Generator>? generators = null)
    {
        using var file = SafeTensorsFile.Open(path);
        if (!file.Metadata.TryGetValue(StateKey, out var json))
            throw new InvalidDataException($"{path}: not a BiasBench training checkpoint (no '{StateKey}' metadata).");
        JsonObject state;
        try { state = JsonNode.Parse(json)!.AsObject(); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: training state metadata is not valid JSON: {e.Message}", e); }
        var saved = state["settings"]?.GetValue<string>();
        if (saved != settingsFingerprint)
            throw new InvalidDataException($"{path}: this checkpoint was written with other training settings (fingerprint {saved} vs {settingsFingerprint}); " +
                                           "use a new checkpoint directory or the settings it was made with.");
        var all = file.LoadAll();
        try
        {
            var modelTensors = all.Where(kv => kv.Key.StartsWith(ModelPrefix, StringComparison.Ordinal))
                .ToDictionary(kv => kv.Key[ModelPrefix.Length..], kv => kv.Value, StringComparer.Ordinal);
            StateDictLoader.Load(model, modelTensors, strict: true, source: path);
            var optimizerTensors = all.Where(kv => kv.Key.StartsWith(OptimizerPrefix, StringComparison.Ordinal))
                .ToDictionary(kv => kv.Key[OptimizerPrefix.Length..], kv => kv.Value, StringComparer.Ordinal);
            optimizer.LoadState(state["optimizer_step"]!.GetValue<long>(), optimizerTensors, path);
            foreach (var (name, g) in generators ?? new Dictionary<string, Generator>())
            {
                if (!all.TryGetValue(RngPrefix + name, out var rng))
                    throw new InvalidDataException($"{path}: no state for random generator '{name}'.");
                g.set_state(rng);
            }
        }
        finally
        {
            foreach (var t in all.Values) t.Dispose();
        }
        return new TrainingPosition
        {
            Step = state["step"]!.GetValue<long>(),
            Epoch = state["epoch"]!.GetValue<int>(),
            BatchInEpoch = state["batch_in_epoch"]!.GetValue<int>(),
            Extra = state["extra"]?.AsObject().DeepClone().AsObject() ?? new JsonObject(),
        };
    }

    /// <summary>Reads only the position stored in a checkpoint (for reporting), without loading tensors.</summary>
    public static TrainingPosition? PeekPosition(string path)
    {
        if (!File.Exists(path)) return null;
        using var file = SafeTensorsFile.Open(path);
        if (!file.Metadata.TryGetValue(StateKey, out var json)) return null;
        var state = JsonNode.Parse(json)!.AsObject();
        return new TrainingPosition
        {
            Step = state["step"]!.GetValue<long>(),
            Epoch = state["epoch"]!.GetValue<int>(),
            BatchInEpoch = state["batch_in_epoch"]!.GetValue<int>(),
            Extra = state["extra"]?.AsObject().DeepClone().AsObject() ?? new JsonObject(),
        };
    }

    /// <summary>A short stable fingerprint (SHA-256 prefix) of a settings description.</summary>
    public static string Fingerprint(string canonicalSettings) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(canonicalSettings)))[..16];
}
