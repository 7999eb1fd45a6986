using BiasBench.Abstractions;
using BiasBench.Host.Cli;
using BiasBench.Host.Plugins;
using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
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
        r.AddGenerator<LengthRewardOptions>("throwing-generator", "1.0", "throws for a whole batch when one prompt starts with 'boom'", (_, _) => new ThrowingGenerator());
        r.AddRewardModel<SecretRewardOptions>("secret-reward", "1.0", "a careless hosted-API client: echoes its key into notes, errors and logs",
            (c, o) => new SecretReward(o, c.Services.GetRequiredService<ILoggerFactory>().CreateLogger("secret-reward")));
        r.AddRewardModel<WeightsFileOptions>("checksum-reward", "1.0", "length score; weights checksum = SHA-256 of weights_file", (_, o) => new ChecksumReward(o));
        r.AddGenerator<WeightsFileOptions>("checksum-generator", "1.0", "bytes generator; weights checksum = SHA-256 of weights_file", (_, o) => new BytesGenerator(o));
        r.AddJudge<WeightsFileOptions>("checksum-judge", "1.0", "labels by length parity; weights checksum = SHA-256 of weights_file", (_, o) => new ChecksumJudge(o));
        r.AddRewardModel<LengthRewardOptions>("oom-reward", "1.0", "throws libtorch's CUDA out-of-memory error on a batch holding an item that starts with 'oom'",
            (_, o) => new OutOfMemoryReward(o));
    }
}

public sealed class SecretRewardOptions
{
    [Secret] public string? ApiKey { get; set; }
    [Secret] public string? ServiceCredential { get; set; }
    public string Endpoint { get; set; } = "https://api.example.invalid/v1";
}

public sealed class SecretReward(SecretRewardOptions o, ILogger logger) : IRewardModel
{
    public RewardModelInfo Info => new("secret-reward", "1.0", new ScoreSemantics("bytes", ComparableAcrossPrompts: true), "none");
    public int PreferredBatchSize => 2;

    public async Task<IReadOnlyList<ItemResult<double>>> ScoreAsync(IReadOnlyList<RewardRequest> batch, CancellationToken ct)
    {
        logger.LogInformation("calling {Endpoint} with key {Key} and credential {Credential}", o.Endpoint, o.ApiKey, o.ServiceCredential);
        // The bare token of "Bearer <token>" too, as a client would send it in a header.
        logger.LogInformation("token {Token}", o.ServiceCredential?.Split(' ').Last());
        var results = new List<ItemResult<double>>();
        foreach (var r in batch)
        {
            var text = System.Text.Encoding.UTF8.GetString((await r.Image.ReadBytesAsync(ct)).Span);
            if (text.StartsWith("boom")) throw new InvalidOperationException($"HTTP 401 for key {o.ApiKey} / {o.ServiceCredential}");
            results.Add(text.StartsWith("bad")
                ? ItemResult<double>.Failure($"rejected credential {o.ServiceCredential}")
                : ItemResult<double>.Success(text.Length, $"scored with {o.ApiKey}"));
        }
        return results;
    }

    public void Dispose() { }
}

public sealed class WeightsFileOptions
{
    [Required] public string? WeightsFile { get; set; }
}

internal static class WeightsChecksum
{
    public static string Of(WeightsFileOptions o) => Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(o.WeightsFile!))).ToLowerInvariant();
}

public sealed class ChecksumReward(WeightsFileOptions o) : IRewardModel
{
    public RewardModelInfo Info { get; } = new("checksum-reward", "1.0", new ScoreSemantics("bytes", ComparableAcrossPrompts: true), "none")
    {
        WeightsChecksum = WeightsChecksum.Of(o),
    };

    public async Task<IReadOnlyList<ItemResult<double>>> ScoreAsync(IReadOnlyList<RewardRequest> batch, CancellationToken ct)
    {
        var results = new List<ItemResult<double>>();
        foreach (var r in batch) results.Add(ItemResult<double>.Success((await r.Image.ReadBytesAsync(ct)).Length));
        return results;
    }

    public void Dispose() { }
}

public sealed class ChecksumJudge(WeightsFileOptions o) : IJudge
{
    public JudgeInfo Info { get; } = new("checksum-judge", "1.0", ["even", "odd"], "test") { WeightsChecksum = WeightsChecksum.Of(o) };

    public async Task<IReadOnlyList<ItemResult<Judgement>>> JudgeAsync(IReadOnlyList<ImageRef> batch, CancellationToken ct)
    {
        var results = new List<ItemResult<Judgement>>();
        foreach (var image in batch)
        {
            var odd = (await image.ReadBytesAsync(ct)).Length % 2 == 1;
            results.Add(ItemResult<Judgement>.Success(new Judgement(odd ? "odd" : "even", new Dictionary<string, double> { ["even"] = odd ? 0 : 1, ["odd"] = odd ? 1 : 0 })));
        }
        return results;
    }

    public void Dispose() { }
}

public sealed class OutOfMemoryReward(LengthRewardOptions o) : IRewardModel
{
    public RewardModelInfo Info => new("oom-reward", "1.0", new ScoreSemantics("bytes", ComparableAcrossPrompts: true), "none");
    public int PreferredBatchSize => 3;

    public async Task<IReadOnlyList<ItemResult<double>>> ScoreAsync(IReadOnlyList<RewardRequest> batch, CancellationToken ct)
    {
        var results = new List<ItemResult<double>>();
        foreach (var r in batch)
        {
            var bytes = await r.Image.ReadBytesAsync(ct);
            // What TorchSharp throws when libtorch reports a CUDA allocation failure.
            if (System.Text.Encoding.UTF8.GetString(bytes.Span).StartsWith("oom"))
                throw new System.Runtime.InteropServices.ExternalException(
                    "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 79.15 GiB total capacity; 77.80 GiB already allocated)\nException raised from malloc at c10/cuda/CUDACachingAllocator.cpp");
            results.Add(ItemResult<double>.Success(bytes.Length * o.Scale));
        }
        return results;
    }

    public void Dispose() { }
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

public sealed class BytesGenerator(WeightsFileOptions? weights = null) : IImageGenerator
{
    public GeneratorInfo Info { get; } = weights is null
        ? new("bytes-generator", "1.0", "test")
        : new("checksum-generator", "1.0", "test") { WeightsChecksum = WeightsChecksum.Of(weights) };

    public Task<IReadOnlyList<ItemResult<GeneratedImage>>> GenerateAsync(IReadOnlyList<GenerationRequest> batch, CancellationToken ct) =>
        Task.FromResult<IReadOnlyList<ItemResult<GeneratedImage>>>(batch.Select(r => ItemResult<GeneratedImage>.Success(new GeneratedImage(r,
            System.Text.Encoding.UTF8.GetBytes($"{r.Prompt}|{r.Seed}"),
            new ImageProvenance("bytes-generator", "1.0", r.Prompt, r.Seed, new Dictionary<string, string>(), DateTimeOffset.UnixEpoch)))).ToList());

    public void Dispose() { }
}

/// <summary>Like a generator whose native call fails for the whole batch when one item is bad (an OOM, a bad prompt).</summary>
public sealed class ThrowingGenerator : IImageGenerator
{
    private readonly BytesGenerator _inner = new();
    public GeneratorInfo Info => new("throwing-generator", "1.0", "test");
    public int PreferredBatchSize => 3;

    public Task<IReadOnlyList<ItemResult<GeneratedImage>>> GenerateAsync(IReadOnlyList<GenerationRequest> batch, CancellationToken ct) =>
        batch.Any(r => r.Prompt.StartsWith("boom", StringComparison.Ordinal))
            ? throw new InvalidOperationException("CUDA out of memory (simulated)")
            : _inner.GenerateAsync(batch, ct);

    public void Dispose() { }
}

public static class TestApp
{
    /// <param name="buildId">Overrides the test plugin's build identity (to simulate a rebuilt plugin).</param>
    /// <param name="console">Receives the console output (log lines) when given.</param>
    /// <param name="configure">Changes the settings (e.g. --shard, --devices, --run-id) before the host starts.</param>
    public static Task<BiasBenchApp> StartAsync(string runsDir, IEnumerable<string>? pluginDirs = null, string? buildId = null, TextWriter? console = null,
        Action<HostSettings>? configure = null)
    {
        var settings = new HostSettings { Device = "cpu", RunsDirectory = runsDir, CacheDirectory = Path.Combine(runsDir, ".cache"), PluginDirectories = pluginDirs?.ToList() ?? [] };
        configure?.Invoke(settings);
        return BiasBenchApp.StartAsync(settings,
            [], verbose: false, AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(console ?? new StringWriter()) }),
            (catalog, services) => catalog.AddLoaded(new TestComponentsPlugin(), new PluginInfo("tests", "1.0", "in-process", false, null) { BuildId = buildId }, services));
    }

    public static string TempDir()
    {
        var d = Path.Combine(Path.GetTempPath(), "biasbench-tests", Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(d);
        return d;
    }
}
