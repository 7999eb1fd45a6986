using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using BiasBench.Generation;
using BiasBench.Networks.Clip;
using BiasBench.Networks.Diffusion;
using BiasBench.Schedulers;
using BiasBench.Torch.Backend;
using TorchSharp;
using static TorchSharp.torch;

/// <summary>
/// Diffusion bench modes (random weights, the real models' shapes; see pytorch_diffusion_peer.py for the PyTorch peer):
/// <code>
///   BiasBench.GpuBench ddpm --preset celebahq-256|tiny --batch 16 --dtype bf16|fp16|fp32 --device cuda|cpu [--iterations 10] [--steps 50] [--full] [--json out.json]
///   BiasBench.GpuBench sd   --preset sd15|tiny      --batch 4  --dtype fp16 ...   (classifier-free guidance: the UNet sees 2 x batch)
/// </code>
/// Reports milliseconds per UNet call (the figure the target is stated in), the derived images/s at
/// <c>--steps</c> steps, and with <c>--full</c> (always for the tiny presets) a real sampling loop through the pipeline's
/// DenoiseStep with the DDIM scheduler.
/// </summary>
public static class DiffusionBench
{
    // google/ddpm-celebahq-256's unet/config.json (113.7M parameters).
    public static UNet2DConfig CelebAHq256 => new()
    {
        SampleSize = 256, InChannels = 3, OutChannels = 3, BlockOutChannels = [128, 128, 256, 256, 512, 512],
        DownBlockTypes = ["DownBlock2D", "DownBlock2D", "DownBlock2D", "DownBlock2D", "AttnDownBlock2D", "DownBlock2D"],
        UpBlockTypes = ["UpBlock2D", "AttnUpBlock2D", "UpBlock2D", "UpBlock2D", "UpBlock2D", "UpBlock2D"],
        LayersPerBlock = 2, AttentionHeadDim = null, DownsamplePadding = 0, FlipSinToCos = false, FreqShift = 1, NormEps = 1e-6, NormNumGroups = 32,
    };

    // The ddpm_unet fixture's shape (tiny widths, 32 px).
    public static UNet2DConfig TinyUNet => new()
    {
        SampleSize = 32, BlockOutChannels = [32, 32, 64, 64],
        DownBlockTypes = ["DownBlock2D", "DownBlock2D", "AttnDownBlock2D", "DownBlock2D"],
        UpBlockTypes = ["UpBlock2D", "AttnUpBlock2D", "UpBlock2D", "UpBlock2D"],
        LayersPerBlock = 2, AttentionHeadDim = null, DownsamplePadding = 0, FlipSinToCos = false, FreqShift = 1, NormEps = 1e-6, NormNumGroups = 8,
    };

    // stable-diffusion-v1-5's unet/config.json (859.5M parameters), vae/ and text_encoder/ (CLIP ViT-L/14 text tower).
    public static UNet2DConditionConfig Sd15UNet => new()
    {
        SampleSize = 64, CrossAttentionDim = [768, 768, 768, 768], NumAttentionHeads = [8, 8, 8, 8],
    };

    public static AutoencoderKLConfig Sd15Vae => new()
    {
        BlockOutChannels = [128, 256, 512, 512], LayersPerBlock = 2, SampleSize = 512,
        DownBlockTypes = ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"],
        UpBlockTypes = ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"],
    };

    public static ClipTextConfig Sd15Text => new(768, 12, 12, 3072, 77, 49408, 1e-5, ClipActivation.QuickGelu, ClipTextPooling.ArgMaxId, 49407);

    // The sd_tiny fixture's shapes.
    public static UNet2DConditionConfig TinyConditionUNet => new()
    {
        SampleSize = 8, BlockOutChannels = [32, 64, 64], LayersPerBlock = [2, 2, 2], CrossAttentionDim = [32, 32, 32], NumAttentionHeads = [4, 4, 4],
        TransformerLayersPerBlock = [1, 1, 1], NormNumGroups = 8,
        DownBlockTypes = ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
        UpBlockTypes = ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
    };

    public static AutoencoderKLConfig TinyVae => new()
    {
        BlockOutChannels = [32, 64], LayersPerBlock = 1, NormNumGroups = 8, SampleSize = 16,
        DownBlockTypes = ["DownEncoderBlock2D", "DownEncoderBlock2D"], UpBlockTypes = ["UpDecoderBlock2D", "UpDecoderBlock2D"],
    };

    public static ClipTextConfig TinyText => new(32, 2, 4, 64, 77, 49408, 1e-5, ClipActivation.QuickGelu, ClipTextPooling.ArgMaxId, 49407);

    private const string DdpmSchedulerJson = """
        {"_class_name": "DDPMScheduler", "beta_start": 0.0001, "beta_end": 0.02, "beta_schedule": "linear", "num_train_timesteps": 1000,
         "clip_sample": true, "variance_type": "fixed_small", "prediction_type": "epsilon"}
        """;

    private const string SdSchedulerJson = """
        {"_class_name": "PNDMScheduler", "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear", "num_train_timesteps": 1000,
         "set_alpha_to_one": false, "skip_prk_steps": true, "steps_offset": 1, "clip_sample": false, "prediction_type": "epsilon"}
        """;

    public static int Run(string mode, string[] args)
    {
        string Arg(string name, string fallback)
        {
            var i = Array.IndexOf(args, "--" + name);
            return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
        }
        var info = TorchBackend.EnsureInitialized();
        var device = TorchBackend.ResolveDevice(Arg("device", "auto"));
        var onGpu = device.type == DeviceType.CUDA;
        var dtype = ImageTensors.ParseDType(Arg("dtype", onGpu ? "bf16" : "fp32"));
        var preset = Arg("preset", mode == "ddpm" ? "celebahq-256" : "sd15");
        var tiny = preset == "tiny";
        var batches = Arg("batch", mode == "ddpm" ? "16" : "4").Split(',').Select(b => int.Parse(b, CultureInfo.InvariantCulture)).ToArray();
        var iterations = int.Parse(Arg("iterations", onGpu ? "10" : "3"), CultureInfo.InvariantCulture);
        var steps = int.Parse(Arg("steps", "50"), CultureInfo.InvariantCulture);
        var full = tiny || args.Contains("--full");
        var threads = torch.get_num_threads();
        Console.WriteLine($"backend: {info}; device {device}; dtype {dtype}; preset {preset}; CPU threads {threads}");
        void Sync() { if (onGpu) torch.cuda.synchronize(device); }

        var results = new List<Dictionary<string, object>>();
        if (mode == "ddpm")
        {
            var config = preset switch { "celebahq-256" => CelebAHq256, "tiny" => TinyUNet, _ => throw new ArgumentException($"--preset {preset}: use celebahq-256 or tiny.") };
            using var unet = new UNet2DModel(config);
            DiffusionWeights.Randomize(unet, seed: 0);
            unet.eval();
            unet.To(device, dtype);
            Console.WriteLine($"UNet2DModel: {unet.ParameterCount / 1e6:F1}M parameters, {config.SampleSize} px");
            var scheduler = SchedulerFactory.FromJson(DdpmSchedulerJson, "bench DDPM config", "ddim");
            foreach (var batch in batches)
            {
                using var scope = NewDisposeScope();
                using var noGrad = no_grad();
                var x = randn([batch, config.InChannels, config.SampleSize!.Value, config.SampleSize.Value], dtype: dtype, device: device);
                var t = tensor(500L, device: device);
                var ms = Time(() => { using var s = NewDisposeScope(); unet.Forward(x, t); }, iterations, Sync);
                var row = Row(mode, preset, dtype, device, batch, threads);
                row["unet_ms_per_call"] = Math.Round(ms, 2);
                row[$"derived_images_per_s_at_{steps}_steps"] = Math.Round(batch / (steps * ms / 1000), 3);
                Console.WriteLine($"ddpm batch {batch}: {ms:F1} ms per UNet call -> {batch / (steps * ms / 1000):F2} images/s at {steps} steps");
                if (full)
                {
                    var schedule = scheduler.Schedule(steps);
                    var clock = Stopwatch.StartNew();
                    var result = DenoisingLoop.Run(scheduler, schedule, x, null, (i, sample, noise, state) =>
                    {
                        using var s = NewDisposeScope();
                        var eps = unet.Forward(scheduler.ScaleModelInput(schedule, i, sample), schedule.TimestepTensor(i, device));
                        var step = scheduler.Step(schedule, i, eps, sample, noise, state);
                        step.PrevSample.MoveToOuterDisposeScope();
                        return step;
                    });
                    result.Dispose();
                    Sync();
                    var rate = batch / clock.Elapsed.TotalSeconds;
                    row["full_loop_images_per_s"] = Math.Round(rate, 3);
                    Console.WriteLine($"ddpm batch {batch}: full {steps}-step DDIM loop {rate:F3} images/s");
                }
                results.Add(row);
            }
        }
        else if (mode == "sd")
        {
            var (unetConfig, vaeConfig, textConfig) = preset switch
            {
                "sd15" => (Sd15UNet, Sd15Vae, Sd15Text),
                "tiny" => (TinyConditionUNet, TinyVae, TinyText),
                _ => throw new ArgumentException($"--preset {preset}: use sd15 or tiny."),
            };
            var guidance = double.Parse(Arg("guidance", "7.5"), CultureInfo.InvariantCulture);
            using var unet = new UNet2DConditionModel(unetConfig);
            using var vae = new AutoencoderKL(vaeConfig);
            using var text = new ClipTextEncoder(textConfig);
            foreach (var m in new nn.Module[] { unet, vae, text }) { DiffusionWeights.Randomize(m, seed: 0); m.eval(); }
            unet.To(device, dtype);
            vae.To(device, dtype);
            text.To(device, dtype);
            var latent = unetConfig.SampleSize!.Value;
            Console.WriteLine($"UNet2DConditionModel {unet.ParameterCount / 1e6:F1}M, VAE {vae.ParameterCount / 1e6:F1}M, text encoder " +
                              $"{text.parameters().Sum(p => p.numel()) / 1e6:F1}M parameters; {latent * vaeConfig.DownscaleFactor} px, CFG {guidance}");
            var scheduler = SchedulerFactory.FromJson(SdSchedulerJson, "bench SD config", "ddim");
            foreach (var batch in batches)
            {
                using var scope = NewDisposeScope();
                using var noGrad = no_grad();
                var guided = guidance > 1;
                var rows = guided ? 2 * batch : batch;
                var ids = randint(1, 49000, [rows, 77], dtype: ScalarType.Int64, device: device);
                var latents = randn([batch, unetConfig.InChannels, latent, latent], dtype: dtype, device: device);
                var context = text.HiddenStates(ids);
                var t = tensor(500L, device: device);
                var unetInput = guided ? cat([latents, latents], 0) : latents;
                var unetMs = Time(() => { using var s = NewDisposeScope(); unet.Forward(unetInput, t, context); }, iterations, Sync);
                var textMs = Time(() => { using var s = NewDisposeScope(); text.HiddenStates(ids); }, iterations, Sync);
                var vaeMs = Time(() => { using var s = NewDisposeScope(); vae.DecodeScaled(latents); }, Math.Max(1, iterations / 2), Sync);
                var perBatch = steps * unetMs + textMs + vaeMs;
                var row = Row(mode, preset, dtype, device, batch, threads);
                row["unet_ms_per_call"] = Math.Round(unetMs, 2);
                row["unet_batch"] = rows;
                row["text_encoder_ms"] = Math.Round(textMs, 2);
                row["vae_decode_ms"] = Math.Round(vaeMs, 2);
                row[$"derived_images_per_s_at_{steps}_steps"] = Math.Round(batch / (perBatch / 1000), 3);
                Console.WriteLine($"sd batch {batch} (UNet batch {rows}): UNet {unetMs:F1} ms/call, text {textMs:F1} ms, VAE decode {vaeMs:F1} ms " +
                                  $"-> {batch / (perBatch / 1000):F3} images/s at {steps} steps");
                if (full)
                {
                    var schedule = scheduler.Schedule(steps);
                    var clock = Stopwatch.StartNew();
                    var final = DenoisingLoop.Run(scheduler, schedule, latents, null, (i, sample, noise, state) =>
                    {
                        using var s = NewDisposeScope();
                        var input = scheduler.ScaleModelInput(schedule, i, guided ? cat([sample, sample], 0) : sample);
                        var eps = unet.Forward(input, schedule.TimestepTensor(i, device), context);
                        if (guided) { var h = eps.chunk(2, 0); eps = h[0] + guidance * (h[1] - h[0]); }
                        var step = scheduler.Step(schedule, i, eps, sample, noise, state);
                        step.PrevSample.MoveToOuterDisposeScope();
                        return step;
                    });
                    using (final) vae.DecodeScaled(final).Dispose();
                    Sync();
                    var rate = batch / clock.Elapsed.TotalSeconds;
                    row["full_loop_images_per_s"] = Math.Round(rate, 3);
                    Console.WriteLine($"sd batch {batch}: full {steps}-step DDIM loop + VAE decode {rate:F3} images/s");
                }
                results.Add(row);
            }
        }
        if (Arg("json", "") is { Length: > 0 } json)
            File.WriteAllText(json, JsonSerializer.Serialize(results, new JsonSerializerOptions { WriteIndented = true }));
        return 0;
    }

    private static Dictionary<string, object> Row(string mode, string preset, ScalarType dtype, Device device, int batch, int threads) => new()
    {
        ["mode"] = mode, ["preset"] = preset, ["dtype"] = ImageTensors.DTypeName(dtype), ["device"] = device.ToString(), ["batch"] = batch,
        ["cpu_threads"] = threads, ["machine"] = Environment.MachineName,
    };

    /// <summary>Median milliseconds of <paramref name="iterations"/> calls after two warm-up calls.</summary>
    private static double Time(Action call, int iterations, Action sync)
    {
        for (var i = 0; i < 2; i++) call();
        sync();
        var times = new List<double>();
        for (var i = 0; i < iterations; i++)
        {
            var clock = Stopwatch.StartNew();
            call();
            sync();
            times.Add(clock.Elapsed.TotalMilliseconds);
        }
        times.Sort();
        return times[times.Count / 2];
    }
}
