using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using BiasBench.Imaging;
using BiasBench.Networks.Clip;
using BiasBench.Torch.Backend;
using TorchSharp;
using static TorchSharp.torch;

// Usage:
//   BiasBench.GpuBench image  --preset vit-h14|tiny [--layout hf|open-clip] --batch 64,256 --dtype bf16|fp16|fp32 --device cuda|cpu [--iterations 20] [--json out.json]
//   BiasBench.GpuBench pairs  --preset vit-h14|tiny --batch 64 --dtype fp16 ...        (image + text per pair, HPSv2 style)
//   BiasBench.GpuBench e2e    --images DIR --preset vit-h14|tiny --batch 64 --dtype bf16 [--pipeline staged|legacy] [--repeat R] [--jpeg-dct-scaling] ... (decode + PIL preprocess on all cores + network)
//   BiasBench.GpuBench resnet-infer|resnet-train --preset resnet18|tiny --batch 256 --dtype bf16|fp32 --device cuda|cpu  (ResNetBench.cs)
//   BiasBench.GpuBench decode --images DIR [--preprocess pil|hps|tensor] [--threads N] [--rounds 3]  (CPU only: decode + preprocess)
//   BiasBench.GpuBench ddpm   --preset celebahq-256|tiny --batch 16 --dtype bf16 ...   (UNet2DModel; see DiffusionBench.cs)
//   BiasBench.GpuBench sd     --preset sd15|tiny --batch 4 --dtype fp16 ...            (SD 1.5 UNet with CFG, text encoder, VAE)
//   BiasBench.GpuBench draft  --preset celebahq-256|tiny --batch 4 --steps 50 --precision bf16|fp32 ... (a DRaFT-1 update; DraftBench.cs)
//   BiasBench.GpuBench imagereward --preset imagereward|tiny [--med-config med_config.json] --batch 64 --dtype fp16 ...  (BLIP ViT-L + BERT pairs)
//   every network mode: [--warmup 3] [--marker] (a marker kernel before and after the timed iterations, for scripts/profile.sh)
//   BiasBench.GpuBench dct --images DIR [--model CLIP_DIR --bpe bpe_simple_vocab_16e6.txt.gz]  (CPU: what jpeg_dct_scaling saves and costs)
//   BiasBench.GpuBench breakdown --images DIR [--rounds 2]   (CPU only: time and allocations of each step, GC share on all cores)
// Weights are random (same shapes as PickScore / HPSv2 ViT-H/14); TorchSharp has no autocast, so the model is cast to
// the dtype instead (the nearest equivalent of PyTorch's autocast for inference).
var mode = args.Length > 0 ? args[0] : "image";
string Arg(string name, string fallback)
{
    var i = Array.IndexOf(args, "--" + name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
}

if (mode == "dct") return DctScalingBench.Run(Arg("images", "."), int.Parse(Arg("size", "224"), CultureInfo.InvariantCulture),
    Arg("model", "") is { Length: > 0 } m ? m : null, Arg("bpe", "") is { Length: > 0 } b ? b : null, int.Parse(Arg("rounds", "2"), CultureInfo.InvariantCulture));
if (mode == "breakdown") return PipelineBench.Breakdown(Arg("images", "."), int.Parse(Arg("rounds", "2"), CultureInfo.InvariantCulture));
if (mode is "resnet-infer" or "resnet-train") return ResNetBench.Run(mode, args);
if (mode == "decode") return DecodeOnly(Arg("images", "."), Arg("preprocess", "pil"),
    int.Parse(Arg("threads", Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture),
    int.Parse(Arg("rounds", "3"), CultureInfo.InvariantCulture));

if (mode is "ddpm" or "sd") return DiffusionBench.Run(mode, args);
if (mode == "draft") return DraftBench.Run(args);

var info = TorchBackend.EnsureInitialized();
var device = TorchBackend.ResolveDevice(Arg("device", "auto"));
var dtype = Arg("dtype", device.type == DeviceType.CUDA ? "bf16" : "fp32") switch
{
    "bf16" => ScalarType.BFloat16,
    "fp16" => ScalarType.Float16,
    "fp32" => ScalarType.Float32,
    var other => throw new ArgumentException($"--dtype {other}: use bf16, fp16 or fp32."),
};
var preset = Arg("preset", "vit-h14");
var layout = Arg("layout", mode == "pairs" ? "open-clip" : "hf") == "open-clip" ? ClipLayout.OpenClip : ClipLayout.HuggingFace;
var batches = Arg("batch", "64").Split(',').Select(int.Parse).ToArray();
var iterations = int.Parse(Arg("iterations", "20"), CultureInfo.InvariantCulture);
var warmup = int.Parse(Arg("warmup", "3"), CultureInfo.InvariantCulture);
var marker = args.Contains("--marker");
Console.WriteLine($"backend: {info}; device {device}; dtype {dtype}; preset {preset}; layout {layout}");
if (mode == "imagereward")
    return ImageRewardBench.Run(ImageRewardBench.Preset(preset == "vit-h14" ? "imagereward" : preset, Arg("med-config", "")), batches, device, dtype,
        iterations, warmup, marker, Sync, Arg("json", ""));

var config = preset switch
{
    // PickScore_v1 / HPSv2 ViT-H-14: 632M-parameter image tower, 354M text tower.
    "vit-h14" => new ClipConfig(layout,
        new ClipVisionConfig(1280, 32, 16, 5120, 14, 224, 3, 1e-5, ClipActivation.Gelu),
        new ClipTextConfig(1024, 24, 16, 4096, 77, 49408, 1e-5, ClipActivation.Gelu,
            layout == ClipLayout.OpenClip ? ClipTextPooling.ArgMaxId : ClipTextPooling.FirstEos, 49407),
        1024),
    "tiny" => new ClipConfig(layout,
        new ClipVisionConfig(64, 2, 4, 128, 14, 224, 3, 1e-5, ClipActivation.Gelu),
        new ClipTextConfig(64, 2, 4, 128, 77, 49408, 1e-5, ClipActivation.Gelu,
            layout == ClipLayout.OpenClip ? ClipTextPooling.ArgMaxId : ClipTextPooling.FirstEos, 49407),
        32),
    _ => throw new ArgumentException($"--preset {preset}: use vit-h14 or tiny."),
};
using var model = new ClipModel(config);
model.eval();
model.To(device, dtype);

void Sync() { if (device.type == DeviceType.CUDA) torch.cuda.synchronize(device); }

var results = new List<object>();
foreach (var batch in batches)
{
    double perSecond;
    double? busyShare = null;
    if (mode == "e2e")
    {
        var limits = args.Contains("--jpeg-dct-scaling") ? new ImageDecodeLimits { JpegDctScalingMinShortSide = config.Vision.ImageSize } : null;
        (perSecond, var busy) = EndToEndBench.Run(Arg("pipeline", "staged"), model, Arg("images", "."), int.Parse(Arg("repeat", "1"), CultureInfo.InvariantCulture),
            batch, device, dtype, Sync, limits);
        busyShare = busy;
    }
    else
    {
        using var scope = NewDisposeScope();
        var pixels = randn([batch, 3, 224, 224], dtype: dtype, device: device);
        var ids = randint(1, 49000, [batch, 77], dtype: ScalarType.Int64, device: device);
        ids[TensorIndex.Colon, 20] = tensor(49407L); // an end token; open_clip pools at argmax
        ids[TensorIndex.Colon, TensorIndex.Slice(21)] = tensor(layout == ClipLayout.OpenClip ? 0L : 49407L);
        void Step()
        {
            using var step = NewDisposeScope();
            using var noGrad = no_grad();
            var image = model.EncodeImage(pixels);
            if (mode == "pairs") { var text = model.EncodeText(ids); _ = (image * text).sum(-1); }
        }
        for (var i = 0; i < warmup; i++) Step();
        Sync();
        if (marker) ProfileMarker.Launch(device, Sync);
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < iterations; i++) Step();
        Sync();
        perSecond = batch * iterations / clock.Elapsed.TotalSeconds;
        if (marker) ProfileMarker.Launch(device, Sync);
    }
    var unit = mode == "pairs" ? "pairs/s" : "images/s";
    Console.WriteLine($"{mode} batch {batch}: {perSecond:F1} {unit}" + (busyShare is { } b ? $" (device busy {100 * b:F0}% of the time; pipeline {Arg("pipeline", "staged")})" : ""));
    results.Add(new { mode, preset, layout = layout.ToString(), dtype = dtype.ToString(), device = device.ToString(), batch, per_second = perSecond, unit,
        device_busy_share = busyShare, pipeline = mode == "e2e" ? Arg("pipeline", "staged") : null });
}
if (Arg("json", "") is { Length: > 0 } json)
    File.WriteAllText(json, JsonSerializer.Serialize(results, new JsonSerializerOptions { WriteIndented = true }));
return 0;

// Decode + preprocessing alone (files read into memory first), images spread over `threads` workers; the best of
// `rounds` passes is reported, with the rate per thread.
static int DecodeOnly(string directory, string preprocess, int threads, int rounds)
{
    var files = ImageFiles(directory);
    var encoded = files.Select(File.ReadAllBytes).ToArray();
    Func<byte[], string, ChwImage> transform = preprocess switch
    {
        "pil" => (bytes, name) => ClipPreprocessing.PilCenterCrop(ImageDecoder.Decode(bytes, name), 224),
        "hps" => (bytes, name) => ClipPreprocessing.HpsPad(ImageDecoder.Decode(bytes, name), 224),
        "tensor" => (bytes, name) => ClipPreprocessing.TensorCenterCrop(ImageDecoder.Decode(bytes, name), 224),
        _ => throw new ArgumentException($"--preprocess {preprocess}: use pil, hps or tensor."),
    };
    double best = 0;
    for (var round = 0; round <= rounds; round++) // round 0 warms up
    {
        var clock = Stopwatch.StartNew();
        Parallel.For(0, encoded.Length, new ParallelOptions { MaxDegreeOfParallelism = threads }, i => transform(encoded[i], files[i]));
        var rate = encoded.Length / clock.Elapsed.TotalSeconds;
        if (round > 0) best = Math.Max(best, rate);
    }
    Console.WriteLine($"decode+{preprocess} of {encoded.Length} images ({encoded.Sum(b => (long)b.Length) / encoded.Length / 1024} KB each on average) " +
                      $"on {threads} thread(s): {best:F1} images/s ({best / threads:F1} per thread)");
    return 0;
}

static string[] ImageFiles(string directory)
{
    var files = Directory.GetFiles(directory).Where(f => f.EndsWith(".jpg", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".png", StringComparison.OrdinalIgnoreCase)).Order().ToArray();
    return files.Length > 0 ? files : throw new FileNotFoundException($"No .jpg/.png images in {directory}.");
}
