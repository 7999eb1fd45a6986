using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using BiasBench.Networks.Vision;
using BiasBench.Torch.Backend;
using BiasBench.Training;
using TorchSharp;
using static TorchSharp.torch;

/// <summary>
/// ResNet classifier throughput (the attractiveness judge and its trainer), random weights, real shapes:
///   resnet-infer --preset resnet18|tiny [--batch 256] [--size 256] [--dtype bf16|fp32] [--device cuda|cpu] [--iterations 20] [--json out.json]
///   resnet-train (same options): one AdamW step per iteration (forward, BCE with logits, backward, clip, update) with
///                float32 master weights and bf16 compute (what the trainer does on CUDA), or plain float32.
/// Inference in bf16 casts the whole network (batch norm included) to bf16, as the judge does on CUDA. TorchSharp 0.107
/// has neither autocast nor channels_last, so the layout is NCHW (PyTorch's peer, resnet_pytorch_peer.py, uses
/// channels_last + autocast, its fastest configuration).
/// </summary>
public static class ResNetBench
{
    public static int Run(string mode, string[] args)
    {
        string Arg(string name, string fallback)
        {
            var i = Array.IndexOf(args, "--" + name);
            return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
        }
        var info = TorchBackend.EnsureInitialized();
        var device = TorchBackend.ResolveDevice(Arg("device", "auto"));
        var preset = Arg("preset", "resnet18");
        var (config, defaultSize, defaultBatch) = preset switch
        {
            "resnet18" => (ResNetConfig.Hackathon("resnet18"), 256, 256),
            "resnet50" => (ResNetConfig.Hackathon("resnet50"), 256, 128),
            "tiny" => (new ResNetConfig(ResNetBlockKind.Basic, [1, 1, 1, 1], 16, [8, 1]), 64, 8),
            _ => throw new ArgumentException($"--preset {preset}: use resnet18, resnet50 or tiny."),
        };
        var size = int.Parse(Arg("size", defaultSize.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);
        var batches = Arg("batch", defaultBatch.ToString(CultureInfo.InvariantCulture)).Split(',').Select(int.Parse).ToArray();
        var iterations = int.Parse(Arg("iterations", "20"), CultureInfo.InvariantCulture);
        var bf16 = Arg("dtype", device.type == DeviceType.CUDA ? "bf16" : "fp32") switch
        {
            "bf16" => true,
            "fp32" => false,
            var other => throw new ArgumentException($"--dtype {other}: use bf16 or fp32."),
        };
        Console.WriteLine($"backend: {info}; device {device}; {mode}; preset {preset} ({config.ArchitectureName}); {size}px; {(bf16 ? "bf16" : "fp32")}; threads {get_num_threads()}");

        using var model = new ResNetClassifier(config);
        using (var g = Seeding.Torch(0, 1)) ResNetCheckpoint.Initialize(model, g);
        model.to(device);
        void Sync() { if (device.type == DeviceType.CUDA) cuda.synchronize(device); }
        var results = new List<object>();
        foreach (var batch in batches)
        {
            double perSecond;
            using var scope = NewDisposeScope();
            var x = randn([batch, 3, size, size], device: device);
            if (mode == "resnet-infer")
            {
                model.eval();
                if (bf16) { model.to(ScalarType.BFloat16); model.Precision.DType = ScalarType.BFloat16; x = x.to(ScalarType.BFloat16); }
                void Step() { using var s = NewDisposeScope(); using var _ = no_grad(); model.forward(x); }
                perSecond = Time(Step, batch, iterations, Sync);
            }
            else
            {
                model.train();
                model.Precision.DType = bf16 ? ScalarType.BFloat16 : null;
                using var optimizer = new AdamW(model.named_parameters(), weightDecay: 0.05, decays: (_, p) => p.dim() > 1);
                var y = randint(0, 2, [batch, 1], device: device).to(ScalarType.Float32);
                void Step()
                {
                    using var s = NewDisposeScope();
                    var loss = nn.functional.binary_cross_entropy_with_logits(model.forward(x), y);
                    optimizer.ZeroGrad();
                    loss.backward();
                    GradientClipping.ClipByGlobalNorm(model.parameters(), 1.0);
                    optimizer.Update(1e-4);
                }
                perSecond = Time(Step, batch, iterations, Sync);
            }
            Console.WriteLine($"{mode} batch {batch}: {perSecond:F1} images/s");
            results.Add(new { mode, preset, size, dtype = bf16 ? "bf16" : "fp32", device = device.ToString(), batch, images_per_second = perSecond });
        }
        if (Arg("json", "") is { Length: > 0 } json)
            File.WriteAllText(json, JsonSerializer.Serialize(results, new JsonSerializerOptions { WriteIndented = true }));
        return 0;
    }

    private static double Time(Action step, int batch, int iterations, Action sync)
    {
        for (var i = 0; i < 2; i++) step();
        sync();
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < iterations; i++) step();
        sync();
        return batch * iterations / clock.Elapsed.TotalSeconds;
    }
}
