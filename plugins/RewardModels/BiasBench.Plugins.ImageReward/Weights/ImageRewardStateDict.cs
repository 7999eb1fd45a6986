using BiasBench.Torch.Weights;
using static TorchSharp.torch;

namespace BiasBench.Plugins.ImageReward.Weights;

/// <summary>
/// A checkpoint's tensors by state-dict name, read with BiasBench's shared weights I/O: safetensors, or a PyTorch
/// <c>torch.save</c> file (the release's <c>ImageReward.pt</c>) through the restricted unpickler, which executes nothing.
/// The tensors stay on the CPU in the file's dtype until <see cref="ImageRewardWeights.LoadInto"/> copies them.
/// </summary>
public sealed class ImageRewardStateDict : IDisposable
{
    private readonly Dictionary<string, Tensor> _tensors;

    private ImageRewardStateDict(string path, Dictionary<string, Tensor> tensors)
    {
        Path = path;
        _tensors = tensors;
        Shapes = tensors.ToDictionary(kv => kv.Key, kv => kv.Value.shape, StringComparer.Ordinal);
    }

    /// <summary>The file the tensors come from (named in every error).</summary>
    public string Path { get; }

    public IReadOnlyDictionary<string, Tensor> Tensors => _tensors;

    public IReadOnlyDictionary<string, long[]> Shapes { get; }

    /// <summary>Reads the whole state dict; the format is chosen by extension.</summary>
    public static ImageRewardStateDict Open(string path)
    {
        var extension = System.IO.Path.GetExtension(path).ToLowerInvariant();
        switch (extension)
        {
            case ".safetensors":
                using (var file = SafeTensorsFile.Open(path)) return new ImageRewardStateDict(path, file.LoadAll());
            case ".pt" or ".pth" or ".bin" or ".ckpt":
                return new ImageRewardStateDict(path, TorchCheckpoint.LoadStateDict(path));
            default:
                throw new NotSupportedException($"{path}: unknown weights format '{extension}' (use .safetensors or a PyTorch .pt state dict).");
        }
    }

    public void Dispose()
    {
        foreach (var t in _tensors.Values) t.Dispose();
        _tensors.Clear();
    }
}
