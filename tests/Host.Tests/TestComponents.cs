using BiasBench.Abstractions;
using BiasBench.Host.Cli;
using BiasBench.Host.Plugins;
using Spectre.Console;

namespace BiasBench.Host.Tests;

/// <summary>
/// Components registered in-process for host tests. They exercise the host's handling of plugins (per-item errors,
/// exceptions, generated images); they are not shipped.
/// </summary>
public sealed class TestComponentsPlugin : IBiasBenchPlugin
{
    public static int ScoreCalls;

    public void Register(IPluginRegistrar r)
    {
        r.AddDataset<MemoryDatasetOptions>("memory-images", "1.0", "n in-memory images", (_, o) => new MemoryDataset(o));
        r.AddRewardModel<LengthRewardOptions>("length-reward", "1.0", "score = encoded length; fails on items starting with 'bad', throws on 'boom'",
            (_, o) => new LengthReward(o));
        r.AddRewardModel<LengthRewardOptions>("broken-reward", "1.0", "throws when created", (_, _) => throw new InvalidOperationException("weights file is corrupt"));
        r.AddGenerator<LengthRewardOptions>("bytes-generator", "1.0", "deterministic bytes from prompt+seed", (_, _) => new BytesGenerator());
    }
}

public sealed class MemoryDatasetOptions
{
    public int Count { get; set; } = 10;
    public List<string> Special { get; set; } = [];
}

public sealed class MemoryDataset(MemoryDatasetOptions o) : IDataset
{
    public string Name => "memory-images";

    public Task<DatasetContent> LoadAsync(CancellationToken ct)
    {
        var images = Enumerable.Range(0, o.Count).Select(i =>
        {
            var text = i < o.Special.Count ? o.Special[i] : new string('x', i + 1);
            return ImageRef.FromBytes($"img{i:D3}", System.Text.Encoding.UTF8.GetBytes(text))
                .WithTags(new Dictionary<string, string> { ["prompt"] = $"prompt {i % 2}" });
        }).ToList();
        var table = new DataTable("memory").Add("image_id", images.Select(i => (string?)i.Id).ToArray());
        return Task.FromResult(new DatasetContent(images, table, "image_id"));
    }
}

public sealed class LengthRewardOptions
{
    public double Scale { get; set; } = 1;
}

public sealed class LengthReward(LengthRewardOptions o) : IRewardModel
{
    public RewardModelInfo Info => new("length-reward", "1.0", new ScoreSemantics("bytes", ComparableAcrossPrompts: false), "none");
    public int PreferredBatchSize => 3;

    public async Task<IReadOnlyList<ItemResult<double>>> ScoreAsync(IReadOnlyList<RewardRequest> batch, CancellationToken ct)
    {
        Interlocked.Add(ref TestComponentsPlugin.ScoreCalls, batch.Count);
        var results = new List<ItemResult<double>>();
        foreach (var r in batch)
        {
            var bytes = await r.Image.ReadBytesAsync(ct);
            var text = System.Text.Encoding.UTF8.GetString(bytes.Span);
            if (text.StartsWith("boom")) throw new InvalidOperationException("native crash simulated");
            results.Add(text.StartsWith("bad") ? ItemResult<double>.Failure("cannot decode image") : ItemResult<double>.Success(bytes.Length * o.Scale));
        }
        return results;
    }

    public void Dispose() { }
}

public sealed class BytesGenerator : IImageGenerator
{
    public GeneratorInfo Info => new("bytes-generator", "1.0", "test");

    public Task<IReadOnlyList<ItemResult<GeneratedImage>>> GenerateAsync(IReadOnlyList<GenerationRequest> batch, CancellationToken ct) =>
        Task.FromResult<IReadOnlyList<ItemResult<GeneratedImage>>>(batch.Select(r => ItemResult<GeneratedImage>.Success(new GeneratedImage(r,
            System.Text.Encoding.UTF8.GetBytes($"{r.Prompt}|{r.Seed}"),
            new ImageProvenance("bytes-generator", "1.0", r.Prompt, r.Seed, new Dictionary<string, string>(), DateTimeOffset.UnixEpoch)))).ToList());

    public void Dispose() { }
}

public static class TestApp
{
    public static Task<BiasBenchApp> StartAsync(string runsDir, IEnumerable<string>? pluginDirs = null, Action<HostSettings>? configure = null)
    {
        var settings = new HostSettings { Device = "cpu", RunsDirectory = runsDir, CacheDirectory = Path.Combine(runsDir, ".cache"), PluginDirectories = pluginDirs?.ToList() ?? [] };
        configure?.Invoke(settings);
        return BiasBenchApp.StartAsync(settings,
            [], verbose: false, AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(new StringWriter()) }),
            (catalog, services) => catalog.AddLoaded(new TestComponentsPlugin(), new PluginInfo("tests", "1.0", "in-process", false, null), services));
    }

    public static string TempDir()
    {
        var d = Path.Combine(Path.GetTempPath(), "biasbench-tests", Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(d);
        return d;
    }
}
