using System.Diagnostics;
using System.Runtime;
using BiasBench.Imaging;

/// <summary>
/// Where the CPU time of JPEG-to-pixels goes: each step alone on one thread (decode, PIL resize, crop + normalise), the
/// managed bytes each allocates, and the garbage collector's share when all cores decode at once.
/// </summary>
internal static class PipelineBench
{
    public static int Breakdown(string directory, int rounds)
    {
        var files = BenchFiles.Images(directory);
        var encoded = files.Select(File.ReadAllBytes).ToArray();
        Console.WriteLine($"{encoded.Length} images, {encoded.Sum(b => (long)b.Length) / encoded.Length / 1024} KB each on average; " +
                          $"GC: {(GCSettings.IsServerGC ? "server" : "workstation")}, {(GCSettings.LatencyMode)}; {Environment.ProcessorCount} cores");
        double decodeMs = double.MaxValue, resizeMs = double.MaxValue, cropMs = double.MaxValue;
        long decodeBytes = 0, resizeBytes = 0, cropBytes = 0;
        for (var round = 0; round <= rounds; round++)
        {
            double d = 0, r = 0, c = 0; long db = 0, rb = 0, cb = 0;
            for (var i = 0; i < encoded.Length; i++)
            {
                var a0 = GC.GetAllocatedBytesForCurrentThread();
                var t0 = Stopwatch.GetTimestamp();
                var rgb = ImageDecoder.Decode(encoded[i], files[i]);
                var t1 = Stopwatch.GetTimestamp();
                var a1 = GC.GetAllocatedBytesForCurrentThread();
                var (h, w) = ClipPreprocessing.ShortSideResize(rgb.Height, rgb.Width, 224);
                var resized = PilResize.Bicubic(rgb, w, h);
                var t2 = Stopwatch.GetTimestamp();
                var a2 = GC.GetAllocatedBytesForCurrentThread();
                _ = ClipPreprocessing.PilCenterCrop(resized, 224);
                var t3 = Stopwatch.GetTimestamp();
                var a3 = GC.GetAllocatedBytesForCurrentThread();
                d += Stopwatch.GetElapsedTime(t0, t1).TotalMilliseconds; r += Stopwatch.GetElapsedTime(t1, t2).TotalMilliseconds; c += Stopwatch.GetElapsedTime(t2, t3).TotalMilliseconds;
                db += a1 - a0; rb += a2 - a1; cb += a3 - a2;
            }
            if (round == 0) continue; // warm-up
            decodeMs = Math.Min(decodeMs, d / encoded.Length); resizeMs = Math.Min(resizeMs, r / encoded.Length); cropMs = Math.Min(cropMs, c / encoded.Length);
            (decodeBytes, resizeBytes, cropBytes) = (db / encoded.Length, rb / encoded.Length, cb / encoded.Length);
        }
        var total = decodeMs + resizeMs + cropMs;
        Console.WriteLine("one image at a time (the steps use all cores inside where they can), best of the rounds, per image:");
        Console.WriteLine($"  JPEG decode + RGBA->RGB : {decodeMs,7:F2} ms ({100 * decodeMs / total,4:F1}%), {decodeBytes / 1024,6} KB allocated");
        Console.WriteLine($"  PIL bicubic resize      : {resizeMs,7:F2} ms ({100 * resizeMs / total,4:F1}%), {resizeBytes / 1024,6} KB allocated");
        Console.WriteLine($"  crop + normalise (CHW)  : {cropMs,7:F2} ms ({100 * cropMs / total,4:F1}%), {cropBytes / 1024,6} KB allocated");

        // All cores, one image per task (as the scoring pipeline runs): throughput and the collector's share, for the
        // allocating path (a fresh RGB array, resized image and float array per image) and the pooled, in-place one.
        var slot = new ThreadLocal<float[]>(() => new float[3 * 224 * 224]);
        var paths = new (string Name, Action<int> Work)[]
        {
            ("allocating", i => ClipPreprocessing.PilCenterCrop(ImageDecoder.Decode(encoded[i], files[i]), 224)),
            ("pooled    ", i =>
            {
                using var image = ImageDecoder.DecodePooled(encoded[i], files[i]);
                ClipPreprocessing.PilCenterCropInto(image.Image, 224, slot.Value!);
            }),
        };
        for (var repeat = 0; repeat < rounds; repeat++)
            foreach (var (name, work) in paths)
                for (var pass = 0; pass < 2; pass++)
                {
                    var gcBefore = (GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2), GC.GetTotalPauseDuration(), GC.GetTotalAllocatedBytes());
                    var clock = Stopwatch.StartNew();
                    Parallel.For(0, encoded.Length, work);
                    var seconds = clock.Elapsed.TotalSeconds;
                    if (pass == 0) continue; // warm-up
                    var pause = GC.GetTotalPauseDuration() - gcBefore.Item4;
                    Console.WriteLine($"{name} on all {Environment.ProcessorCount} cores: {encoded.Length / seconds,6:F1} images/s; GC: {GC.CollectionCount(0) - gcBefore.Item1} gen0, " +
                                      $"{GC.CollectionCount(1) - gcBefore.Item2} gen1, {GC.CollectionCount(2) - gcBefore.Item3} gen2, paused {pause.TotalMilliseconds:F0} ms " +
                                      $"({100 * pause.TotalSeconds / seconds:F1}% of the time), {(GC.GetTotalAllocatedBytes() - gcBefore.Item5) / encoded.Length / 1024} KB allocated per image");
                }
        return 0;
    }
}

internal static class BenchFiles
{
    public static string[] Images(string directory)
    {
        var files = Directory.GetFiles(directory).Where(f => f.EndsWith(".jpg", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".png", StringComparison.OrdinalIgnoreCase)).Order().ToArray();
        return files.Length > 0 ? files : throw new FileNotFoundException($"No .jpg/.png images in {directory}.");
    }
}
