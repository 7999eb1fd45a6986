using BiasBench.Torch.Weights;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BiasBench.Plugins.ClipRewards;

/// <summary>
/// The LAION improved aesthetic predictor head (christophschuhmann/improved-aesthetic-predictor, <c>MLP</c>):
/// Linear(d,1024), Dropout, Linear(1024,128), Dropout, Linear(128,64), Dropout, Linear(64,16), Linear(16,1), with no
/// non-linearity (the ReLUs are commented out upstream), applied to the L2-normalised CLIP image embedding.
/// State dict keys are <c>layers.{0,2,4,6,7}.{weight,bias}</c>; the widths are read from the checkpoint.
/// </summary>
public sealed class AestheticHead : nn.Module<Tensor, Tensor>
{
    /// <summary>Positions of the Linear layers inside upstream's nn.Sequential (the others are Dropout).</summary>
    public static readonly int[] LinearPositions = [0, 2, 4, 6, 7];

    private static readonly double[] UpstreamDropout = [0.2, 0.2, 0.1];

    private readonly Sequential layers;

    /// <param name="widths">in, hidden1..hidden4, out: six widths for the five Linear layers (upstream: 768, 1024, 128, 64, 16, 1).</param>
    public AestheticHead(IReadOnlyList<long> widths) : base(nameof(AestheticHead))
    {
        if (widths.Count != LinearPositions.Length + 1 || widths.Any(w => w <= 0))
            throw new ArgumentException($"The aesthetic head needs {LinearPositions.Length + 1} positive widths, got [{string.Join(", ", widths)}].", nameof(widths));
        Widths = widths.ToArray();
        var modules = new List<(string, nn.Module<Tensor, Tensor>)>();
        for (var i = 0; i < LinearPositions.Length; i++)
        {
            modules.Add((LinearPositions[i].ToString(System.Globalization.CultureInfo.InvariantCulture), new BiasBench.Torch.Layers.Linear(widths[i], widths[i + 1], initialize: true)));
            if (i < UpstreamDropout.Length)
                modules.Add(((LinearPositions[i] + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), nn.Dropout(UpstreamDropout[i])));
        }
        layers = nn.Sequential(modules);
        RegisterComponents();
    }

    public IReadOnlyList<long> Widths { get; }
    public long InputWidth => Widths[0];

    public override Tensor forward(Tensor embeddings) => layers.forward(embeddings);

    /// <summary>Expected state dict keys, in order.</summary>
    public static IEnumerable<string> ExpectedKeys() =>
        LinearPositions.SelectMany(p => new[] { $"layers.{p}.weight", $"layers.{p}.bias" });

    /// <summary>
    /// Reads the head from <c>sac+logos+ava1-l14-linearMSE.pth</c> (PyTorch, via the restricted unpickler) or a
    /// .safetensors file with the same keys. Throws naming the file and every missing, unexpected or mis-shaped key.
    /// </summary>
    public static AestheticHead Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Aesthetic head weights '{path}' do not exist.", path);
        Dictionary<string, Tensor> tensors;
        if (path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
        {
            using var file = SafeTensorsFile.Open(path);
            tensors = file.LoadAll();
        }
        else
        {
            tensors = TorchCheckpoint.LoadStateDict(path);
        }
        try
        {
            var widths = InferWidths(tensors, path);
            var head = new AestheticHead(widths);
            try
            {
                StateDictLoader.Load(head, tensors, strict: true, source: $"aesthetic head {path}");
                head.eval();
                return head;
            }
            catch
            {
                head.Dispose();
                throw;
            }
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    private static long[] InferWidths(IReadOnlyDictionary<string, Tensor> tensors, string path)
    {
        var expected = ExpectedKeys().ToList();
        var missing = expected.Where(k => !tensors.ContainsKey(k)).ToList();
        var unexpected = tensors.Keys.Where(k => !expected.Contains(k)).Order(StringComparer.Ordinal).ToList();
        if (missing.Count > 0 || unexpected.Count > 0)
            throw new InvalidDataException(
                $"{path} is not a LAION aesthetic predictor head (Linear layers at layers.0/2/4/6/7): " +
                $"missing [{string.Join(", ", missing)}], unexpected [{string.Join(", ", unexpected)}].");
        var widths = new long[LinearPositions.Length + 1];
        for (var i = 0; i < LinearPositions.Length; i++)
        {
            var key = $"layers.{LinearPositions[i]}.weight";
            var shape = tensors[key].shape;
            if (shape.Length != 2)
                throw new InvalidDataException($"{path}: '{key}' has shape [{string.Join(", ", shape)}]; a Linear weight is 2-D.");
            if (i == 0) widths[0] = shape[1];
            else if (shape[1] != widths[i])
                throw new InvalidDataException($"{path}: '{key}' takes {shape[1]} inputs but the previous layer gives {widths[i]}.");
            widths[i + 1] = shape[0];
        }
        if (widths[^1] != 1)
            throw new InvalidDataException($"{path}: the last layer gives {widths[^1]} outputs; the aesthetic head predicts one score.");
        return widths;
    }
}
