using System.Collections.Concurrent;
using System.Diagnostics;
using BiasBench.Imaging;
using BiasBench.Networks.Clip;
using static TorchSharp.torch;

/// <summary>
/// JPEG files to image embeddings, all cores decoding and one device embedding. Two pipelines, to compare in one run:
/// <list type="bullet">
/// <item><c>staged</c> (what the CLIP reward plugins do): each image is decoded into a pooled pixel buffer and
/// preprocessed straight into its slot of a staging tensor (pinned on a GPU); the next batch is prepared while the device
/// embeds this one.</item>
/// <item><c>legacy</c> (the pipeline before): a float array per image through a queue, copied into a batch array, then
/// into a tensor.</item>
/// </list>
/// Also reports the device's busy share: the time from each batch's upload to its result, over the wall time.
/// </summary>
internal static class EndToEndBench
{
    public static (double PerSecond, double BusyShare) Run(string pipeline, ClipModel model, string directory, int repeat, int batch, Device device,
        ScalarType dtype, Action sync, ImageDecodeLimits? limits) => pipeline switch
    {
        "staged" => Staged(model, Files(directory, repeat), batch, device, dtype, sync, limits),
        "legacy" => Legacy(model, Files(directory, repeat), batch, dtype, device, sync),
        _ => throw new ArgumentException($"--pipeline {pipeline}: use staged or legacy."),
    };

    /// <summary>The folder's images, <paramref name="repeat"/> times over (a small folder stands in for a large set).</summary>
    private static string[] Files(string directory, int repeat) =>
        Enumerable.Repeat(BenchFiles.Images(directory), Math.Max(1, repeat)).SelectMany(f => f).ToArray();

    private static (double, double) Staged(ClipModel model, string[] files, int batch, Device device, ScalarType dtype, Action sync, ImageDecodeLimits? limits)
    {
        var size = model.Config.Vision.ImageSize;
        using var staging = new PixelStaging(batch, size, device);
        var chunks = files.Chunk(batch).ToList();
        Task<PixelStaging.Lease> Prepare(string[] chunk) => Task.Run(() =>
        {
            var lease = staging.Rent();
            Parallel.For(0, chunk.Length, k =>
            {
                var bytes = File.ReadAllBytes(chunk[k]);
                using var image = ImageDecoder.DecodePooled(bytes, chunk[k], limits);
                ClipPreprocessing.PilCenterCropInto(image.Image, size, lease.Slot(k));
            });
            return lease;
        });
        var clock = Stopwatch.StartNew();
        var busy = TimeSpan.Zero;
        var next = Prepare(chunks[0]);
        for (var c = 0; c < chunks.Count; c++)
        {
            using var lease = next.GetAwaiter().GetResult();
            next = c + 1 < chunks.Count ? Prepare(chunks[c + 1]) : null!;
            var started = clock.Elapsed;
            using (NewDisposeScope())
            using (no_grad())
            {
                _ = model.EncodeImage(lease.Upload(chunks[c].Length, dtype));
                sync(); // the batch's result is ready (a scoring pipeline reads the scores back here)
            }
            busy += clock.Elapsed - started;
        }
        return (files.Length / clock.Elapsed.TotalSeconds, busy / clock.Elapsed);
    }

    private static (double, double) Legacy(ClipModel model, string[] files, int batch, ScalarType dtype, Device device, Action sync)
    {
        var size = model.Config.Vision.ImageSize;
        var queue = new BlockingCollection<float[]>(boundedCapacity: batch * 4);
        var producer = Task.Run(() =>
        {
            Parallel.ForEach(files, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, file =>
                queue.Add(ClipPreprocessing.PilCenterCrop(ImageDecoder.DecodeFile(file), size).Data));
            queue.CompleteAdding();
        });
        var clock = Stopwatch.StartNew();
        var busy = TimeSpan.Zero;
        var buffer = new List<float[]>(batch);
        void Flush()
        {
            if (buffer.Count == 0) return;
            var started = clock.Elapsed;
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var flat = new float[buffer.Count * 3 * size * size];
            for (var i = 0; i < buffer.Count; i++) buffer[i].CopyTo(flat, i * 3 * size * size);
            _ = model.EncodeImage(tensor(flat, [buffer.Count, 3, size, size]).to(dtype, device));
            sync();
            busy += clock.Elapsed - started;
            buffer.Clear();
        }
        foreach (var item in queue.GetConsumingEnumerable())
        {
            buffer.Add(item);
            if (buffer.Count == batch) Flush();
        }
        Flush();
        producer.Wait();
        return (files.Length / clock.Elapsed.TotalSeconds, busy / clock.Elapsed);
    }
}
