using BiasBench.Abstractions.Torch;
using BiasBench.Networks.Diffusion;
using BiasBench.Schedulers;
using BiasBench.Torch.Weights;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BiasBench.Generation;

/// <summary>
/// What the trainable copies of diffusion networks share (<see cref="DdpmTraining"/> for UNet2DModel,
/// <see cref="StableDiffusionTraining"/> for SD's UNet2DConditionModel): float32 master weights with an optional
/// reduced-precision working copy, LoRA on the attention projections, and the differentiable sampling passes of reward
/// fine-tuning (DRaFT-K with or without step recompute, DRaFT-LV, ReFL's one-step x0; see <see cref="DifferentiableSampling"/>).
/// A subclass supplies the network call of one step (with its conditioning) and the map from the final sample to images.
/// <para>
/// Precision: the parameters it hands out are float32 master weights. With a bf16 compute dtype, passes run on a bf16
/// working copy of the network (refreshed from the masters before each pass; its gradients are added to the masters'
/// float32 gradients after each backward): TorchSharp has no autocast, so this is "fp32 master weights + bf16 model",
/// as in Apex's O2 mode. Unlike PyTorch's autocast, group norm and the softmax of attention then also run in bf16.
/// A float64 master (gradient checks against finite differences) computes in float64.
/// </para>
/// </summary>
public abstract class DiffusionTraining<TNetwork> : IDisposable where TNetwork : DiffusionModule
{
    private readonly TNetwork _master;
    private readonly TNetwork? _working;
    private readonly List<(string Name, Parameter Master, Parameter? Working)> _trainable;

    /// <param name="master">A float32 (or float64) copy of the network on its device, owned (and disposed) by this object.</param>
    /// <param name="baseNetwork">The frozen base network (for the base penalty); not owned. Null: no base penalty.</param>
    /// <param name="workingCopy">Makes an empty network of the master's configuration (the reduced-precision working copy).</param>
    /// <param name="sampleShape">[channels, height, width] of one sample (pixels or latents).</param>
    protected DiffusionTraining(TNetwork master, TNetwork? baseNetwork, Func<TNetwork> workingCopy, SchedulerConfig schedulerConfig,
        SamplingSettings settings, TrainingSetup setup, long[] sampleShape)
    {
        ArgumentNullException.ThrowIfNull(master);
        settings.Validate();
        if (master.DType is not (ScalarType.Float32 or ScalarType.Float64))
            throw new ArgumentException($"The master network must be float32 (or float64 for gradient checks), not {master.DType}.", nameof(master));
        if (setup.ComputeDType is { } c && c is not (ScalarType.Float32 or ScalarType.BFloat16 or ScalarType.Float16))
            throw new ArgumentException($"Compute dtype {c} is not a floating-point type the network supports.");
        if (setup.ComputeDType == ScalarType.Float16 && master.Device.type == DeviceType.CPU)
            throw new ArgumentException("float16 compute is not supported on the CPU; use bfloat16 or float32.");
        _master = master;
        Base = baseNetwork;
        SchedulerConfig = schedulerConfig;
        Settings = settings;
        Setup = setup;
        SampleShape = sampleShape;
        Scheduler = DenoisingLoop.CreateScheduler(schedulerConfig, settings);
        Schedule = Scheduler.Schedule(settings.Steps);
        // The pre-training loss is the DDPM forward process whatever the sampler (an Euler sampler's add_noise lives in
        // sigma space and would need its input scaling).
        TrainingScheduler = SchedulerFactory.Create("ddpm", schedulerConfig);

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

        if (setup.ComputeDType is { } dtype && dtype != master.DType)
        {
            _working = workingCopy();
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

    /// <summary>The DDPM forward process of the pre-training loss.</summary>
    protected IDiffusionScheduler TrainingScheduler { get; }

    /// <summary>The frozen base network (base penalty), or null.</summary>
    protected TNetwork? Base { get; }

    /// <summary>[channels, height, width] of one sample (pixels for ddpm, latents for SD).</summary>
    public long[] SampleShape { get; }

    public Device Device => _master.Device;

    /// <summary>The network passes run on (the bf16 working copy, or the master itself).</summary>
    public TNetwork Network => _working ?? _master;

    /// <summary>The master network (trained weights; LoRA adapters attached when training LoRA).</summary>
    public TNetwork Master => _master;

    /// <summary>The trainable master parameters by diffusers name (LoRA: <c>...to_q.lora_A.weight</c>, <c>...lora_B.weight</c>).</summary>
    public IReadOnlyList<(string Name, Parameter Parameter)> TrainableParameters => _trainable.Select(t => (t.Name, t.Master)).ToList();

    /// <summary>The attention projections LoRA adapts: to_q, to_k, to_v and to_out.0 of every attention block
    /// (self- and cross-attention).</summary>
    public static IEnumerable<(string Name, BiasBench.Torch.Layers.Linear Layer)> AttentionProjections(nn.Module network) =>
        network.named_modules()
            .Where(m => m.module is BiasBench.Torch.Layers.Linear && IsAttentionProjection(m.name))
            .Select(m => (m.name, (BiasBench.Torch.Layers.Linear)m.module))
            .ToList();

    private static bool IsAttentionProjection(string name) =>
        name.EndsWith(".to_q", StringComparison.Ordinal) || name.EndsWith(".to_k", StringComparison.Ordinal) ||
        name.EndsWith(".to_v", StringComparison.Ordinal) || name.EndsWith(".to_out.0", StringComparison.Ordinal);

    // ---- What a network family supplies ----

    /// <summary>The conditioning of a pass's items (computed without gradient: the encoders are frozen), or null for an
    /// unconditional network. Owned by the caller's dispose scope.</summary>
    protected abstract Tensor? Condition(DifferentiableSampling request);

    /// <summary>The network's output at step <paramref name="stepIndex"/> (the guided one for a guided network).</summary>
    protected abstract Tensor ModelOutput(TNetwork network, int stepIndex, Tensor sample, Tensor? conditioning);

    /// <summary>The final sample -> images [N, 3, H, W] in [0, 1], float32, connected to the graph.</summary>
    protected abstract Tensor ToImages(Tensor sample);

    /// <summary>One step: the network's output and the scheduler step with the given noise.</summary>
    protected (Tensor ModelOutput, SchedulerStepOutput Step) DenoiseStep(TNetwork network, int stepIndex, Tensor sample, Tensor? conditioning,
        Tensor? noise = null, SchedulerState? state = null)
    {
        using var scope = NewDisposeScope();
        var modelOutput = ModelOutput(network, stepIndex, sample, conditioning);
        var output = Scheduler.Step(Schedule, stepIndex, modelOutput, sample.to(modelOutput.dtype), noise, state);
        modelOutput.MoveToOuterDisposeScope();
        output.PrevSample.MoveToOuterDisposeScope();
        output.PredOriginalSample?.MoveToOuterDisposeScope();
        output.State?.MoveToOuterDisposeScope();
        return (modelOutput, output);
    }

    /// <summary>One differentiable pass and its backward (see <see cref="IDifferentiableImageGenerator.Backward"/>).</summary>
    public DifferentiableSampleResult Backward(DifferentiableSampling request, Func<Tensor, Tensor> objective)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(objective);
        var count = Schedule.Count;
        var batch = request.Prompts.Count;
        if (batch == 0) throw new ArgumentException("A differentiable pass needs at least one item (prompt).");
        if (request.Seeds is { } seeds && seeds.Count != batch) throw new ArgumentException($"{seeds.Count} seeds for {batch} prompts.");
        if (request.NegativePrompts is { } negatives && negatives.Count != batch) throw new ArgumentException($"{negatives.Count} negative prompts for {batch} prompts.");
        if (request.Seeds is null && request.InitialNoise is null) throw new ArgumentException("Give seeds or the initial noise.");
        if (request.StopStep is { } stop && (stop < 0 || stop >= count))
            throw new ArgumentOutOfRangeException(nameof(request), $"stop step {stop} is outside the {count}-step schedule.");
        if (request.StopStep is null && (request.GradientSteps < 1 || request.GradientSteps > count))
            throw new ArgumentOutOfRangeException(nameof(request), $"gradient steps must be in [1, {count}] (got {request.GradientSteps}).");
        if (request.LastStepDraws < 1) throw new ArgumentOutOfRangeException(nameof(request), "last-step draws must be at least 1.");
        if (request.LastStepDraws > 1 && (request.GradientSteps != 1 || request.StopStep is not null || request.LastStepNoise is null))
            throw new ArgumentException("Several last-step draws (DRaFT-LV) need one gradient step, no stop step and the draws' noise.");
        if (request.BasePenaltyWeight != 0 && Base is null)
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
        var conditioning = Condition(request);

        DifferentiableSampleResult result;
        if (request.StopStep is { } stopStep) result = OneStepPrediction(net, initial, conditioning, stopStep, stepNoise, request.BasePenaltyWeight, objective);
        else if (request.LastStepDraws > 1) result = LastStepDraws(net, initial, conditioning, stepNoise, request, objective);
        else if (request.RecomputeSteps) result = LastStepsRecomputed(net, initial, conditioning, stepNoise, request.GradientSteps, request.BasePenaltyWeight, objective);
        else result = LastSteps(net, initial, conditioning, stepNoise, request.GradientSteps, request.BasePenaltyWeight, objective);
        TransferGradients();
        result.Images.DetachFromDisposeScope();
        return result;
    }

    /// <summary>Steps [0, first) without autograd.</summary>
    protected Tensor NoGradSteps(TNetwork net, Tensor x, Tensor? conditioning, StepNoise? noise, int first)
    {
        using var _ = no_grad();
        return DenoisingLoop.Run(Scheduler, Schedule, x, noise, (i, sample, n, state) =>
        {
            var (modelOutput, output) = DenoiseStep(net, i, sample, conditioning, n, state);
            modelOutput.Dispose();
            return output;
        }, 0, first);
    }

    private Tensor? NoiseFor(StepNoise? noise, int step, Tensor like) =>
        !Scheduler.NeedsNoise(Schedule, step) ? null
        : noise is null ? throw new InvalidOperationException($"{Scheduler.ClassName} step {step} is stochastic and needs noise (give seeds or step noise).")
        : noise(step, like.shape, like.dtype, like.device);

    /// <summary>weight x mean((output - base output)^2) at the same input, or null when off.</summary>
    private Tensor? Penalty(Tensor modelOutput, int step, Tensor sample, Tensor? conditioning, double weight)
    {
        if (weight == 0) return null;
        Tensor reference;
        using (no_grad())
            reference = ModelOutput(Base!, step, sample.detach().to(Base!.DType, Base.Device), conditioning?.to(Base.DType, Base.Device));
        var wide = modelOutput.dtype == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32;
        return (modelOutput.to(wide) - reference.to(wide, modelOutput.device)).square().mean() * weight;
    }

    protected static double Scalar(Tensor t)
    {
        using var wide = t.detach().to(ScalarType.Float64, CPU);
        return wide.item<double>();
    }

    private static DifferentiableSampleResult Finish(Tensor images, Tensor loss, Tensor? penalty, double scale = 1.0)
    {
        var total = penalty is null ? loss : loss + penalty;
        if (scale != 1.0) total = total * scale;
        total.backward();
        return new DifferentiableSampleResult(images.detach().to(ScalarType.Float32).cpu().clone(), Scalar(loss), penalty is null ? 0 : Scalar(penalty));
    }

    private static Tensor CheckLoss(Tensor loss) => loss.numel() == 1
        ? loss.reshape([])
        : throw new InvalidOperationException($"The objective must return a scalar loss, got shape [{string.Join(", ", loss.shape)}].");

    private DifferentiableSampleResult OneStepPrediction(TNetwork net, Tensor initial, Tensor? conditioning, int stop, StepNoise? noise, double penaltyWeight,
        Func<Tensor, Tensor> objective)
    {
        var x = NoGradSteps(net, initial, conditioning, noise, stop);
        var modelOutput = ModelOutput(net, stop, x, conditioning);
        var x0 = Scheduler.PredictOriginalSample(Schedule, stop, modelOutput, x.to(modelOutput.dtype));
        var images = ToImages(x0);
        return Finish(images, CheckLoss(objective(images)), Penalty(modelOutput, stop, x, conditioning, penaltyWeight));
    }

    private DifferentiableSampleResult LastSteps(TNetwork net, Tensor initial, Tensor? conditioning, StepNoise? noise, int k, double penaltyWeight,
        Func<Tensor, Tensor> objective)
    {
        var first = Schedule.Count - k;
        var x = NoGradSteps(net, initial, conditioning, noise, first);
        SchedulerState? state = null;
        Tensor? penalty = null;
        for (var i = first; i < Schedule.Count; i++)
        {
            var (modelOutput, output) = DenoiseStep(net, i, x, conditioning, NoiseFor(noise, i, x), state);
            if (Penalty(modelOutput, i, x, conditioning, penaltyWeight / k) is { } p) penalty = penalty is null ? p : penalty + p;
            (x, state) = (output.PrevSample, output.State);
        }
        var images = ToImages(x);
        return Finish(images, CheckLoss(objective(images)), penalty);
    }

    /// <summary>DRaFT-K with step-level gradient checkpointing: only the gradient steps' inputs are kept; the backward
    /// recomputes one step at a time from the last to the first (the image map, e.g. a VAE decoder, is its own segment).</summary>
    private DifferentiableSampleResult LastStepsRecomputed(TNetwork net, Tensor initial, Tensor? conditioning, StepNoise? noise, int k, double penaltyWeight,
        Func<Tensor, Tensor> objective)
    {
        var first = Schedule.Count - k;
        var x = NoGradSteps(net, initial, conditioning, noise, first);
        var inputs = new List<Tensor>();
        var noises = new List<Tensor?>();
        using (no_grad())
        {
            for (var i = first; i < Schedule.Count; i++)
            {
                inputs.Add(x);
                var n = NoiseFor(noise, i, x);
                noises.Add(n);
                var (modelOutput, output) = DenoiseStep(net, i, x, conditioning, n);
                if (output.State is not null)
                    throw new NotSupportedException($"{Scheduler.ClassName} carries state between steps; recomputed gradient steps need a single-step scheduler (ddim, ddpm, euler, euler-ancestral).");
                modelOutput.Dispose();
                x = output.PrevSample;
            }
        }
        var final = x.detach().requires_grad_(true);
        var images = ToImages(final);
        var loss = CheckLoss(objective(images));
        loss.backward();
        var upstream = final.grad ?? throw new InvalidOperationException("The objective does not depend on the images.");
        double penaltyTotal = 0;
        for (var j = inputs.Count - 1; j >= 0; j--)
        {
            using var stepScope = NewDisposeScope();
            var i = first + j;
            var input = inputs[j].detach().requires_grad_(j > 0);
            var (modelOutput, output) = DenoiseStep(net, i, input, conditioning, noises[j]);
            var outputs = new List<Tensor> { output.PrevSample };
            var grads = new List<Tensor> { upstream.to(output.PrevSample.dtype) };
            if (Penalty(modelOutput, i, input, conditioning, penaltyWeight / k) is { } p)
            {
                outputs.Add(p);
                grads.Add(ones_like(p));
                penaltyTotal += Scalar(p);
            }
            autograd.backward(outputs, grads);
            if (j > 0) upstream = input.grad!.detach().clone().MoveToOuterDisposeScope();
        }
        return new DifferentiableSampleResult(images.detach().to(ScalarType.Float32).cpu().clone(), Scalar(loss), penaltyTotal);
    }

    /// <summary>DRaFT-LV: the whole loop without gradient, then n re-noisings of the result to the last step's noise level,
    /// each denoised by the last step with gradient; the loss is the mean over draws (each draw back-propagated on its own).</summary>
    private DifferentiableSampleResult LastStepDraws(TNetwork net, Tensor initial, Tensor? conditioning, StepNoise? noise, DifferentiableSampling request,
        Func<Tensor, Tensor> objective)
    {
        var last = Schedule.Count - 1;
        var x0 = NoGradSteps(net, initial, conditioning, noise, Schedule.Count);
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
            var (modelOutput, output) = DenoiseStep(net, last, xLast, conditioning, NoiseFor(noise, last, xLast));
            var drawImages = ToImages(output.PrevSample);
            var result = Finish(drawImages, CheckLoss(objective(drawImages)), Penalty(modelOutput, last, xLast, conditioning, request.BasePenaltyWeight), 1.0 / draws);
            loss += result.Loss / draws;
            penalty += result.BasePenalty / draws;
            images?.Dispose();
            images = result.Images.DetachFromDisposeScope();
        }
        return new DifferentiableSampleResult(images!, loss, penalty);
    }

    /// <summary>
    /// The pre-training loss on clean samples <paramref name="x0"/> (pixels in [-1, 1] or latents): noise and integer
    /// timesteps drawn from <paramref name="generator"/> (in that order), the DDPM forward process, the network's
    /// prediction against its training target (noise, velocity or sample), mean squared error, back-propagated with
    /// <paramref name="weight"/>. Returns the unweighted loss.
    /// </summary>
    protected double DenoisingLoss(Tensor x0, Generator generator, double weight, Func<TNetwork, Tensor, Tensor, Tensor> predict)
    {
        SyncWorking();
        var net = Network;
        double value;
        using (var scope = NewDisposeScope())
        {
            var noise = randn(x0.shape, dtype: x0.dtype, generator: generator).to(x0.device);
            var timesteps = randint(0, TrainingScheduler.NumTrainTimesteps, [x0.shape[0]], generator: generator, dtype: ScalarType.Int64).to(net.Device);
            var noisy = TrainingScheduler.AddNoise(x0, noise, timesteps);
            var prediction = predict(net, noisy.to(net.DType), timesteps).to(x0.dtype);
            var target = TrainingScheduler.PredictionType switch
            {
                PredictionType.Epsilon => noise,
                PredictionType.VPrediction => TrainingScheduler.GetVelocity(x0, noise, timesteps),
                _ => x0,
            };
            var loss = nn.functional.mse_loss(prediction, target);
            (loss * weight).backward();
            value = Scalar(loss);
        }
        TransferGradients();
        return value;
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

    /// <summary>Writes the merged network as <c>{folder}/diffusion_pytorch_model.safetensors</c> (float32).</summary>
    protected void SaveMergedWeights(string folder, IReadOnlyDictionary<string, string>? metadata)
    {
        var state = MergedState();
        try
        {
            var meta = new Dictionary<string, string>(metadata ?? new Dictionary<string, string>(), StringComparer.Ordinal) { ["format"] = "pt" };
            SafeTensorsFile.Save(Path.Combine(folder, DiffusionWeights.DiffusersWeightsName + ".safetensors"), state, meta);
        }
        finally
        {
            foreach (var t in state.Values) t.Dispose();
        }
    }

    /// <summary>Builds a model folder in <c>target.tmp</c> with <paramref name="write"/> and renames it to
    /// <paramref name="directory"/>, so an interrupted save leaves no half-written model.</summary>
    protected static string WriteFolderAtomically(string directory, Action<string> write)
    {
        var target = Path.GetFullPath(directory);
        var tmp = target + ".tmp";
        if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
        Directory.CreateDirectory(tmp);
        write(tmp);
        if (Directory.Exists(target)) Directory.Delete(target, recursive: true);
        Directory.Move(tmp, target);
        return target;
    }

    /// <summary>Copies the masters into the bf16 working copy (before every pass).</summary>
    protected void SyncWorking()
    {
        if (_working is null) return;
        using var _ = no_grad();
        foreach (var (_, master, working) in _trainable) working!.copy_(master);
    }

    /// <summary>Adds the working copy's gradients to the masters' gradients.</summary>
    protected void TransferGradients()
    {
        if (_working is null) return;
        using var _ = no_grad();
        foreach (var (_, master, working) in _trainable)
        {
            if (working!.grad is not { } g) continue;
            using (var wide = g.to(master.dtype))
            {
                if (master.grad is { } mg) mg.add_(wide);
                else master.grad = wide.clone();
            }
            g.Dispose();
            working.grad = null;
        }
    }

    public virtual void Dispose()
    {
        _working?.Dispose();
        _master.Dispose();
        GC.SuppressFinalize(this);
    }
}
