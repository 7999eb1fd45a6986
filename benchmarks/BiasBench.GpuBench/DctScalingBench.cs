using System.Diagnostics;
using BiasBench.Abstractions;
using BiasBench.Imaging;
using BiasBench.Plugins.ClipRewards;

/// <summary>
/// What decoding JPEGs at a reduced DCT scale (ImageDecodeLimits.JpegDctScalingMinShortSide, the ClipRewards option
/// jpeg_dct_scaling) costs in accuracy and saves in time: the 224 px model input against the full decode (in 8-bit
/// levels), decode + preprocess rates with and without it on all cores, and, given a CLIP checkpoint (the fixture
/// PickScore-layout model or a real one), the score of every image both ways.
/// </summary>
internal static class DctScalingBench
{
    public static int Run(string directory, int size, string? model, string? bpe, int rounds)
    {
        var files = BenchFiles.Images(directory);
        var encoded = files.Select(File.ReadAllBytes).ToArray();
        var scaled = new ImageDecodeLimits { JpegDctScalingMinShortSide = size };
        var slot = 3 * size * size;
        var full = new float[encoded.Length * slot];
        var reduced = new float[encoded.Length * slot];
        double Rate(ImageDecodeLimits? limits, float[] output)
        {
            double best = 0;
            for (var round = 0; round <= rounds; round++)
            {
                var clock = Stopwatch.StartNew();
                Parallel.For(0, encoded.Length, i =>
                {
                    using var image = ImageDecoder.DecodePooled(encoded[i], files[i], limits);
                    ClipPreprocessing.PilCenterCropInto(image.Image, size, output.AsSpan(i * slot, slot));
                });
                if (round > 0) best = Math.Max(best, encoded.Length / clock.Elapsed.TotalSeconds);
            }
            return best;
        }
        var fullRate = Rate(null, full);
        var reducedRate = Rate(scaled, reduced);
        using (var probe = ImageDecoder.DecodePooled(encoded[0], files[0], scaled))
            Console.WriteLine($"{encoded.Length} images; {files[0]} decodes at {probe.Image.Width}x{probe.Image.Height} with DCT scaling (short side >= {size})");
        Console.WriteLine($"decode + PIL resize/crop to {size} on {Environment.ProcessorCount} cores: full decode {fullRate:F1} images/s, DCT-scaled {reducedRate:F1} images/s ({reducedRate / fullRate:F2}x)");

        // Deviation of the model input, in 8-bit levels (normalised difference x std x 255).
        var std = ClipPreprocessing.ClipStd;
        double max = 0, sum = 0;
        var perImageMax = new double[encoded.Length];
        for (var i = 0; i < encoded.Length; i++)
            for (var k = 0; k < slot; k++)
            {
                var c = k / (size * size);
                var d = Math.Abs(full[i * slot + k] - reduced[i * slot + k]) * std[c] * 255;
                sum += d;
                perImageMax[i] = Math.Max(perImageMax[i], d);
                max = Math.Max(max, d);
            }
        Array.Sort(perImageMax);
        Console.WriteLine($"model input vs full decode: mean |diff| {sum / full.Length:F2} levels, median image's max {perImageMax[perImageMax.Length / 2]:F1}, worst {max:F1} levels (of 255)");

        if (model is null) return 0;
        var scores = new List<double[]>();
        foreach (var dct in new[] { false, true })
        {
            var options = new ClipRewardOptions { ModelPath = model, TokenizerBpePath = bpe, Device = "cpu", Dtype = "float32", BatchSize = 16, JpegDctScaling = dct };
            using var reward = ClipRewardFactory.CreatePickScore(options, "cpu");
            var requests = files.Select(f => new RewardRequest(ImageRef.FromFile(Path.GetFileName(f), f), "a portrait photo of a face")).ToList();
            var results = reward.ScoreAsync(requests, CancellationToken.None).GetAwaiter().GetResult();
            scores.Add(results.Select(r => r.IsSuccess ? r.Value : double.NaN).ToArray());
        }
        var diffs = scores[0].Zip(scores[1], (a, b) => Math.Abs(a - b)).ToArray();
        var mean = scores[0].Average();
        var sd = Math.Sqrt(scores[0].Sum(v => (v - mean) * (v - mean)) / (scores[0].Length - 1));
        Console.WriteLine($"PickScore-layout scores ({model}): mean |diff| {diffs.Average():G3}, max |diff| {diffs.Max():G3}, " +
                          $"score sd across images {sd:G3} (max diff = {diffs.Max() / sd:F3} sd); Spearman rho full vs DCT-scaled {Spearman(scores[0], scores[1]):F4}");
        return 0;
    }

    private static double Spearman(double[] a, double[] b)
    {
        double[] Ranks(double[] x)
        {
            var order = Enumerable.Range(0, x.Length).OrderBy(i => x[i]).ToArray();
            var r = new double[x.Length];
            for (var i = 0; i < order.Length;)
            {
                var j = i;
                while (j + 1 < order.Length && x[order[j + 1]] == x[order[i]]) j++;
                for (var k = i; k <= j; k++) r[order[k]] = (i + j) / 2.0;
                i = j + 1;
            }
            return r;
        }
        var (ra, rb) = (Ranks(a), Ranks(b));
        var (ma, mb) = (ra.Average(), rb.Average());
        var cov = ra.Zip(rb, (x, y) => (x - ma) * (y - mb)).Sum();
        return cov / Math.Sqrt(ra.Sum(x => (x - ma) * (x - ma)) * rb.Sum(y => (y - mb) * (y - mb)));
    }
}
