using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace BiasBench.Host.Configuration;

/// <summary>
/// Reads an experiment YAML file into <see cref="ExperimentConfig"/>: ${ENV} substitution, sweep expansion and
/// structural checks. Every problem is reported with file, line and column, and all problems are collected
/// before failing so a user fixes them in one go.
/// </summary>
public static partial class ExperimentConfigLoader
{
    public static readonly string[] TopLevelKeys = ["experiment", "description", "seed", "device", "cache_dir", "runs_dir", "plugin_paths", "stages"];
    public static readonly string[] StageKeys = ["id", "kind", "plugin", "options", "inputs", "sweep", "prompt", "prompts", "seeds", "batch_size", "negative_prompt", "scoring_prompt"];
    private static readonly string[] SecretHints = ["KEY", "TOKEN", "SECRET", "PASSWORD", "PASS"];

    [GeneratedRegex(@"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")]
    private static partial Regex EnvReference();

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
    private static partial Regex SafeName();

    public static ExperimentConfig Load(string path, Func<string, string?>? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        var full = Path.GetFullPath(path);
        string text;
        try { text = File.ReadAllText(full); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigException(new SourceLocation(path, 0, 0), $"cannot read the config file: {e.Message}");
        }
        return Parse(text, full, environment);
    }

    public static ExperimentConfig Parse(string text, string filePath, Func<string, string?>? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        var problems = new List<ConfigProblem>();
        var stream = YamlSyntax.Load(text, filePath);
        if (stream.Documents.Count != 1 || stream.Documents[0].RootNode is not YamlMappingNode root)
            throw new ConfigException(new SourceLocation(filePath, 1, 1), "the config must be one YAML mapping with 'experiment' and 'stages'.");

        SourceLocation At(YamlNode n) => new(filePath, (int)n.Start.Line, (int)n.Start.Column);
        void Problem(YamlNode n, string message) => problems.Add(new ConfigProblem(At(n), message));

        // Every key below is a plain name: a list or mapping used as a key is reported here and dropped.
        YamlSyntax.RemoveNonScalarKeys(root, Problem);
        SubstituteEnvironment(root, environment, Problem, out var secrets);
        SecretValues.AddRange(secrets);

        string? experiment = null, description = null, device = null, cacheDir = null, runsDir = null;
        var seed = 0;
        var pluginPaths = new List<string>();
        YamlSequenceNode? stagesNode = null;
        foreach (var (keyNode, value) in root.Children)
        {
            var key = ((YamlScalarNode)keyNode).Value ?? "";
            switch (key)
            {
                case "experiment":
                    experiment = Scalar(value, "experiment", Problem);
                    if (experiment is not null && !SafeName().IsMatch(experiment))
                        Problem(value, $"experiment name '{experiment}' must be letters, digits, '-', '_' or '.' (it names the run folder).");
                    break;
                case "description": description = Scalar(value, key, Problem); break;
                case "seed":
                    if (Scalar(value, key, Problem) is { } s && !int.TryParse(s, out seed)) Problem(value, $"'seed' must be an integer, got '{s}'.");
                    break;
                case "device":
                    device = Scalar(value, key, Problem);
                    if (device is not null && !IsDevice(device)) Problem(value, $"'device' must be cpu, cuda, cuda:N or auto, got '{device}'.");
                    break;
                case "cache_dir": cacheDir = Scalar(value, key, Problem); break;
                case "runs_dir": runsDir = Scalar(value, key, Problem); break;
                case "plugin_paths": pluginPaths.AddRange(StringList(value, key, Problem)); break;
                case "stages":
                    stagesNode = value as YamlSequenceNode;
                    if (stagesNode is null) Problem(value, "'stages' must be a list of stages.");
                    break;
                default:
                    Problem(keyNode, $"unknown key '{key}'{NearestName.Suggest(key, TopLevelKeys)}.");
                    break;
            }
        }
        if (experiment is null) problems.Add(new ConfigProblem(At(root), "missing required key 'experiment'."));
        if (stagesNode is null && !root.Children.ContainsKey("stages")) problems.Add(new ConfigProblem(At(root), "missing required key 'stages'."));

        var stages = new List<StageConfig>();
        var seenIds = new HashSet<string>(StringComparer.Ordinal);
        if (stagesNode is not null)
        {
            if (stagesNode.Children.Count == 0) Problem(stagesNode, "'stages' is empty: an experiment needs at least one stage.");
            foreach (var node in stagesNode.Children)
                stages.AddRange(ReadStage(node, filePath, seenIds, Problem));
        }
        var config = new ExperimentConfig
        {
            FilePath = filePath,
            Experiment = experiment ?? "invalid",
            Description = description,
            Seed = seed,
            Device = device,
            CacheDirectory = cacheDir,
            RunsDirectory = runsDir,
            PluginPaths = pluginPaths,
            Stages = stages,
            ResolvedYaml = Serialize(stream, secrets),
        };
        // The stages that could be read travel with the problems, so the plugin-level checks (options, files) can
        // report their problems in the same pass.
        if (problems.Count > 0) throw new ConfigException(problems, config);
        return config;
    }

    public static bool IsDevice(string d) =>
        d is "cpu" or "cuda" or "auto" || (d.StartsWith("cuda:") && int.TryParse(d[5..], out var i) && i >= 0);

    private static IEnumerable<StageConfig> ReadStage(YamlNode node, string file, HashSet<string> seenIds, Action<YamlNode, string> problem)
    {
        if (node is not YamlMappingNode map)
        {
            problem(node, "each stage must be a mapping with at least 'kind' (and usually 'id' and 'plugin').");
            yield break;
        }
        SourceLocation At(YamlNode n) => new(file, (int)n.Start.Line, (int)n.Start.Column);
        string? id = null;
        StageKind? kind = null;
        var plugins = new List<string>();
        YamlNode? pluginNode = null;
        var options = new YamlMappingNode();
        YamlNode? optionsNode = null;
        var inputs = new List<string>();
        var sweep = new List<(string Key, YamlNode KeyNode, List<YamlNode> Values)>();
        string? prompt = null;
        string? negativePrompt = null;
        string? scoringPrompt = null;
        IReadOnlyList<(string Condition, string Prompt)>? prompts = null;
        IReadOnlyList<long>? seeds = null;
        int? batchSize = null;
        foreach (var (keyNode, value) in map.Children)
        {
            var key = ((YamlScalarNode)keyNode).Value ?? "";
            switch (key)
            {
                case "id":
                    id = Scalar(value, key, problem);
                    if (id is not null && !SafeName().IsMatch(id)) problem(value, $"stage id '{id}' must be letters, digits, '-', '_' or '.'.");
                    break;
                case "kind":
                    var k = Scalar(value, key, problem);
                    if (k is not null)
                    {
                        if (Enum.TryParse<StageKind>(k, ignoreCase: true, out var parsed) && char.IsLetter(k[0])) kind = parsed;
                        else problem(value, $"unknown stage kind '{k}'{NearestName.Suggest(k, Enum.GetNames<StageKind>().Select(n => n.ToLowerInvariant()))}.");
                    }
                    break;
                case "plugin":
                    pluginNode = value;
                    plugins.AddRange(StringList(value, key, problem));
                    break;
                case "options":
                    optionsNode = value;
                    if (value is YamlMappingNode m) options = m;
                    else if (!(value is YamlScalarNode { Value: null or "" or "~" or "null" })) problem(value, "'options' must be a mapping of option names to values.");
                    break;
                case "inputs": inputs.AddRange(StringList(value, key, problem)); break;
                case "prompt": prompt = Scalar(value, key, problem); break;
                case "prompts": prompts = ReadPrompts(value, problem); break;
                case "negative_prompt": negativePrompt = Scalar(value, key, problem) ?? ""; break;
                case "scoring_prompt": scoringPrompt = Scalar(value, key, problem); break;
                case "seeds": seeds = ReadSeeds(value, problem); break;
                case "batch_size":
                    if (Scalar(value, key, problem) is { } bs && (!int.TryParse(bs, out var b) || b < 1)) problem(value, $"'batch_size' must be a positive integer, got '{bs}'.");
                    else if (value is YamlScalarNode { Value: { } bsv }) batchSize = int.Parse(bsv);
                    break;
                case "sweep":
                    if (value is not YamlMappingNode sweepMap) { problem(value, "'sweep' must map an option name (or 'plugin') to a list of values."); break; }
                    foreach (var (sk, sv) in sweepMap.Children)
                    {
                        var name = ((YamlScalarNode)sk).Value ?? "";
                        if (sv is not YamlSequenceNode seq || seq.Children.Count == 0) { problem(sv, $"sweep '{name}' must be a non-empty list of values."); continue; }
                        sweep.Add((name, sk, seq.Children.ToList()));
                    }
                    break;
                default:
                    problem(keyNode, $"unknown stage key '{key}'{NearestName.Suggest(key, StageKeys)}.");
                    break;
            }
        }
        if (kind is null)
        {
            if (!map.Children.ContainsKey("kind")) problem(map, "stage is missing 'kind' (data, generate, score, judge, analyze, finetune or report).");
            yield break;
        }
        id ??= kind.Value.ToString().ToLowerInvariant();
        if (!seenIds.Add(id)) { problem(map, $"duplicate stage id '{id}': give each stage a unique 'id'."); yield break; }
        if (kind != StageKind.Report && plugins.Count == 0 && !sweep.Any(s => s.Key == "plugin"))
            problem(map, $"stage '{id}' ({kind.Value.ToString().ToLowerInvariant()}) needs a 'plugin'.");
        if (kind != StageKind.Generate && (prompts is not null || seeds is not null))
            problem(map, $"stage '{id}': 'prompts' and 'seeds' belong to generate stages.");
        if (kind == StageKind.Generate && (prompts is null || seeds is null))
            problem(map, $"generate stage '{id}' needs 'prompts' (a list, or condition: prompt pairs) and 'seeds' (a list or 'first..last').");
        if (scoringPrompt is not null && kind != StageKind.Score)
            problem(map, $"stage '{id}': 'scoring_prompt' belongs to score stages.");
        if (negativePrompt is not null && kind != StageKind.Generate)
            problem(map, $"stage '{id}': 'negative_prompt' belongs to generate stages.");
        if (prompt is not null && kind is not (StageKind.Score or StageKind.Judge))
            problem(map, $"stage '{id}': 'prompt' (the default prompt for images without one) belongs to score and judge stages.");
        foreach (var input in inputs)
            if (!seenIds.Contains(input) || input == id)
                problem(map.Children.TryGetValue("inputs", out var inNode) ? inNode : map,
                    $"stage '{id}' takes input '{input}', which is not an earlier stage{NearestName.Suggest(input, seenIds.Where(s => s != id))}.");

        // Cartesian product of the sweep values; each combination is one stage instance.
        var combos = new List<List<(string Key, YamlNode KeyNode, YamlNode Value)>> { new() };
        foreach (var (key, keyNode, values) in sweep)
            combos = combos.SelectMany(c => values.Select(v => new List<(string, YamlNode, YamlNode)>(c) { (key, keyNode, v) })).ToList();
        foreach (var combo in combos)
        {
            var instanceOptions = CloneMapping(options);
            var instancePlugins = new List<string>(plugins);
            var sweepValues = new Dictionary<string, string>();
            foreach (var (key, keyNode, value) in combo)
            {
                var text = value is YamlScalarNode s ? s.Value ?? "" : Serialize(value);
                sweepValues[key] = text;
                if (key == "plugin") { instancePlugins.Clear(); instancePlugins.Add(text); }
                else instanceOptions.Children[keyNode] = value; // the sweep's own key node: problems with it point at the sweep
            }
            var instanceId = sweepValues.Count == 0 ? id : $"{id}[{string.Join(",", sweepValues.Select(kv => $"{kv.Key}={kv.Value}"))}]";
            yield return new StageConfig
            {
                Id = instanceId,
                BaseId = id,
                Kind = kind.Value,
                Plugins = instancePlugins,
                Options = instanceOptions,
                Inputs = inputs,
                SweepValues = sweepValues,
                DefaultPrompt = prompt,
                Prompts = prompts ?? [],
                NegativePrompt = negativePrompt,
                ScoringPrompt = scoringPrompt,
                Seeds = seeds ?? [],
                BatchSize = batchSize,
                Location = At(map),
                PluginLocation = pluginNode is null ? At(map) : At(pluginNode),
                OptionsLocation = optionsNode is null ? At(map) : At(optionsNode),
            };
        }
    }

    private static IReadOnlyList<(string, string)>? ReadPrompts(YamlNode node, Action<YamlNode, string> problem)
    {
        switch (node)
        {
            case YamlSequenceNode seq:
                var list = new List<(string, string)>();
                for (var i = 0; i < seq.Children.Count; i++)
                    if (seq.Children[i] is YamlScalarNode { Value: { Length: > 0 } p }) list.Add(($"p{i}", p));
                    else problem(seq.Children[i], "each prompt must be a non-empty string.");
                return list;
            case YamlMappingNode map:
                var pairs = new List<(string, string)>();
                foreach (var (k, v) in map.Children)
                    if (v is YamlScalarNode { Value: { Length: > 0 } p }) pairs.Add((((YamlScalarNode)k).Value ?? "", p));
                    else problem(v, "each prompt must be a non-empty string.");
                return pairs;
            default:
                problem(node, "'prompts' must be a list of prompts or a mapping of condition names to prompts.");
                return null;
        }
    }

    private static IReadOnlyList<long>? ReadSeeds(YamlNode node, Action<YamlNode, string> problem)
    {
        if (node is YamlScalarNode { Value: { } text })
        {
            var parts = text.Split("..");
            if (parts.Length == 2 && long.TryParse(parts[0], out var first) && long.TryParse(parts[1], out var last) && last >= first && last - first < 10_000_000)
                return Enumerable.Range(0, (int)(last - first + 1)).Select(i => first + i).ToList();
            if (long.TryParse(text, out var single)) return [single];
        }
        else if (node is YamlSequenceNode seq)
        {
            var list = new List<long>();
            foreach (var c in seq.Children)
                if (c is YamlScalarNode { Value: { } v } && long.TryParse(v, out var s)) list.Add(s);
                else problem(c, "each seed must be an integer.");
            return list;
        }
        problem(node, "'seeds' must be a list of integers or a range 'first..last'.");
        return null;
    }

    private static YamlMappingNode CloneMapping(YamlMappingNode source)
    {
        // Shallow copy of the top level is enough: sweeps replace whole top-level option values.
        var copy = new YamlMappingNode();
        foreach (var (k, v) in source.Children) copy.Children.Add(k, v);
        return copy;
    }

    private static string? Scalar(YamlNode node, string key, Action<YamlNode, string> problem)
    {
        if (node is YamlScalarNode s) return s.Value;
        problem(node, $"'{key}' must be a single value, not a {(node is YamlSequenceNode ? "list" : "mapping")}.");
        return null;
    }

    private static IEnumerable<string> StringList(YamlNode node, string key, Action<YamlNode, string> problem)
    {
        if (node is YamlScalarNode s) return s.Value is { Length: > 0 } v ? [v] : [];
        if (node is YamlSequenceNode seq)
        {
            var list = new List<string>();
            foreach (var item in seq.Children)
                if (item is YamlScalarNode { Value: { } v }) list.Add(v);
                else problem(item, $"'{key}' must list plain values.");
            return list;
        }
        problem(node, $"'{key}' must be a value or a list of values.");
        return [];
    }

    private static void SubstituteEnvironment(YamlNode node, Func<string, string?> env, Action<YamlNode, string> problem, out HashSet<string> secrets)
    {
        var found = new HashSet<string>(StringComparer.Ordinal);
        void Walk(YamlNode n)
        {
            switch (n)
            {
                case YamlScalarNode s when s.Value is { } v && v.Contains("${"):
                    s.Value = EnvReference().Replace(v, m =>
                    {
                        if (m.Value == "$${") return "${";
                        var name = m.Groups[1].Value;
                        var value = env(name);
                        if (string.IsNullOrEmpty(value))
                        {
                            if (m.Groups[2].Success) value = m.Groups[2].Value;
                            else { problem(s, $"environment variable '{name}' is not set (write ${{{name}:-default}} for a default)."); return m.Value; }
                        }
                        if (SecretHints.Any(h => name.Contains(h, StringComparison.OrdinalIgnoreCase)) && value.Length > 0) found.Add(value);
                        // Remembered per node: if the option it lands in is [Secret], the variable's value is a secret too.
                        if (m.Groups[1].Success && value.Length > 0) SubstitutedValues.Add(s, value);
                        return value;
                    });
                    break;
                case YamlMappingNode m:
                    foreach (var (_, v) in m.Children) Walk(v);
                    break;
                case YamlSequenceNode q:
                    foreach (var c in q.Children) Walk(c);
                    break;
            }
        }
        Walk(node);
        secrets = found;
    }

    private static string Serialize(YamlStream stream, HashSet<string> secrets)
    {
        var w = new StringWriter();
        stream.Save(w, assignAnchors: false);
        return MaskSecrets(w.ToString(), secrets);
    }

    /// <summary>
    /// The YAML text with every scalar that contains one of <paramref name="secrets"/> masked (on the parsed nodes, so
    /// quoting and escaping cannot hide a value from the mask).
    /// </summary>
    public static string MaskSecrets(string yaml, IReadOnlyCollection<string> secrets)
    {
        if (secrets.Count == 0 || yaml.Length == 0) return yaml;
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        var ordered = secrets.Where(s => s.Length > 0).OrderByDescending(s => s.Length).ToList();
        void Walk(YamlNode n)
        {
            switch (n)
            {
                case YamlScalarNode { Value: { } v } scalar:
                    var masked = v;
                    foreach (var secret in ordered)
                        if (masked == secret || (secret.Length >= SecretValues.MinimumLength && masked.Contains(secret, StringComparison.Ordinal)))
                            masked = masked.Replace(secret, SecretValues.Mask, StringComparison.Ordinal);
                    if (!ReferenceEquals(masked, v)) scalar.Value = masked;
                    break;
                case YamlMappingNode m:
                    foreach (var (k, v) in m.Children) { Walk(k); Walk(v); }
                    break;
                case YamlSequenceNode q:
                    foreach (var c in q.Children) Walk(c);
                    break;
            }
        }
        foreach (var d in stream.Documents) Walk(d.RootNode);
        var w = new StringWriter();
        stream.Save(w, assignAnchors: false);
        return w.ToString();
    }

    private static string Serialize(YamlNode node)
    {
        var w = new StringWriter();
        new YamlStream(new YamlDocument(node)).Save(w, assignAnchors: false);
        return w.ToString().Trim().TrimEnd('.').Trim();
    }
}
