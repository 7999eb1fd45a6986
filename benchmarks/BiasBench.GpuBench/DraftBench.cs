using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using BiasBench.Abstractions.Torch;
using BiasBench.Generation;
using BiasBench.Imaging;
using BiasBench.Networks.Clip;
using BiasBench.Networks.Diffusion;
using BiasBench.Schedulers;
using BiasBench.Torch.Backend;
using BiasBench.Training;
using TorchSharp;
using static TorchSharp.torch;

/// <summary>
/// DRaFT-1 update bench (random weights, the real models' shapes; pytorch_draft_peer.py is the PyTorch peer):
/// <code>
///   BiasBench.GpuBench draft --preset celebahq-256|tiny [--batch 4] [--steps 50] [--precision bf16|fp32] [--device cuda|cpu]
///                            [--iterations 5] [--recompute] [--json out.json]
/// </code>
/// One update = 49 DDIM steps of the google/ddpm-celebahq-256-size UNet without gradient, the last with gradient, the
/// images (256 px) resized to 224 (bicubic, antialias) and normalised, an open_clip ViT-H-14-size image tower (HPS v2's,
/// frozen, bf16 on CUDA) against a fixed text embedding, loss = -mean(cosine), backward, clipping, AdamW on float32
/// master weights, through the same DdpmTraining pass the fine-tuners use. Reports seconds per update (median) and,
/// on CUDA, the process's peak GPU memory as nvidia-smi sees it (TorchSharp exposes no allocator statistics; this
/// includes the CUDA context and the caching allocator's reserve, like PyTorch's max_memory_reserved + context).
/// </summary>
public static class DraftBench
{
    private const string SchedulerJson = """
        {"_class_name": "DDPMScheduler", "beta_start": 0.0001, "beta_end": 0.02, "beta_schedule": "linear", "num_train_timesteps": 1000,
         "clip_sample": true, "variance_type": "fixed_small", "prediction_type": "epsilon"}
        """;

    public static ClipConfig VitH14OpenClip => new(ClipLayout.OpenClip,
        new ClipVisionConfig(1280, 32, 16, 5120, 14, 224, 3, 1e-5, ClipActivation.Gelu),
        new ClipTextConfig(1024, 24, 16, 4096, 77, 49408, 1e-5, ClipActivation.Gelu, ClipTextPooling.ArgMaxId, 49407),
        1024);

    // A CPU-sized tower: 28 px input (2 x 2 patches), two layers.
    public static ClipConfig TinyClip => new(ClipLayout.OpenClip,
        new ClipVisionConfig(64, 2, 4, 128, 14, 28, 3, 1e-5, ClipActivation.Gelu),
        new ClipTextConfig(64, 2, 4, 128, 77, 49408, 1e-5, ClipActivation.Gelu, ClipTextPooling.ArgMaxId, 49407),
        32);

    public static int Run(string[] args)
    {
        string Arg(string name, string fallback)
        {
            var i = Array.IndexOf(args, "--" + name);
            return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
        }
        var info = TorchBackend.EnsureInitialized();
        var device = TorchBackend.ResolveDevice(Arg("device", "auto"));
        var onGpu = device.type == DeviceType.CUDA;
        var preset = Arg("preset", "celebahq-256");
        var tiny = preset == "tiny";
        var batch = int.Parse(Arg("batch", "4"), CultureInfo.InvariantCulture);
        var steps = int.Parse(Arg("steps", tiny ? "4" : "50"), CultureInfo.InvariantCulture);
        var iterations = int.Parse(Arg("iterations", onGpu ? "5" : "2"), CultureInfo.InvariantCulture);
        var precision = Arg("precision", onGpu ? "bf16" : "fp32");
        var compute = precision == "bf16" ? ScalarType.BFloat16 : (ScalarType?)null;
        var recompute = args.Contains("--recompute");
        var unetConfig = preset switch
        {
            "celebahq-256" => DiffusionBench.CelebAHq256,
            "tiny" => DiffusionBench.TinyUNet,
            _ => throw new ArgumentException($"--preset {preset}: use celebahq-256 or tiny."),
        };
        var clipConfig = tiny ? TinyClip : VitH14OpenClip;
        var rewardSize = clipConfig.Vision.ImageSize;
        Console.WriteLine($"backend: {info}; device {device}; preset {preset}; batch {batch}; {steps} DDIM steps; {precision} compute; CPU threads {torch.get_num_threads()}");

        using var memory = onGpu ? new GpuMemoryPoller() : null;
        var master = new UNet2DModel(unetConfig);
        DiffusionWeights.Randomize(master, seed: 0);
        master.To(device, ScalarType.Float32);
        using var clip = new ClipModel(clipConfig);
        DiffusionWeights.Randomize(clip, seed: 1);
        // Randomize zeroes 1-d tensors outside modules named *norm*; open_clip's layer norms are ln_*: give every 1-d
        // weight 1 so that the embeddings are not zero (their normalisation would give NaN).
        using (no_grad())
            foreach (var (name, p) in clip.named_parameters())
                if (p.dim() == 1 && name.EndsWith(".weight", StringComparison.Ordinal)) p.fill_(1.0);
        clip.eval();
        clip.To(device, onGpu ? ScalarType.BFloat16 : ScalarType.Float32);
        foreach (var p in clip.parameters()) p.requires_grad_(false);
        using var text = randn([1, clipConfig.ProjectionDim], generator: new Generator(2)).to(device);
        using var textEmbedding = nn.functional.normalize(text, dim: 1);

        using var training = new DdpmTraining(master, null, SchedulerConfig.FromJson(SchedulerJson, "bench DDPM config"),
            new SamplingSettings { Steps = steps, Scheduler = "ddim" }, new TrainingSetup { ComputeDType = compute });
        var parameters = training.TrainableParameters;
        using var optimizer = new AdamW(parameters, weightDecay: 0.0);
        Console.WriteLine($"UNet2DModel {parameters.Sum(p => p.Parameter.numel()) / 1e6:F1}M trainable parameters, {unetConfig.SampleSize} px; " +
                          $"reward image tower {clip.parameters().Sum(p => p.numel()) / 1e6:F1}M parameters (frozen) at {rewardSize} px");

        Tensor Loss(Tensor images)
        {
            using var scope = NewDisposeScope();
            var pixels = TensorTransforms.Normalize(TensorTransforms.ResizeBicubicAntialias(images, rewardSize, rewardSize));
            var embeds = clip.EncodeImage(pixels.to(clip.DType));
            var reward = (embeds * textEmbedding).sum(-1);
            return reward.mean().neg().MoveToOuterDisposeScope();
        }

        var seconds = new List<double>();
        for (var i = 0; i < iterations + 1; i++) // the first update warms up
        {
            var clock = Stopwatch.StartNew();
            optimizer.ZeroGrad();
            var request = new DifferentiableSampling
            {
                Prompts = Enumerable.Repeat("a portrait photo of a face", batch).ToList(),
                Seeds = Enumerable.Range(0, batch).Select(s => (long)(i * batch + s)).ToList(),
                GradientSteps = 1,
                RecomputeSteps = recompute,
            };
            var result = training.Backward(request, Loss);
            result.Images.Dispose();
            GradientClipping.ClipByGlobalNorm(parameters.Select(p => (Tensor)p.Parameter), 1.0);
            optimizer.Update(1e-5);
            if (onGpu) torch.cuda.synchronize(device);
            if (i > 0) seconds.Add(clock.Elapsed.TotalSeconds);
            Console.WriteLine($"update {i}{(i == 0 ? " (warm-up)" : "")}: {clock.Elapsed.TotalSeconds:F3} s, loss {result.Loss:G5}");
        }
        seconds.Sort();
        var median = seconds[seconds.Count / 2];
        var peak = memory?.PeakMiB;
        Console.WriteLine($"draft {preset} batch {batch}: {median:F3} s per DRaFT-1 update (median of {seconds.Count})" +
                          (peak is { } m ? $", peak GPU memory {m / 1024.0:F2} GiB (nvidia-smi, process)" : ""));
        var row = new Dictionary<string, object>
        {
            ["mode"] = "draft", ["preset"] = preset, ["device"] = device.ToString(), ["batch"] = batch, ["steps"] = steps, ["precision"] = precision,
            ["recompute"] = recompute, ["seconds_per_update"] = Math.Round(median, 4), ["cpu_threads"] = torch.get_num_threads(), ["machine"] = Environment.MachineName,
        };
        if (peak is { } mib) row["peak_gpu_mib_nvidia_smi"] = mib;
        if (Arg("json", "") is { Length: > 0 } json)
            File.WriteAllText(json, JsonSerializer.Serialize(new[] { row }, new JsonSerializerOptions { WriteIndented = true }));
        return 0;
    }

    /// <summary>Samples this process's GPU memory from nvidia-smi every 100 ms and keeps the maximum.</summary>
    private sealed class GpuMemoryPoller : IDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _task;
        private long _peak;

        public GpuMemoryPoller()
        {
            var pid = Environment.ProcessId;
            _task = Task.Run(async () =>
            {
                while (!_stop.IsCancellationRequested)
                {
                    try
                    {
                        using var process = Process.Start(new ProcessStartInfo("nvidia-smi", "--query-compute-apps=pid,used_memory --format=csv,noheader,nounits")
                        { RedirectStandardOutput = true, UseShellExecute = false })!;
                        var output = await process.StandardOutput.ReadToEndAsync();
                        await process.WaitForExitAsync();
                        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
                        {
                            var parts = line.Split(',');
                            if (parts.Length == 2 && int.TryParse(parts[0].Trim(), out var p) && p == pid && long.TryParse(parts[1].Trim(), out var mib))
                                Interlocked.Exchange(ref _peak, Math.Max(Interlocked.Read(ref _peak), mib));
                        }
                    }
                    catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException) { return; }
                    try { await Task.Delay(100, _stop.Token); } catch (OperationCanceledException) { return; }
                }
            });
        }

        public long? PeakMiB => Interlocked.Read(ref _peak) is > 0 and var p ? p : null;

        public void Dispose()
        {
            _stop.Cancel();
            try { _task.Wait(TimeSpan.FromSeconds(2)); } catch (AggregateException) { }
            _stop.Dispose();
        }
    }
}
