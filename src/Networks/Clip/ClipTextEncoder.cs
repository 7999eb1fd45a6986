using BiasBench.Torch.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Networks.Clip;

/// <summary>
/// A transformers <c>CLIPTextModel</c> on its own (Stable Diffusion's <c>text_encoder/</c>): the CLIP text tower
/// without image tower or projection, used for its last hidden state after the final layer norm. Loads
/// <c>config.json</c> + <c>model.safetensors</c> (or a variant such as <c>model.fp16.safetensors</c>, or
/// <c>pytorch_model.bin</c>); keys with or without transformers' <c>text_model.</c> prefix.
/// </summary>
public sealed class ClipTextEncoder : nn.Module
{
    private readonly ClipTextTransformer text;

    public ClipTextEncoder(ClipTextConfig config) : base(nameof(ClipTextEncoder))
    {
        Config = config;
        text = new ClipTextTransformer(config, projectionDim: 0);
        RegisterComponents();
    }

    public ClipTextConfig Config { get; }
    public Device Device { get; private set; } = CPU;
    public ScalarType DType { get; private set; } = ScalarType.Float32;
    public LoadReport? LoadReport { get; private set; }

    /// <summary>Builds the encoder from <paramref name="configPath"/> and fills it from <paramref name="weightsPath"/>
    /// (float32, CPU); a checkpoint of another model throws <see cref="StateDictMismatchException"/> naming every
    /// missing, unexpected or mis-shaped tensor.</summary>
    public static ClipTextEncoder Load(string configPath, string weightsPath)
    {
        var config = ClipConfig.FromHuggingFaceTextModelJson(configPath);
        if (!File.Exists(weightsPath)) throw new FileNotFoundException($"Text encoder weights '{weightsPath}' do not exist.", weightsPath);
        var model = new ClipTextEncoder(config);
        try
        {
            var sharded = ShardedCheckpointIndex.IsIndex(weightsPath);
            if (sharded || weightsPath.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
            {
                // A sharded checkpoint's index (model.safetensors.index.json) lists the shards; they load as one source.
                using var file = new SafeTensorsClipWeightSource(sharded ? ShardedCheckpointIndex.ShardFiles(weightsPath) : [weightsPath]);
                model.LoadReport = ClipWeightLoader.Load(model, ClipLayout.HuggingFace, ClipWeightMap.HuggingFaceTextModel(config), new PrefixedSource(file));
            }
            else
            {
                var tensors = TorchCheckpoint.LoadStateDict(weightsPath);
                try
                {
                    var source = new InMemoryClipWeightSource(tensors, weightsPath);
                    model.LoadReport = ClipWeightLoader.Load(model, ClipLayout.HuggingFace, ClipWeightMap.HuggingFaceTextModel(config), new PrefixedSource(source));
                }
                finally
                {
                    foreach (var t in tensors.Values) t.Dispose();
                }
            }
            model.eval();
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Moves the weights to <paramref name="device"/> and casts them to <paramref name="dtype"/>.</summary>
    public ClipTextEncoder To(Device device, ScalarType dtype)
    {
        if (dtype is not (ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Float64))
            throw new ArgumentException($"Text encoder weights must be a floating-point type, not {dtype}.", nameof(dtype));
        this.to(dtype);
        this.to(device);
        Device = device;
        DType = dtype;
        return this;
    }

    /// <summary>[batch, tokens] ids -> [batch, tokens, width] last hidden state (after the final layer norm), in the
    /// weights' dtype. Stable Diffusion passes no attention mask (padding is covered by the causal mask).</summary>
    public Tensor HiddenStates(Tensor inputIds, Tensor? attentionMask = null) => text.HiddenStates(inputIds, attentionMask);

    /// <summary>transformers 5 saves <c>CLIPTextModel</c> without the <c>text_model.</c> prefix; older checkpoints
    /// (e.g. stable-diffusion-v1-5) have it. Both are presented with it.</summary>
    private sealed class PrefixedSource(IClipWeightSource inner) : IClipWeightSource
    {
        private const string Prefix = "text_model.";
        private readonly bool _addPrefix = !inner.Names.Any(n => n.StartsWith(Prefix, StringComparison.Ordinal));

        public string Description => inner.Description;
        public IReadOnlyCollection<string> Names => _addPrefix ? inner.Names.Select(n => Prefix + n).ToArray() : inner.Names;
        public long[] ShapeOf(string name) => inner.ShapeOf(Unmap(name));
        public Tensor LoadFloat32(string name) => inner.LoadFloat32(Unmap(name));
        private string Unmap(string name) => _addPrefix && name.StartsWith(Prefix, StringComparison.Ordinal) ? name[Prefix.Length..] : name;
    }
}
