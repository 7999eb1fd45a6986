using BiasBench.Abstractions;
using BiasBench.Imaging;
using BiasBench.Networks.Vision;
using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Plugins.ResNetJudge;

/// <summary>
/// Batched evaluation of a binary ResNet classifier: decode and preprocess on all cores (Resize((size, size)) PIL
/// bilinear, ToTensor, ImageNet normalisation), one forward pass per batch in eval mode, sigmoid of the logit.
/// Shared by the judge and by the trainer's validation and test passes, so both see identical inputs.
/// </summary>
public sealed class ClassifierScorer(ResNetClassifier model, Device device, int imageSize)
{
    public ResNetClassifier Model => model;
    public Device Device => device;
    public int ImageSize => imageSize;

    /// <summary>Probabilities for decoded images (one logit per image).</summary>
    public float[] Probabilities(IReadOnlyList<RgbImage> images)
    {
        if (images.Count == 0) return [];
        var chw = new ChwImage[images.Count];
        Parallel.For(0, images.Count, i => chw[i] = ClassifierPreprocessing.Evaluate(images[i], imageSize));
        return Probabilities(chw);
    }

    public float[] Probabilities(IReadOnlyList<ChwImage> preprocessed)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        model.eval();
        var batch = ChwImage.Batch(preprocessed).to(device);
        var logits = model.forward(batch);
        if (logits.shape[^1] != 1)
            throw new InvalidOperationException($"The classifier returns {logits.shape[^1]} outputs per image; a binary judge needs exactly one logit.");
        return logits.sigmoid().reshape(-1).to(ScalarType.Float32, CPU).data<float>().ToArray();
    }

    /// <summary>Probabilities for image files in batches (a file that cannot be decoded throws, naming it).</summary>
    public float[] ProbabilitiesOfFiles(IReadOnlyList<string> paths, int batchSize, CancellationToken ct, Action<int>? done = null)
    {
        var result = new float[paths.Count];
        for (var start = 0; start < paths.Count; start += batchSize)
        {
            ct.ThrowIfCancellationRequested();
            var n = Math.Min(batchSize, paths.Count - start);
            var chw = new ChwImage[n];
            Parallel.For(0, n, i => chw[i] = ClassifierPreprocessing.Evaluate(ImageDecoder.DecodeFile(paths[start + i]), imageSize));
            Probabilities(chw).CopyTo(result, start);
            done?.Invoke(start + n);
        }
        return result;
    }
}
