using System.Collections.Concurrent;
using System.ComponentModel.DataAnnotations;
using System.Security.Cryptography;
using System.Text;
using BiasBench.Abstractions;
using BiasBench.Host.Cli;
using BiasBench.Host.Plugins;
using Spectre.Console;

namespace BiasBench.Host.Tests;

/// <summary>
/// Components that use components, for host tests: a fine-tuner whose options reference rewards, a generator and judges,
/// a reward model that counts its instances, a generator that loads whatever weights path it is given, a judge. Each
/// writes what happens to it (created, used, disposed, the path it got) into <see cref="ReferenceEvents"/> under the
/// <c>tag</c> of its options, so tests running in parallel do not see each other. Not shipped.
/// </summary>
public sealed class ReferenceTestPlugin : IBiasBenchPlugin
{
    public void Register(IPluginRegistrar r)
    {
        r.AddRewardModel<CountingRewardOptions>("counting-reward", "1.0", "score = bytes x scale; records its instances", (_, o) => new CountingReward(o));
        r.AddFineTuner<RecordingTunerOptions>("recording-tuner", "1.0", "resolves its references, writes a checkpoint folder in its work folder",
            (c, o) => new RecordingTuner(o, c));
        r.AddFineTuner<LegacyTunerOptions>("legacy-tuner", "1.0", "implements only the original RunAsync", (_, o) => new LegacyTuner(o));
        r.AddGenerator<PathGeneratorOptions>("path-generator", "1.0", "images = prompt|seed|the content of the weights it was given", (_, o) => new PathGenerator(o));
        r.AddJudge<ParityJudgeOptions>("parity-judge", "1.0", "odd/even by the sum of the image's bytes; copies the condition tag", (_, o) => new ParityJudge(o));
    }
}

/// <summary>What happened to the test components, per tag, in order.</summary>
public static class ReferenceEvents
{
    private static readonly ConcurrentDictionary<string, ConcurrentQueue<string>> Events = new();
    private static int _nextId;

    public static int NextId() => Interlocked.Increment(ref _nextId);
    public static void Add(string tag, string text) => Events.GetOrAdd(tag, _ => new ConcurrentQueue<string>()).Enqueue(text);
    public static IReadOnlyList<string> Of(string tag) => Events.TryGetValue(tag, out var q) ? q.ToList() : [];
}

public sealed class CountingRewardOptions
{
    [Range(0.0, 100.0)] public double Scale { get; set; } = 1;
    public string Tag { get; set; } = "";
    [Secret] public string? ApiKey { get; set; }
}

public sealed class CountingReward : IRewardModel
{
    private readonly CountingRewardOptions _o;
    private bool _disposed;

    public CountingReward(CountingRewardOptions o)
    {
        _o = o;
        Id = ReferenceEvents.NextId();
        ReferenceEvents.Add(o.Tag, $"created reward#{Id} scale={o.Scale}");
    }

    public int Id { get; }
    public RewardModelInfo Info => new("counting-reward", "1.0", new ScoreSemantics("bytes x scale", ComparableAcrossPrompts: true), "none") { WeightsChecksum = $"scale-{_o.Scale}" };

    public async Task<IReadOnlyList<ItemResult<double>>> ScoreAsync(IReadOnlyList<RewardRequest> batch, CancellationToken ct)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ReferenceEvents.Add(_o.Tag, $"scored by reward#{Id}");
        var results = new List<ItemResult<double>>();
        foreach (var r in batch) results.Add(ItemResult<double>.Success((await r.Image.ReadBytesAsync(ct)).Length * _o.Scale));
        return results;
    }

    public void Dispose()
    {
        ReferenceEvents.Add(_o.Tag, $"disposed reward#{Id}");
        _disposed = true;
    }
}

/// <summary>A contract no built-in reward implements (to test the check that a resolved instance implements T).</summary>
public interface ISpecialReward : IRewardModel;

public sealed class RecordingTunerOptions
{
    public ComponentReference<IRewardModel>? Reward { get; set; }
    public List<ComponentReference<IRewardModel>> Rewards { get; set; } = [];
    [ExclusiveInstance] public ComponentReference<IImageGenerator>? Generator { get; set; }
    public List<ComponentReference<IJudge>> Judges { get; set; } = [];
    public ComponentReference<ISpecialReward>? Special { get; set; }
    [Range(1, 1000)] public int Steps { get; set; } = 2;
    public string Tag { get; set; } = "";
    public bool Fail { get; set; }
}

/// <summary>
/// "Trains" by scoring one generated image with its rewards; keeps a count of its runs in the work folder (so a re-run
/// that finds the same folder shows) and writes its checkpoint folder there.
/// </summary>
public sealed class RecordingTuner : IFineTuner
{
    private readonly RecordingTunerOptions _o;
    private readonly IRewardModel? _reward;
    private readonly IReadOnlyList<IRewardModel> _rewards;
    private readonly IImageGenerator? _generator;

    public RecordingTuner(RecordingTunerOptions o, ComponentContext context)
    {
        _o = o;
        _reward = o.Reward is null ? null : context.Components.Resolve(o.Reward);
        _rewards = context.Components.ResolveAll(o.Rewards);
        _generator = o.Generator is null ? null : context.Components.Resolve(o.Generator);
        var judges = context.Components.ResolveAll(o.Judges);
        if (o.Special is not null) context.Components.Resolve(o.Special);
        ReferenceEvents.Add(o.Tag, $"tuner resolved reward={Describe(_reward)} rewards=[{string.Join(",", _rewards.Select(Describe))}] " +
                                   $"weights=[{string.Join(",", o.Rewards.Select(r => r.Weight))}] judges={judges.Count} generator={(_generator is null ? "none" : "yes")}");
    }

    private static string Describe(IRewardModel? r) => r switch { null => "none", CountingReward c => $"reward#{c.Id}", _ => r.Info.Name };

    public string Name => "recording-tuner";

    public async Task<FineTuneResult> RunAsync(FineTuneContext context, CancellationToken cancellationToken)
    {
        var runs = Path.Combine(context.WorkDirectory, "runs.txt");
        var count = File.Exists(runs) ? int.Parse(await File.ReadAllTextAsync(runs, cancellationToken)) + 1 : 1;
        await File.WriteAllTextAsync(runs, count.ToString(), cancellationToken);
        ReferenceEvents.Add(_o.Tag, $"tuner run {count} seed={context.Seed} work={context.WorkDirectory} out={context.OutputDirectory}");
        if (_o.Fail) throw new InvalidOperationException("training diverged");

        var image = _generator is null ? Encoding.UTF8.GetBytes("no generator")
            : (await _generator.GenerateAsync([new GenerationRequest("sample", 0)], cancellationToken))[0].Value!.EncodedPng;
        var total = 0.0;
        foreach (var reward in _rewards.Prepend(_reward).OfType<IRewardModel>())
            total += (await reward.ScoreAsync([new RewardRequest(ImageRef.FromBytes("sample", image), "a face")], cancellationToken))[0].Value;
        context.Progress?.Report(1);

        var checkpoint = Path.Combine(context.WorkDirectory, "checkpoint");
        Directory.CreateDirectory(checkpoint);
        await File.WriteAllTextAsync(Path.Combine(checkpoint, "weights.bin"), $"tuned:{_o.Steps}:{total}", cancellationToken);
        var log = new DataTable("tune-log").Add("step", [(double)_o.Steps]).Add("reward", [total]);
        return new FineTuneResult(checkpoint, log);
    }
}

public sealed class LegacyTunerOptions
{
    public string Tag { get; set; } = "";
}

/// <summary>A fine-tuner written against the original contract (only the RunAsync without a work folder).</summary>
public sealed class LegacyTuner(LegacyTunerOptions o) : IFineTuner
{
    public string Name => "legacy-tuner";

    public async Task<FineTuneResult> RunAsync(string outputDirectory, Microsoft.Extensions.Logging.ILogger logger, IProgress<double>? progress, CancellationToken cancellationToken)
    {
        var file = Path.Combine(outputDirectory, "legacy.bin");
        await File.WriteAllTextAsync(file, "legacy", cancellationToken);
        ReferenceEvents.Add(o.Tag, $"legacy run out={outputDirectory}");
        return new FineTuneResult(file, new DataTable("legacy-log").Add("step", [1.0]));
    }
}

public sealed class PathGeneratorOptions
{
    [Required, ModelWeights] public string Model { get; set; } = "";
    public string Tag { get; set; } = "";
}

/// <summary>Loads "weights" from a file or a folder (every file, in name order) and writes them into its images.</summary>
public sealed class PathGenerator : IImageGenerator
{
    private readonly PathGeneratorOptions _o;
    private readonly string _content;

    public PathGenerator(PathGeneratorOptions o)
    {
        _o = o;
        ReferenceEvents.Add(o.Tag, $"generator model={o.Model}");
        _content = Directory.Exists(o.Model)
            ? string.Concat(Directory.GetFiles(o.Model, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal).Select(File.ReadAllText))
            : File.ReadAllText(o.Model);
        Info = new GeneratorInfo("path-generator", "1.0", "test") { WeightsChecksum = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(_content))) };
    }

    public GeneratorInfo Info { get; }

    public Task<IReadOnlyList<ItemResult<GeneratedImage>>> GenerateAsync(IReadOnlyList<GenerationRequest> batch, CancellationToken ct) =>
        Task.FromResult<IReadOnlyList<ItemResult<GeneratedImage>>>(batch.Select(r => ItemResult<GeneratedImage>.Success(new GeneratedImage(r,
            Encoding.UTF8.GetBytes($"{r.Prompt}|{r.Seed}|{_content}"),
            new ImageProvenance("path-generator", "1.0", r.Prompt, r.Seed, new Dictionary<string, string>(), DateTimeOffset.UnixEpoch)))).ToList());

    public void Dispose() => ReferenceEvents.Add(_o.Tag, $"disposed generator model={_o.Model}");
}

public sealed class ParityJudgeOptions
{
    public string Tag { get; set; } = "";
}

public sealed class ParityJudge(ParityJudgeOptions o) : IJudge
{
    public JudgeInfo Info { get; } = new("parity-judge", "1.0", ["even", "odd"], "test");

    public async Task<IReadOnlyList<ItemResult<Judgement>>> JudgeAsync(IReadOnlyList<ImageRef> batch, CancellationToken ct)
    {
        var results = new List<ItemResult<Judgement>>();
        foreach (var image in batch)
        {
            var sum = 0;
            foreach (var b in (await image.ReadBytesAsync(ct)).ToArray()) sum += b;
            var odd = sum % 2 == 1;
            results.Add(ItemResult<Judgement>.Success(new Judgement(odd ? "odd" : "even", new Dictionary<string, double> { ["even"] = odd ? 0 : 1, ["odd"] = odd ? 1 : 0 })
            {
                Details = new Dictionary<string, string> { ["condition"] = image.Tags.GetValueOrDefault("condition") ?? "" },
            }));
        }
        return results;
    }

    public void Dispose() => ReferenceEvents.Add(o.Tag, "disposed judge");
}

public static class ReferenceTestApp
{
    /// <summary>The host with the test components of <see cref="TestComponentsPlugin"/> and <see cref="ReferenceTestPlugin"/>.</summary>
    public static Task<BiasBenchApp> StartAsync(string runsDir, TextWriter? console = null) =>
        BiasBenchApp.StartAsync(new HostSettings { Device = "cpu", RunsDirectory = runsDir, CacheDirectory = Path.Combine(runsDir, ".cache") },
            [], verbose: false, AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(console ?? new StringWriter()) }),
            (catalog, services) =>
            {
                catalog.AddLoaded(new TestComponentsPlugin(), new PluginInfo("tests", "1.0", "in-process", false, null), services);
                catalog.AddLoaded(new ReferenceTestPlugin(), new PluginInfo("reference-tests", "1.0", "in-process", false, null), services);
            });
}
