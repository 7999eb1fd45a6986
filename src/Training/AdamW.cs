using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BiasBench.Training;

/// <summary>
/// AdamW (Loshchilov and Hutter) with PyTorch's update order (torch.optim.AdamW, single-tensor path, amsgrad off):
/// p *= 1 - lr * wd; m = lerp(m, g, 1 - b1); v = b2 v + (1 - b2) g^2; p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
/// Written here rather than using TorchSharp's optimiser so that its whole state (step and both moments per parameter,
/// by parameter name) goes into the training checkpoint and a resumed run continues bit for bit. Parameters stay in
/// float32 (the master weights); bf16 compute casts them per forward pass (see the networks' ComputePrecision).
/// </summary>
public sealed class AdamW : IDisposable
{
    private readonly List<(string Name, Parameter Param, bool Decay)> _params;
    private readonly Dictionary<string, (Tensor ExpAvg, Tensor ExpAvgSq)> _state = new(StringComparer.Ordinal);

    public AdamW(IEnumerable<(string Name, Parameter Param)> parameters, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8,
        double weightDecay = 0.01, Func<string, Parameter, bool>? decays = null)
    {
        _params = parameters.Where(p => p.Param.requires_grad)
            .Select(p => (p.Name, p.Param, decays?.Invoke(p.Name, p.Param) ?? true)).ToList();
        if (_params.Count == 0) throw new ArgumentException("AdamW got no trainable parameters.", nameof(parameters));
        Beta1 = beta1; Beta2 = beta2; Eps = eps; WeightDecay = weightDecay;
    }

    public double Beta1 { get; }
    public double Beta2 { get; }
    public double Eps { get; }
    public double WeightDecay { get; }

    /// <summary>Completed optimiser steps (PyTorch's per-parameter <c>step</c>; all parameters step together here).</summary>
    public long Step { get; private set; }

    public IReadOnlyList<string> ParameterNames => _params.Select(p => p.Name).ToList();

    public void ZeroGrad()
    {
        foreach (var (_, p, _) in _params)
            if (p.grad is { } g) { g.Dispose(); p.grad = null; }
    }

    /// <summary>One update with learning rate <paramref name="lr"/>; parameters without a gradient are skipped.</summary>
    public void Update(double lr)
    {
        Step++;
        var bias1 = 1 - Math.Pow(Beta1, Step);
        var bias2Sqrt = Math.Sqrt(1 - Math.Pow(Beta2, Step));
        var stepSize = lr / bias1;
        using var _ = no_grad();
        foreach (var (name, p, decay) in _params)
        {
            var g = p.grad;
            if (g is null) continue;
            using var scope = NewDisposeScope();
            if (!_state.TryGetValue(name, out var s))
            {
                s = (zeros_like(p).DetachFromDisposeScope(), zeros_like(p).DetachFromDisposeScope());
                _state[name] = s;
            }
            var grad = g.dtype == p.dtype ? g : g.to(p.dtype);
            if (decay && WeightDecay != 0) p.mul_(1 - lr * WeightDecay);
            s.ExpAvg.lerp_(grad, 1 - Beta1);
            s.ExpAvgSq.mul_(Beta2).addcmul_(grad, grad, 1 - Beta2);
            var denom = s.ExpAvgSq.sqrt().div_(bias2Sqrt).add_(Eps);
            p.addcdiv_(s.ExpAvg, denom, -stepSize);
        }
    }

    /// <summary>The state as named tensors (<c>{param}.exp_avg</c>, <c>{param}.exp_avg_sq</c>) plus the step count.</summary>
    public Dictionary<string, Tensor> StateTensors()
    {
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, (m, v)) in _state)
        {
            result[$"{name}.exp_avg"] = m;
            result[$"{name}.exp_avg_sq"] = v;
        }
        return result;
    }

    /// <summary>Restores the state written by <see cref="StateTensors"/> (copies; the caller keeps its tensors).</summary>
    public void LoadState(long step, IReadOnlyDictionary<string, Tensor> tensors, string source)
    {
        ClearState();
        Step = step;
        var known = _params.ToDictionary(p => p.Name, p => p.Param, StringComparer.Ordinal);
        foreach (var name in tensors.Keys.Select(k => k.EndsWith(".exp_avg_sq", StringComparison.Ordinal) ? k[..^".exp_avg_sq".Length] : k.EndsWith(".exp_avg", StringComparison.Ordinal) ? k[..^".exp_avg".Length] : null).Distinct())
        {
            if (name is null || !known.TryGetValue(name, out var p))
                throw new InvalidDataException($"{source}: optimiser state for an unknown parameter '{name}'.");
            if (!tensors.TryGetValue($"{name}.exp_avg", out var m) || !tensors.TryGetValue($"{name}.exp_avg_sq", out var v))
                throw new InvalidDataException($"{source}: optimiser state of '{name}' lacks exp_avg or exp_avg_sq.");
            if (!m.shape.SequenceEqual(p.shape) || !v.shape.SequenceEqual(p.shape))
                throw new InvalidDataException($"{source}: optimiser state of '{name}' has shape [{string.Join(", ", m.shape)}], parameter [{string.Join(", ", p.shape)}].");
            _state[name] = (m.to(p.dtype, p.device).clone(), v.to(p.dtype, p.device).clone());
        }
    }

    private void ClearState()
    {
        foreach (var (m, v) in _state.Values) { m.Dispose(); v.Dispose(); }
        _state.Clear();
    }

    public void Dispose() => ClearState();
}
