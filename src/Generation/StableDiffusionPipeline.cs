using System.Text.Json;
using BiasBench.Networks.Clip;
using BiasBench.Networks.Diffusion;
using BiasBench.Schedulers;
using BiasBench.Tokenizers;
using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Generation;

/// <summary>
/// Stable Diffusion 1.x text-to-image (diffusers' StableDiffusionPipeline) on a diffusers folder: <c>model_index.json</c>,
/// <c>unet/</c>, <c>vae/</c>, <c>text_encoder/</c>, <c>tokenizer/</c>, <c>scheduler/</c>. Prompts are tokenized to 77
/// tokens (padded with the tokenizer's pad token, truncated keeping the end token), encoded by the CLIP text encoder
/// (last hidden state), and guide the UNet with classifier-free guidance:
/// <c>eps = eps_uncond + g (eps_text - eps_uncond)</c>, the unconditional half coming from the negative prompt ("" by
/// default). Latents start as randn per seed times the scheduler's init_noise_sigma and are decoded by the VAE after
/// dividing by its scaling_factor. No safety checker is run.
/// </summary>
public sealed class StableDiffusionPipeline : IDisposable
{
    public const int ContextLength = 77;

    private StableDiffusionPipeline(string folder, ClipBpeTokenizer tokenizer, long padId, ClipTextEncoder textEncoder, UNet2DConditionModel unet,
        AutoencoderKL vae, SchedulerConfig schedulerConfig, IReadOnlyList<string> weightFiles)
    {
        Folder = folder;
        Tokenizer = tokenizer;
        PadId = padId;
        TextEncoder = textEncoder;
        Unet = unet;
        Vae = vae;
        SchedulerConfig = schedulerConfig;
        WeightFiles = weightFiles;
    }

    public string Folder { get; }
    public ClipBpeTokenizer Tokenizer { get; }
    public long PadId { get; }
    public ClipTextEncoder TextEncoder { get; }
    public UNet2DConditionModel Unet { get; }
    public AutoencoderKL Vae { get; }
    public SchedulerConfig SchedulerConfig { get; }
    public IReadOnlyList<string> WeightFiles { get; }
    public Device Device => Unet.Device;
    public ScalarType DType => Unet.DType;

    /// <summary>SHA-256 over the UNet, VAE and text encoder weight files (computed on first use).</summary>
    public string WeightsChecksum => _checksum ??= DenoisingLoop.WeightsChecksum(Folder, WeightFiles);
    private string? _checksum;

    /// <summary>Pixels per latent along each side (2^(VAE blocks - 1)).</summary>
    public int VaeScaleFactor => Vae.Config.DownscaleFactor;

    /// <summary>Loads every component. <paramref name="tokenizerBpePath"/> replaces <c>tokenizer/</c> with open_clip's
    /// <c>bpe_simple_vocab_16e6.txt.gz</c> (the same ids as Hugging Face's CLIPTokenizer files).</summary>
    public static StableDiffusionPipeline Load(PipelineLoadOptions options, string? tokenizerBpePath = null)
    {
        var folder = Path.GetFullPath(options.Folder);
        var index = Path.Combine(folder, "model_index.json");
        if (!File.Exists(index)) throw new FileNotFoundException($"'{folder}' is not a diffusers pipeline folder: it has no model_index.json.", index);
        CheckModelIndex(index);
        foreach (var sub in new[] { "unet", "vae", "text_encoder", "scheduler" })
            if (!Directory.Exists(Path.Combine(folder, sub))) throw new DirectoryNotFoundException($"'{folder}' has no {sub}/ folder (Stable Diffusion layout).");

        var (tokenizer, padId) = LoadTokenizer(folder, tokenizerBpePath);
        var schedulerConfig = SchedulerConfig.FromFile(Path.Combine(folder, "scheduler", "scheduler_config.json"));
        var textFolder = Path.Combine(folder, "text_encoder");
        var textWeights = FindTextEncoderWeights(textFolder, options.Variant);
        var unetWeights = DiffusionWeights.FindWeights(Path.Combine(folder, "unet"), options.Variant);
        var vaeWeights = DiffusionWeights.FindWeights(Path.Combine(folder, "vae"), options.Variant);
        var device = DdpmPipeline.Backend(options.Device);
        ClipTextEncoder? text = null;
        UNet2DConditionModel? unet = null;
        AutoencoderKL? vae = null;
        try
        {
            text = ClipTextEncoder.Load(Path.Combine(textFolder, "config.json"), textWeights).To(device, options.DType);
            unet = DiffusionModels.LoadUNet2DCondition(Path.Combine(folder, "unet"), options.Variant);
            unet.To(device, options.DType);
            vae = DiffusionModels.LoadAutoencoderKL(Path.Combine(folder, "vae"), options.Variant);
            vae.To(device, options.DType);
            if (unet.Config.CrossAttentionDim.Any(d => d != text.Config.Width))
                throw new InvalidDataException($"{folder}: the UNet cross-attends to width {unet.Config.CrossAttentionDim[0]} but the text encoder's hidden size is {text.Config.Width}.");
            if (unet.Config.InChannels != vae.Config.LatentChannels)
                throw new InvalidDataException($"{folder}: the UNet takes {unet.Config.InChannels} channels but the VAE has {vae.Config.LatentChannels} latent channels.");
            return new StableDiffusionPipeline(folder, tokenizer, padId, text, unet, vae, schedulerConfig, [unetWeights, vaeWeights, textWeights]);
        }
        catch
        {
            text?.Dispose();
            unet?.Dispose();
            vae?.Dispose();
            throw;
        }
    }

    public IDiffusionScheduler CreateScheduler(SamplingSettings settings) => DenoisingLoop.CreateScheduler(SchedulerConfig, settings);

    /// <summary>Token ids [prompts, 77] and whether each prompt was truncated.</summary>
    public (Tensor Ids, bool[] Truncated) Tokenize(IReadOnlyList<string> prompts)
    {
        var rows = prompts.Select(p => Tokenizer.Encode(p, ContextLength, PadId)).ToList();
        var ids = rows.SelectMany(r => r.InputIds).ToArray();
        return (tensor(ids, [rows.Count, ContextLength], ScalarType.Int64), rows.Select(r => r.Truncated).ToArray());
    }

    /// <summary>Text embeddings [prompts, 77, width] in the pipeline's dtype (no attention mask, as diffusers for SD 1.x).</summary>
    public Tensor EncodePrompts(IReadOnlyList<string> prompts)
    {
        using var scope = NewDisposeScope();
        var (ids, _) = Tokenize(prompts);
        return TextEncoder.HiddenStates(ids.to(Device)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The conditioning of a batch: [negative embeddings; prompt embeddings] (2B rows, unconditional first, as diffusers
    /// concatenates them) when guidance is on, else the prompt embeddings alone.
    /// </summary>
    public Tensor Conditioning(IReadOnlyList<string> prompts, IReadOnlyList<string?>? negativePrompts, double guidanceScale)
    {
        if (negativePrompts is not null && negativePrompts.Count != prompts.Count)
            throw new ArgumentException($"{negativePrompts.Count} negative prompts for {prompts.Count} prompts.");
        if (!GuidanceOn(guidanceScale)) return EncodePrompts(prompts);
        var negatives = Enumerable.Range(0, prompts.Count).Select(i => negativePrompts?[i] ?? "").ToList();
        return EncodePrompts([.. negatives, .. prompts]);
    }

    /// <summary>diffusers' <c>do_classifier_free_guidance</c>: guidance_scale &gt; 1.</summary>
    public static bool GuidanceOn(double guidanceScale) => guidanceScale > 1.0;

    /// <summary>
    /// One denoising step, shared by sampling (under no_grad) and the differentiable fine-tuning path: the UNet on the
    /// scaled latents (twice, unconditional and conditional, when guidance is on), the guided noise prediction, then
    /// the scheduler step with the given noise. <paramref name="conditioning"/> comes from <see cref="Conditioning"/>.
    /// </summary>
    public SchedulerStepOutput DenoiseStep(IDiffusionScheduler scheduler, DiffusionSchedule schedule, int stepIndex, Tensor latents,
        Tensor conditioning, double guidanceScale, Tensor? noise = null, SchedulerState? state = null)
    {
        using var scope = NewDisposeScope();
        var eps = GuidedModelOutput(Unet, scheduler, schedule, stepIndex, latents, conditioning, guidanceScale);
        var output = scheduler.Step(schedule, stepIndex, eps, latents.to(eps.dtype), noise, state);
        output.PrevSample.MoveToOuterDisposeScope();
        output.PredOriginalSample?.MoveToOuterDisposeScope();
        output.State?.MoveToOuterDisposeScope();
        return output;
    }

    /// <summary>
    /// The guided network output at step <paramref name="stepIndex"/> with <paramref name="unet"/> (this pipeline's UNet
    /// or a trained copy of it): the UNet on the scheduler-scaled latents, twice (unconditional, conditional) when guidance
    /// is on, combined as <c>eps_uncond + g (eps_text - eps_uncond)</c>. What every denoising step calls.
    /// </summary>
    public static Tensor GuidedModelOutput(UNet2DConditionModel unet, IDiffusionScheduler scheduler, DiffusionSchedule schedule, int stepIndex,
        Tensor latents, Tensor conditioning, double guidanceScale)
    {
        using var scope = NewDisposeScope();
        var guided = GuidanceOn(guidanceScale);
        var batch = latents.shape[0];
        if (conditioning.shape[0] != (guided ? 2 * batch : batch))
            throw new ArgumentException($"Conditioning has {conditioning.shape[0]} rows for {batch} latents ({(guided ? "guided: negatives then prompts" : "unguided")}).");
        var modelInput = guided ? cat([latents, latents], 0) : latents;
        modelInput = scheduler.ScaleModelInput(schedule, stepIndex, modelInput);
        var t = schedule.TimestepTensor(stepIndex, unet.Device);
        var eps = unet.Forward(modelInput, t, conditioning);
        if (guided)
        {
            var halves = eps.chunk(2, 0);
            eps = halves[0] + guidanceScale * (halves[1] - halves[0]);
        }
        return eps.MoveToOuterDisposeScope();
    }

    /// <summary>Runs steps [from, to) from <paramref name="latents"/> (see <see cref="DenoisingLoop.Run"/>).</summary>
    public Tensor Sample(IDiffusionScheduler scheduler, DiffusionSchedule schedule, Tensor latents, Tensor conditioning, double guidanceScale,
        StepNoise? noise, int from = 0, int? to = null) =>
        DenoisingLoop.Run(scheduler, schedule, latents, noise,
            (i, x, n, state) => DenoiseStep(scheduler, schedule, i, x, conditioning, guidanceScale, n, state), from, to);

    /// <summary>Latents -> images [B, 3, H, W] in [0, 1], float32 on the CPU.</summary>
    public Tensor Decode(Tensor latents)
    {
        using var scope = NewDisposeScope();
        return DenoisingLoop.ToUnitRange(Vae.DecodeScaled(latents)).MoveToOuterDisposeScope();
    }

    /// <summary>[latent channels, h, w] for an image of <paramref name="settings"/>' size.</summary>
    public long[] LatentShape(SamplingSettings settings)
    {
        var defaultSize = (Unet.Config.SampleSize ?? 64) * VaeScaleFactor;
        var height = settings.Height ?? defaultSize;
        var width = settings.Width ?? defaultSize;
        if (height % VaeScaleFactor != 0 || width % VaeScaleFactor != 0)
            throw new ArgumentException($"height and width must be multiples of {VaeScaleFactor} (got {height}x{width}).");
        return [Unet.Config.InChannels, height / VaeScaleFactor, width / VaeScaleFactor];
    }

    /// <summary>Images [prompts, 3, H, W] in [0, 1] (float32, CPU): prompt i with seed i, under no_grad.</summary>
    public Tensor Generate(IReadOnlyList<string> prompts, IReadOnlyList<string?>? negativePrompts, IReadOnlyList<long> seeds, SamplingSettings settings)
    {
        settings.Validate();
        if (prompts.Count != seeds.Count) throw new ArgumentException($"{prompts.Count} prompts but {seeds.Count} seeds.");
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var scheduler = CreateScheduler(settings);
        var schedule = scheduler.Schedule(settings.Steps);
        var conditioning = Conditioning(prompts, negativePrompts, settings.GuidanceScale);
        using var noise = new SeededNoise(seeds);
        var latents = noise.Draw(LatentShape(settings), DType, Device);
        if (schedule.InitNoiseSigma != 1.0) latents = latents * schedule.InitNoiseSigma;
        var final = Sample(scheduler, schedule, latents, conditioning, settings.GuidanceScale, noise.ForSteps());
        return Decode(final).MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        TextEncoder.Dispose();
        Unet.Dispose();
        Vae.Dispose();
    }

    private static void CheckModelIndex(string path)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            var name = doc.RootElement.TryGetProperty("_class_name", out var c) ? c.GetString() : null;
            if (name is not null && name != "StableDiffusionPipeline")
                throw new NotSupportedException($"{path}: _class_name is '{name}'; this pipeline implements StableDiffusionPipeline (SD 1.x).");
        }
        catch (JsonException e) { throw new InvalidDataException($"{path}: invalid JSON at line {e.LineNumber + 1}: {e.Message}", e); }
    }

    private static (ClipBpeTokenizer Tokenizer, long PadId) LoadTokenizer(string folder, string? bpePath)
    {
        ClipBpeTokenizer tokenizer;
        var tokFolder = Path.Combine(folder, "tokenizer");
        if (!string.IsNullOrWhiteSpace(bpePath)) tokenizer = ClipBpeTokenizer.FromOpenClipVocabulary(bpePath, ClipTextCleaning.HuggingFace);
        else if (File.Exists(Path.Combine(tokFolder, "vocab.json")) && File.Exists(Path.Combine(tokFolder, "merges.txt")))
            tokenizer = ClipBpeTokenizer.FromHuggingFace(Path.Combine(tokFolder, "vocab.json"), Path.Combine(tokFolder, "merges.txt"), ClipTextCleaning.HuggingFace);
        else
            throw new FileNotFoundException($"'{folder}' has no tokenizer/vocab.json + tokenizer/merges.txt (set tokenizer_bpe_path to open_clip's bpe_simple_vocab_16e6.txt.gz instead).");

        // CLIPTokenizer's pad token: "<|endoftext|>" for SD 1.x (pad with the end token), "!" for SD 2.x.
        long padId = tokenizer.EndOfText;
        foreach (var file in new[] { "special_tokens_map.json", "tokenizer_config.json" })
        {
            var path = Path.Combine(tokFolder, file);
            if (!File.Exists(path)) continue;
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            if (!doc.RootElement.TryGetProperty("pad_token", out var pad)) continue;
            var text = pad.ValueKind == JsonValueKind.String ? pad.GetString()
                : pad.ValueKind == JsonValueKind.Object && pad.TryGetProperty("content", out var content) ? content.GetString() : null;
            if (text is null) continue;
            padId = text is "<|endoftext|>" or "<end_of_text>" ? tokenizer.EndOfText
                : tokenizer.EncodeText(text) is [var single] ? single
                : throw new InvalidDataException($"{path}: pad_token '{text}' is not a single token.");
            break;
        }
        return (tokenizer, padId);
    }

    private static string FindTextEncoderWeights(string folder, string? variant)
    {
        var candidates = new List<string>();
        // transformers' names; a sharded variant's index is model.safetensors.index.VARIANT.json (like diffusers').
        if (variant is { Length: > 0 }) candidates.AddRange([$"model.{variant}.safetensors", $"model.safetensors.index.{variant}.json", $"pytorch_model.{variant}.bin"]);
        candidates.AddRange(["model.safetensors", "model.safetensors.index.json", "pytorch_model.bin"]);
        foreach (var name in candidates)
            if (File.Exists(Path.Combine(folder, name))) return Path.Combine(folder, name);
        if (variant is not { Length: > 0 })
        {
            var variants = Directory.GetFiles(folder, "model.*.safetensors").Order(StringComparer.Ordinal).ToList();
            if (variants.Count == 1) return variants[0];
        }
        throw new FileNotFoundException($"'{folder}' has no text encoder weights (model[.{variant ?? "variant"}].safetensors, model.safetensors.index.json or pytorch_model.bin).");
    }
}
