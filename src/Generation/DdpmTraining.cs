using System.Text.Json;
using System.Text.Json.Nodes;
using BiasBench.Abstractions.Torch;
using BiasBench.Networks.Diffusion;
using BiasBench.Schedulers;
using BiasBench.Torch.Layers;
using BiasBench.Torch.Weights;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BiasBench.Generation;

/// <summary>
/// A trainable copy of a <see cref="UNet2DModel"/> with the differentiable sampling passes of reward fine-tuning
/// (DRaFT-K, DRaFT-LV, ReFL; see <see cref="DifferentiableSampling"/>). Every step goes through
/// <see cref="DdpmPipeline.DenoiseStep(UNet2DModel, IDiffusionScheduler, DiffusionSchedule, int, Tensor, Tensor?, SchedulerState?)"/>,
/// the same step sampling takes.
/// <para>
/// Precision: the parameters it hands out are float32 master weights. With a bf16 compute dtype, passes run on a bf16
/// working copy of the network (refreshed from the masters before each pass; its gradients are added to the masters'
/// float32 gradients after each backward): TorchSharp has no autocast, so this is "fp32 master weights + bf16 model",
/// as in Apex's O2 mode. Unlike PyTorch's autocast, group norm and the softmax of attention then also run in bf16.
/// </para>
/// </summary>
public sealed class DdpmTraining : IDisposable
{
    private readonly UNet2DModel _master;
    private readonly UNet2DModel? _working;
    private readonly UNet2DModel? _base;
    private readonly List<(string Name, Parameter Master, Parameter? Working)> _trainable;
    private readonly IDiffusionScheduler _trainingScheduler;
    private readonly string? _sourceFolder;

    /// <param name="master">A float32 copy of the network on its device, owned (and disposed) by this object.</param>
    /// <param name="baseNetwork">The frozen base network (for the base penalty); not owned. Null: no base penalty.</param>
    /// <param name="schedulerConfig">The model's scheduler config (the sampler is built from it with <paramref name="settings"/>).</param>
    /// <param name="sourceFolder">The diffusers folder the weights came from (its config files are copied when saving).</param>
    public DdpmTraining(UNet2DModel master, UNet2DModel? baseNetwork, SchedulerConfig schedulerConfig, SamplingSettings settings, TrainingSetup setup,
        string? sourceFolder = null)
    {
        ArgumentNullException.ThrowIfNull(master);
        settings.Validate();
        if (master.DType != ScalarType.Float32) throw new ArgumentException($"The master network must be float32, not {master.DType}.", nameof(master));
        if (setup.ComputeDType is { } c && c is not (ScalarType.Float32 or ScalarType.BFloat16 or ScalarType.Float16))
            throw new ArgumentException($"Compute dtype {c} is not a floating-point type the network supports.");
        if (setup.ComputeDType == ScalarType.Float16 && master.Device.type == DeviceType.CPU)
            throw new ArgumentException("float16 compute is not supported on the CPU; use bfloat16 or float32.");
        _master = master;
        _base = baseNetwork;
        _sourceFolder = sourceFolder;
        SchedulerConfig = schedulerConfig;
        Settings = settings;
        Setup = setup;
        Scheduler = DenoisingLoop.CreateScheduler(schedulerConfig, settings);
        Schedule = Scheduler.Schedule(settings.Steps);
        // The pre-training loss is the DDPM forward process whatever the sampler (an Euler sampler's add_noise lives in
        // sigma space and would need its input scaling).
        _trainingScheduler = SchedulerFactory.Create("ddpm", schedulerConfig);

        var size = master.Config.SampleSize ?? throw new InvalidOperationException("unet/config.json has no sample_size; the image size is unknown.");
        SampleShape = [master.Config.InChannels, size, size];

        using (var init = new Generator((ulong)setup.InitSeed))
        {
            if (setup.Kind == TrainableWeightsKind.Lora)
            {
                foreach (var p in master.parameters()) p.requires_grad_(false);
                foreach (var (_, linear) in AttentionProjections(master)) linear.AttachAdapter(setup.LoraRank, setup.LoraAlpha, init);
            }
            else
            {
                foreach (var p in master.parameters()) p.requires_grad_(true);
            }
        }
        master.eval(); // no dropout or batch statistics in these networks: train and eval modes compute the same

        if (setup.ComputeDType is { } dtype && dtype != ScalarType.Float32)
        {
            _working = new UNet2DModel(master.Config);
            if (setup.Kind == TrainableWeightsKind.Lora)
                foreach (var (_, linear) in AttentionProjections(_working)) linear.AttachAdapter(setup.LoraRank, setup.LoraAlpha);
            _working.To(master.Device, dtype);
            _working.eval();
            var masters = master.named_parameters().ToDictionary(p => p.name, p => p.parameter, StringComparer.Ordinal);
            using (no_grad())
                foreach (var (name, p) in _working.named_parameters())
                {
                    p.copy_(masters[name]);
                    p.requires_grad_(masters[name].requires_grad);
                }
        }
        var working = _working?.named_parameters().ToDictionary(p => p.name, p => p.parameter, StringComparer.Ordinal);
        _trainable = master.named_parameters().Where(p => p.parameter.requires_grad)
            .Select(p => (p.name, p.parameter, working?[p.name])).ToList();
        if (_trainable.Count == 0) throw new InvalidOperationException("The network has no trainable parameters (a LoRA setup found no attention projections).");
    }

    public SchedulerConfig SchedulerConfig { get; }
    public SamplingSettings Settings { get; }
    public TrainingSetup Setup { get; }
    public IDiffusionScheduler Scheduler { get; }
    public DiffusionSchedule Schedule { get; }

    /// <summary>[channels, height, width] of one sample.</summary>
    public long[] SampleShape { get; }

    public Device Device => _master.Device;

    /// <summary>The network passes run on (the bf16 working copy, or the float32 master itself).</summary>
    public UNet2DModel Network => _working ?? _master;

    /// <summary>The float32 master network (trained weights; LoRA adapters attached when training LoRA).</summary>
    public UNet2DModel Master => _master;

    /// <summary>The trainable float32 parameters by diffusers name (LoRA: <c>...to_q.lora_A.weight</c>, <c>...lora_B.weight</c>).</summary>
    public IReadOnlyList<(string Name, Parameter Parameter)> TrainableParameters => _trainable.Select(t => (t.Name, t.Master)).ToList();

    /// <summary>The attention projections LoRA adapts: to_q, to_k, to_v and to_out.0 of every attention block.</summary>
    public static IEnumerable<(string Name, BiasBench.Torch.Layers.Linear Layer)> AttentionProjections(nn.Module network) =>
        network.named_modules()
            .Where(m => m.module is BiasBench.Torch.Layers.Linear && IsAttentionProjection(m.name))
            .Select(m => (m.name, (BiasBench.Torch.Layers.Linear)m.module))
            .ToList();

    private static bool IsAttentionProjection(string name) =>
        name.EndsWith(".to_q", StringComparison.Ordinal) || name.EndsWith(".to_k", StringComparison.Ordinal) ||
        name.EndsWith(".to_v", StringComparison.Ordinal) || name.EndsWith(".to_out.0", StringComparison.Ordinal);

    /// <summary>One differentiable pass and its backward (see <see cref="IDifferentiableImageGenerator.Backward"/>).</summary>
    public DifferentiableSampleResult Backward(DifferentiableSampling request, Func<Tensor, Tensor> objective)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(objective);
        var count = Schedule.Count;
        var batch = request.Prompts.Count;
        if (batch == 0) throw new ArgumentException("A differentiable pass needs at least one item (prompt).");
        if (request.Seeds is { } seeds && seeds.Count != batch) throw new ArgumentException($"{seeds.Count} seeds for {batch} prompts.");
        if (request.Seeds is null && request.InitialNoise is null) throw new ArgumentException("Give seeds or the initial noise.");
        if (request.StopStep is { } stop && (stop < 0 || stop >= count))
            throw new ArgumentOutOfRangeException(nameof(request), $"stop step {stop} is outside the {count}-step schedule.");
        if (request.StopStep is null && (request.GradientSteps < 1 || request.GradientSteps > count))
            throw new ArgumentOutOfRangeException(nameof(request), $"gradient steps must be in [1, {count}] (got {request.GradientSteps}).");
        if (request.LastStepDraws < 1) throw new ArgumentOutOfRangeException(nameof(request), "last-step draws must be at least 1.");
        if (request.LastStepDraws > 1 && (request.GradientSteps != 1 || request.StopStep is not null || request.LastStepNoise is null))
            throw new ArgumentException("Several last-step draws (DRaFT-LV) need one gradient step, no stop step and the draws' noise.");
        if (request.BasePenaltyWeight != 0 && _base is null)
            throw new InvalidOperationException("A base penalty needs the base network (none was given).");

        SyncWorking();
        var net = Network;
        using var seeded = request.Seeds is { } s ? new SeededNoise(s) : null;
        StepNoise? stepNoise = seeded is not null ? seeded.ForSteps()
            : request.StepNoise is { } explicitNoise ? (i, shape, dtype, device) => explicitNoise(i, shape).to(dtype, device)
            : null;
        using var scope = NewDisposeScope();
        Tensor initial;
        if (request.InitialNoise is { } given)
        {
            if (given.shape[0] != batch || !given.shape.Skip(1).SequenceEqual(SampleShape))
                throw new ArgumentException($"The initial noise is [{string.Join(", ", given.shape)}]; expected [{batch}, {string.Join(", ", SampleShape)}].");
            initial = given.to(net.DType, net.Device);
            // Seeds also drive stochastic steps; with explicit noise the seeded x_T draw is not used.
            if (seeded is not null) seeded.Draw(SampleShape, net.DType, CPU).Dispose();
        }
        else initial = seeded!.Draw(SampleShape, net.DType, net.Device);
        if (Schedule.InitNoiseSigma != 1.0) initial = initial * Schedule.InitNoiseSigma;

        DifferentiableSampleResult result;
        if (request.StopStep is { } stopStep) result = OneStepPrediction(net, initial, stopStep, stepNoise, request.BasePenaltyWeight, objective);
        else if (request.LastStepDraws > 1) result = LastStepDraws(net, initial, stepNoise, request, objective);
        else if (request.RecomputeSteps) result = LastStepsRecomputed(net, initial, stepNoise, request.GradientSteps, request.BasePenaltyWeight, objective);
        else result = LastSteps(net, initial, stepNoise, request.GradientSteps, request.BasePenaltyWeight, objective);
        TransferGradients();
        result.Images.DetachFromDisposeScope();
        return result;
    }

    /// <summary>Steps [0, first) without autograd.</summary>
    private Tensor NoGradSteps(UNet2DModel net, Tensor x, StepNoise? noise, int first)
    {
        using var _ = no_grad();
        return DenoisingLoop.Run(Scheduler, Schedule, x, noise, (i, sample, n, state) =>
        {
            var (modelOutput, output) = DdpmPipeline.DenoiseStep(net, Scheduler, Schedule, i, sample, n, state);
            modelOutput.Dispose();
            return output;
        }, 0, first);
    }

    private Tensor? NoiseFor(StepNoise? noise, int step, Tensor like) =>
        !Scheduler.NeedsNoise(Schedule, step) ? null
        : noise is null ? throw new InvalidOperationException($"{Scheduler.ClassName} step {step} is stochastic and needs noise (give seeds or step noise).")
        : noise(step, like.shape, like.dtype, like.device);

    /// <summary>weight x mean((output - base output)^2) at the same input, or null when off.</summary>
    private Tensor? Penalty(Tensor modelOutput, int step, Tensor sample, double weight)
    {
        if (weight == 0) return null;
        Tensor reference;
        using (no_grad())
            reference = DdpmPipeline.PredictModelOutput(_base!, Scheduler, Schedule, step, sample.detach().to(_base!.DType, _base.Device));
        return (modelOutput.to(ScalarType.Float32) - reference.to(ScalarType.Float32, modelOutput.device)).square().mean() * weight;
    }

    private static double Scalar(Tensor t)
    {
        using var wide = t.detach().to(ScalarType.Float64, CPU);
        return wide.item<double>();
    }

    private static Tensor ToUnit(Tensor x) => (x.to(ScalarType.Float32) / 2 + 0.5).clamp(0, 1);

    private static DifferentiableSampleResult Finish(Tensor images, Tensor loss, Tensor? penalty, double scale = 1.0)
    {
        var total = penalty is null ? loss : loss + penalty;
        if (scale != 1.0) total = total * scale;
        total.backward();
        return new DifferentiableSampleResult(images.detach().cpu().clone(), Scalar(loss), penalty is null ? 0 : Scalar(penalty));
    }

    private static Tensor CheckLoss(Tensor loss) => loss.numel() == 1
        ? loss.reshape([])
        : throw new InvalidOperationException($"The objective must return a scalar loss, got shape [{string.Join(", ", loss.shape)}].");

    private DifferentiableSampleResult OneStepPrediction(UNet2DModel net, Tensor initial, int stop, StepNoise? noise, double penaltyWeight, Func<Tensor, Tensor> objective)
    {
        var x = NoGradSteps(net, initial, noise, stop);
        var modelOutput = DdpmPipeline.PredictModelOutput(net, Scheduler, Schedule, stop, x);
        var x0 = Scheduler.PredictOriginalSample(Schedule, stop, modelOutput, x.to(modelOutput.dtype));
        var images = ToUnit(x0);
        return Finish(images, CheckLoss(objective(images)), Penalty(modelOutput, stop, x, penaltyWeight));
    }

    private DifferentiableSampleResult LastSteps(UNet2DModel net, Tensor initial, StepNoise? noise, int k, double penaltyWeight, Func<Tensor, Tensor> objective)
    {
        var first = Schedule.Count - k;
        var x = NoGradSteps(net, initial, noise, first);
        SchedulerState? state = null;
        Tensor? penalty = null;
        for (var i = first; i < Schedule.Count; i++)
        {
            var (modelOutput, output) = DdpmPipeline.DenoiseStep(net, Scheduler, Schedule, i, x, NoiseFor(noise, i, x), state);
            if (Penalty(modelOutput, i, x, penaltyWeight / k) is { } p) penalty = penalty is null ? p : penalty + p;
            (x, state) = (output.PrevSample, output.State);
        }
        var images = ToUnit(x);
        return Finish(images, CheckLoss(objective(images)), penalty);
    }

    /// <summary>DRaFT-K with step-level gradient checkpointing: only the gradient steps' inputs are kept; the backward
    /// recomputes one step at a time from the last to the first.</summary>
    private DifferentiableSampleResult LastStepsRecomputed(UNet2DModel net, Tensor initial, StepNoise? noise, int k, double penaltyWeight, Func<Tensor, Tensor> objective)
    {
        var first = Schedule.Count - k;
        var x = NoGradSteps(net, initial, noise, first);
        var inputs = new List<Tensor>();
        var noises = new List<Tensor?>();
        using (no_grad())
        {
            for (var i = first; i < Schedule.Count; i++)
            {
                inputs.Add(x);
                var n = NoiseFor(noise, i, x);
                noises.Add(n);
                var (modelOutput, output) = DdpmPipeline.DenoiseStep(net, Scheduler, Schedule, i, x, n);
                if (output.State is not null)
                    throw new NotSupportedException($"{Scheduler.ClassName} carries state between steps; recomputed gradient steps need a single-step scheduler (ddim, ddpm, euler, euler-ancestral).");
                modelOutput.Dispose();
                x = output.PrevSample;
            }
        }
        var final = x.detach().requires_grad_(true);
        var images = ToUnit(final);
        var loss = CheckLoss(objective(images));
        loss.backward();
        var upstream = final.grad ?? throw new InvalidOperationException("The objective does not depend on the images.");
        double penaltyTotal = 0;
        for (var j = inputs.Count - 1; j >= 0; j--)
        {
            using var stepScope = NewDisposeScope();
            var i = first + j;
            var input = inputs[j].detach().requires_grad_(j > 0);
            var (modelOutput, output) = DdpmPipeline.DenoiseStep(net, Scheduler, Schedule, i, input, noises[j]);
            var outputs = new List<Tensor> { output.PrevSample };
            var grads = new List<Tensor> { upstream.to(output.PrevSample.dtype) };
            if (Penalty(modelOutput, i, input, penaltyWeight / k) is { } p)
            {
                outputs.Add(p);
                grads.Add(ones_like(p));
                penaltyTotal += Scalar(p);
            }
            autograd.backward(outputs, grads);
            if (j > 0) upstream = input.grad!.detach().clone().MoveToOuterDisposeScope();
        }
        return new DifferentiableSampleResult(images.detach().cpu().clone(), Scalar(loss), penaltyTotal);
    }

    /// <summary>DRaFT-LV: the whole loop without gradient, then n re-noisings of the result to the last step's noise level,
    /// each denoised by the last step with gradient; the loss is the mean over draws (each draw back-propagated on its own).</summary>
    private DifferentiableSampleResult LastStepDraws(UNet2DModel net, Tensor initial, StepNoise? noise, DifferentiableSampling request, Func<Tensor, Tensor> objective)
    {
        var last = Schedule.Count - 1;
        var x0 = NoGradSteps(net, initial, noise, Schedule.Count);
        var draws = request.LastStepDraws;
        double loss = 0, penalty = 0;
        Tensor? images = null;
        for (var d = 0; d < draws; d++)
        {
            using var drawScope = NewDisposeScope();
            Tensor xLast;
            using (no_grad())
            {
                var eps = request.LastStepNoise!(d, x0.shape).to(x0.dtype, x0.device);
                xLast = Scheduler.AddNoise(Schedule, last, x0, eps);
            }
            var (modelOutput, output) = DdpmPipeline.DenoiseStep(net, Scheduler, Schedule, last, xLast, NoiseFor(noise, last, xLast));
            var drawImages = ToUnit(output.PrevSample);
            var result = Finish(drawImages, CheckLoss(objective(drawImages)), Penalty(modelOutput, last, xLast, request.BasePenaltyWeight), 1.0 / draws);
            loss += result.Loss / draws;
            penalty += result.BasePenalty / draws;
            images?.Dispose();
            images = result.Images.DetachFromDisposeScope();
        }
        return new DifferentiableSampleResult(images!, loss, penalty);
    }

    /// <summary>The pre-training loss on real images (see <see cref="IDifferentiableImageGenerator.DenoisingBackward"/>).</summary>
    public double DenoisingBackward(Tensor images, Generator generator, double weight)
    {
        if (images.dim() != 4 || !images.shape.Skip(1).SequenceEqual(SampleShape))
            throw new ArgumentException($"Real images must be [N, {string.Join(", ", SampleShape)}] in [0, 1], got [{string.Join(", ", images.shape)}].");
        SyncWorking();
        var net = Network;
        double value;
        using (var scope = NewDisposeScope())
        {
            var x0 = images.to(ScalarType.Float32, net.Device) * 2 - 1;
            var noise = randn(images.shape, generator: generator).to(net.Device);
            var timesteps = randint(0, _trainingScheduler.NumTrainTimesteps, [images.shape[0]], generator: generator, dtype: ScalarType.Int64).to(net.Device);
            var noisy = _trainingScheduler.AddNoise(x0, noise, timesteps);
            var prediction = net.Forward(noisy.to(net.DType), timesteps).to(ScalarType.Float32);
            var target = _trainingScheduler.PredictionType switch
            {
                PredictionType.Epsilon => noise,
                PredictionType.VPrediction => _trainingScheduler.GetVelocity(x0, noise, timesteps),
                _ => x0,
            };
            var loss = nn.functional.mse_loss(prediction, target);
            (loss * weight).backward();
            value = Scalar(loss);
        }
        TransferGradients();
        return value;
    }

    /// <summary>Images [seeds, 3, H, W] in [0, 1] (float32, CPU) with the current weights, under no_grad.</summary>
    public Tensor Generate(IReadOnlyList<long> seeds)
    {
        SyncWorking();
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        using var noise = new SeededNoise(seeds);
        var net = Network;
        var initial = noise.Draw(SampleShape, net.DType, net.Device);
        if (Schedule.InitNoiseSigma != 1.0) initial = initial * Schedule.InitNoiseSigma;
        var x = NoGradSteps(net, initial, noise.ForSteps(), Schedule.Count);
        return DenoisingLoop.ToUnitRange(x).MoveToOuterDisposeScope();
    }

    /// <summary>Sets the trainable parameters' values and returns copies of the previous ones.</summary>
    public IReadOnlyDictionary<string, Tensor> SwapTrainableValues(IReadOnlyDictionary<string, Tensor> values)
    {
        var previous = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        using var _ = no_grad();
        foreach (var (name, master, _) in _trainable)
        {
            if (!values.TryGetValue(name, out var value)) throw new ArgumentException($"No value for trainable parameter '{name}'.");
            previous[name] = master.detach().clone();
            master.copy_(value);
        }
        return previous;
    }

    /// <summary>The network's full state in float32 with LoRA merged (W + alpha/rank B A), by diffusers name.</summary>
    public Dictionary<string, Tensor> MergedState()
    {
        using var _ = no_grad();
        var adapters = AttentionProjections(_master).Where(p => p.Layer.Adapter is not null)
            .ToDictionary(p => p.Name + ".weight", p => p.Layer.Adapter!, StringComparer.Ordinal);
        var state = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, p) in _master.named_parameters())
        {
            if (name.Contains(".lora_A.", StringComparison.Ordinal) || name.Contains(".lora_B.", StringComparison.Ordinal)) continue;
            var value = p.detach().to(ScalarType.Float32).cpu().clone();
            if (adapters.TryGetValue(name, out var adapter))
            {
                using var delta = adapter.Delta().cpu();
                value.add_(delta);
            }
            state[name] = value;
        }
        foreach (var (name, b) in _master.named_buffers()) state[name] = b.detach().cpu().clone();
        return state;
    }

    /// <summary>
    /// Writes the merged network in the diffusers layout: <c>model_index.json</c>, <c>unet/config.json</c> (the source
    /// folder's, unchanged), <c>unet/diffusion_pytorch_model.safetensors</c> (float32), <c>scheduler/scheduler_config.json</c>.
    /// Written to a temporary folder and renamed, so an interrupted save leaves no half-written model.
    /// </summary>
    public string SaveDiffusers(string directory, IReadOnlyDictionary<string, string>? metadata = null)
    {
        if (_sourceFolder is null) throw new InvalidOperationException("This network was not loaded from a diffusers folder; there is no config to save with it.");
        var target = Path.GetFullPath(directory);
        var tmp = target + ".tmp";
        if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
        Directory.CreateDirectory(Path.Combine(tmp, "unet"));
        Directory.CreateDirectory(Path.Combine(tmp, "scheduler"));
        File.Copy(Path.Combine(_sourceFolder, "unet", DiffusionModels.ConfigFile), Path.Combine(tmp, "unet", DiffusionModels.ConfigFile));
        File.Copy(Path.Combine(_sourceFolder, "scheduler", "scheduler_config.json"), Path.Combine(tmp, "scheduler", "scheduler_config.json"));
        var index = Path.Combine(_sourceFolder, "model_index.json");
        if (File.Exists(index)) File.Copy(index, Path.Combine(tmp, "model_index.json"));
        else
        {
            var json = new JsonObject { ["_class_name"] = "DDPMPipeline", ["scheduler"] = new JsonArray("diffusers", SchedulerConfig.ClassName ?? "DDPMScheduler"), ["unet"] = new JsonArray("diffusers", "UNet2DModel") };
            File.WriteAllText(Path.Combine(tmp, "model_index.json"), json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        }
        var state = MergedState();
        try
        {
            var meta = new Dictionary<string, string>(metadata ?? new Dictionary<string, string>(), StringComparer.Ordinal) { ["format"] = "pt" };
            SafeTensorsFile.Save(Path.Combine(tmp, "unet", DiffusionWeights.DiffusersWeightsName + ".safetensors"), state, meta);
        }
        finally
        {
            foreach (var t in state.Values) t.Dispose();
        }
        if (Directory.Exists(target)) Directory.Delete(target, recursive: true);
        Directory.Move(tmp, target);
        return target;
    }

    /// <summary>Copies the masters into the bf16 working copy (before every pass).</summary>
    private void SyncWorking()
    {
        if (_working is null) return;
        using var _ = no_grad();
        foreach (var (_, master, working) in _trainable) working!.copy_(master);
    }

    /// <summary>Adds the working copy's gradients to the masters' float32 gradients.</summary>
    private void TransferGradients()
    {
        if (_working is null) return;
        using var _ = no_grad();
        foreach (var (_, master, working) in _trainable)
        {
            if (working!.grad is not { } g) continue;
            using (var wide = g.to(ScalarType.Float32))
            {
                if (master.grad is { } mg) mg.add_(wide);
                else master.grad = wide.clone();
            }
            g.Dispose();
            working.grad = null;
        }
    }

    public void Dispose()
    {
        _working?.Dispose();
        _master.Dispose();
    }
}
