using System.Diagnostics;
using System.Text.RegularExpressions;
using BiasBench.Abstractions;
using BiasBench.Abstractions.Torch;
using BiasBench.Imaging;
using Microsoft.Extensions.Logging;

namespace BiasBench.Plugins.FineTuning;

/// <summary>A judge the monitor asks, and the label it counts (e.g. "attractive").</summary>
public sealed record MonitorJudge(string Name, IJudge Judge, string PositiveLabel);

/// <summary>
/// The reward-hacking monitor: at chosen steps it generates the same seeds with the current weights (PNG, as any
/// generate stage would), scores them with the training rewards (their weighted sum too) and with independent reward
/// models, asks the judges, and appends one row per step to <c>monitor.csv</c> (flushed at once: a killed run keeps
/// every finished row). It also writes a sample grid PNG per step. Columns:
/// <c>step, training_reward, reward.NAME..., monitor.NAME..., judge.NAME.LABEL_share, judge.NAME.LABEL_probability, failed_items, seconds</c>.
/// </summary>
public sealed class RewardHackingMonitor
{
    private readonly IDifferentiableImageGenerator _generator;
    private readonly IReadOnlyList<(string Name, IDifferentiableRewardModel Model, double Weight)> _rewards;
    private readonly IReadOnlyList<(string Name, IRewardModel Model)> _monitorRewards;
    private readonly IReadOnlyList<MonitorJudge> _judges;
    private readonly Func<long, string> _prompt;
    private readonly long[] _seeds;
    private readonly int _gridImages;

    public RewardHackingMonitor(IDifferentiableImageGenerator generator, IReadOnlyList<(string Name, IDifferentiableRewardModel Model, double Weight)> rewards,
        IReadOnlyList<(string Name, IRewardModel Model)> monitorRewards, IReadOnlyList<MonitorJudge> judges, Func<long, string> prompt,
        long seedStart, int images, int gridImages, string directory)
    {
        _generator = generator;
        _rewards = rewards;
        _monitorRewards = monitorRewards;
        _judges = judges;
        _prompt = prompt;
        _seeds = Enumerable.Range(0, images).Select(i => seedStart + i).ToArray();
        _gridImages = Math.Min(gridImages, images);
        GridDirectory = Path.Combine(directory, "grids");
        var columns = new List<string> { "step", "training_reward" };
        columns.AddRange(rewards.Select(r => "reward." + Safe(r.Name)));
        columns.AddRange(monitorRewards.Select(r => "monitor." + Safe(r.Name)));
        foreach (var j in judges)
        {
            columns.Add(ShareColumn(j));
            columns.Add($"judge.{Safe(j.Name)}.{Safe(j.PositiveLabel)}_probability");
        }
        columns.Add("failed_items");
        columns.Add("seconds");
        Log = new CsvLog(Path.Combine(directory, "monitor.csv"), columns);
    }

    public CsvLog Log { get; }
    public string GridDirectory { get; }
    public IReadOnlyList<MonitorJudge> Judges => _judges;

    public static string ShareColumn(MonitorJudge judge) => $"judge.{Safe(judge.Name)}.{Safe(judge.PositiveLabel)}_share";

    public string GridPath(long step) => Path.Combine(GridDirectory, $"step-{step:D7}.png");

    /// <summary>Monitors <paramref name="step"/> unless a row for it exists already.</summary>
    public async Task RunAsync(long step, ILogger logger, CancellationToken ct)
    {
        if (Log.Contains(step)) return;
        var clock = Stopwatch.StartNew();
        var images = new List<ImageRef>();
        var prompts = new Dictionary<string, string>(StringComparer.Ordinal);
        var failed = 0;
        var batch = Math.Max(1, _generator.PreferredBatchSize);
        for (var start = 0; start < _seeds.Length; start += batch)
        {
            ct.ThrowIfCancellationRequested();
            var requests = _seeds.Skip(start).Take(batch).Select((s, i) => new GenerationRequest(_prompt(start + i), s)).ToList();
            var results = await _generator.GenerateAsync(requests, ct).ConfigureAwait(false);
            for (var i = 0; i < results.Count; i++)
            {
                if (results[i].Value is { } image)
                {
                    var reference = ImageRef.FromBytes($"monitor-{step}-{requests[i].Seed}", image.EncodedPng);
                    images.Add(reference);
                    prompts[reference.Id] = requests[i].Prompt;
                }
                else failed++;
            }
        }
        var row = new List<double> { step };
        var requestsForRewards = images.Select(i => new RewardRequest(i, prompts[i.Id])).ToList();
        double total = 0;
        var rewardMeans = new List<double>();
        foreach (var (_, model, weight) in _rewards)
        {
            var (mean, bad) = await MeanScore(model, requestsForRewards, ct).ConfigureAwait(false);
            failed += bad;
            rewardMeans.Add(mean);
            total += weight * mean;
        }
        row.Add(total);
        row.AddRange(rewardMeans);
        foreach (var (_, model) in _monitorRewards)
        {
            var (mean, bad) = await MeanScore(model, requestsForRewards, ct).ConfigureAwait(false);
            failed += bad;
            row.Add(mean);
        }
        foreach (var judge in _judges)
        {
            var (share, probability, bad) = await Judge(judge, images, ct).ConfigureAwait(false);
            failed += bad;
            row.Add(share);
            row.Add(probability);
        }
        row.Add(failed);
        row.Add(clock.Elapsed.TotalSeconds);
        WriteGrid(step, images);
        Log.Append(row);
        logger.LogInformation("monitor at step {Step}: training reward {Reward:G5}{Judges} ({Images} images, {Seconds:F1} s)", step, total,
            string.Concat(_judges.Select((j, k) => $", {j.Name} {j.PositiveLabel} share {row[2 + _rewards.Count + _monitorRewards.Count + 2 * k]:P1}")),
            images.Count, clock.Elapsed.TotalSeconds);
        if (failed > 0) logger.LogWarning("monitor at step {Step}: {Failed} item(s) failed (left out of the means)", step, failed);
    }

    private static async Task<(double Mean, int Failed)> MeanScore(IRewardModel model, IReadOnlyList<RewardRequest> requests, CancellationToken ct)
    {
        var values = new List<double>();
        var failed = 0;
        var batch = Math.Max(1, model.PreferredBatchSize);
        for (var start = 0; start < requests.Count; start += batch)
        {
            var results = await model.ScoreAsync(requests.Skip(start).Take(batch).ToList(), ct).ConfigureAwait(false);
            foreach (var r in results)
                if (r.IsSuccess) values.Add(r.Value);
                else failed++;
        }
        return (values.Count == 0 ? double.NaN : values.Average(), failed);
    }

    private static async Task<(double Share, double Probability, int Failed)> Judge(MonitorJudge judge, IReadOnlyList<ImageRef> images, CancellationToken ct)
    {
        int positive = 0, judged = 0, failed = 0;
        var probabilities = new List<double>();
        var batch = Math.Max(1, judge.Judge.PreferredBatchSize);
        for (var start = 0; start < images.Count; start += batch)
        {
            var results = await judge.Judge.JudgeAsync(images.Skip(start).Take(batch).ToList(), ct).ConfigureAwait(false);
            foreach (var r in results)
            {
                if (r.Value is not { } j) { failed++; continue; }
                judged++;
                if (j.Label == judge.PositiveLabel) positive++;
                if (j.Probabilities.TryGetValue(judge.PositiveLabel, out var p)) probabilities.Add(p);
            }
        }
        return (judged == 0 ? double.NaN : (double)positive / judged, probabilities.Count == 0 ? double.NaN : probabilities.Average(), failed);
    }

    /// <summary>The first images as a square-ish grid PNG (plain pixels, no resampling).</summary>
    private void WriteGrid(long step, IReadOnlyList<ImageRef> images)
    {
        var chosen = images.Take(_gridImages).ToList();
        if (chosen.Count == 0) return;
        var decoded = chosen.Select(i => ImageDecoder.Decode(i.ReadBytesAsync().AsTask().GetAwaiter().GetResult().Span, i.Id)).ToList();
        var png = Grid(decoded);
        Directory.CreateDirectory(GridDirectory);
        var path = GridPath(step);
        File.WriteAllBytes(path + ".tmp", png);
        File.Move(path + ".tmp", path, overwrite: true);
    }

    public static byte[] Grid(IReadOnlyList<RgbImage> images, int gap = 2)
    {
        var columns = (int)Math.Ceiling(Math.Sqrt(images.Count));
        var rows = (images.Count + columns - 1) / columns;
        int w = images[0].Width, h = images[0].Height;
        var width = columns * w + (columns - 1) * gap;
        var height = rows * h + (rows - 1) * gap;
        var pixels = new byte[width * height * 3];
        Array.Fill(pixels, (byte)255);
        for (var k = 0; k < images.Count; k++)
        {
            var image = images[k];
            if (image.Width != w || image.Height != h) throw new InvalidOperationException("Grid images must share one size.");
            int x0 = k % columns * (w + gap), y0 = k / columns * (h + gap);
            for (var y = 0; y < h; y++)
                image.Pixels.AsSpan(y * w * 3, w * 3).CopyTo(pixels.AsSpan(((y0 + y) * width + x0) * 3));
        }
        return PngEncoder.Encode(new RgbImage(width, height, pixels));
    }

    private static string Safe(string name) => Regex.Replace(name, "[^A-Za-z0-9_.-]", "_");
}
