using System.Globalization;
using BiasBench.Abstractions;
using BiasBench.Imaging;
using BiasBench.Networks.Vision;
using BiasBench.Torch.Backend;
using BiasBench.Torch.Weights;
using Microsoft.Extensions.Logging;
using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Plugins.ResNetJudge;

/// <summary>
/// The attractiveness classifier as a judge: P(attractive) per image and the label at the threshold. The weights'
/// SHA-256 goes into <see cref="JudgeInfo.WeightsChecksum"/>, so cached judgements are keyed by image bytes and weights.
/// </summary>
public sealed class ResNetJudge : IJudge
{
    public const string ModelName = "resnet-attractiveness";
    public const string ThresholdMetadataKey = "biasbench.threshold";
    public const string ImageSizeMetadataKey = "biasbench.image_size";
    public const string LabelMetadataKey = "biasbench.label";

    private readonly ClassifierScorer _scorer;
    private readonly ResNetJudgeOptions _options;

    public ResNetJudge(ResNetJudgeOptions options, string device, ILogger logger)
    {
        _options = options;
        var path = options.CheckpointPath ?? throw new ArgumentException("checkpoint_path is required.");
        TorchBackend.EnsureInitialized();
        var dev = TorchBackend.ResolveDevice(device);
        var loaded = ResNetCheckpoint.Load(path, dev);
        var computeDType = options.Dtype switch
        {
            "float32" => (ScalarType?)null,
            "bfloat16" => ScalarType.BFloat16,
            _ => dev.type == DeviceType.CUDA ? ScalarType.BFloat16 : null,
        };
        if (computeDType is { } d)
        {
            // Inference: the whole network in bf16 (batch norm included), inputs cast on entry.
            loaded.Model.to(d);
            loaded.Model.Precision.DType = d;
        }
        Threshold = options.Threshold
                    ?? (loaded.Metadata.TryGetValue(ThresholdMetadataKey, out var t) ? double.Parse(t, CultureInfo.InvariantCulture) : 0.5);
        var size = options.ImageSize
                   ?? (loaded.Metadata.TryGetValue(ImageSizeMetadataKey, out var s) ? int.Parse(s, CultureInfo.InvariantCulture) : 256);
        _scorer = new ClassifierScorer(loaded.Model, dev, size);
        var checksum = WeightFileChecksum.Sha256(path);
        Info = new JudgeInfo(ModelName, ResNetJudgePlugin.Version, [options.Label, NegativeLabel],
            $"{loaded.Model.Config.ArchitectureName} classifier ({loaded.Layout} layout) from {Path.GetFileName(path)}: P({options.Label}) = sigmoid(logit), " +
            $"label at threshold {Threshold.ToString("0.####", CultureInfo.InvariantCulture)}; input Resize(({size}, {size})) bilinear + ImageNet normalisation; " +
            $"compute {(computeDType is null ? "float32" : "bf16")} on {dev}.")
        {
            WeightsChecksum = checksum,
        };
        logger.LogInformation("{Judge}: {Architecture} from {Path} (sha256 {Checksum}), threshold {Threshold}, {Size}px",
            ModelName, loaded.Model.Config.ArchitectureName, path, checksum[..12], Threshold, size);
    }

    public JudgeInfo Info { get; }
    public double Threshold { get; }
    public string NegativeLabel => "not_" + _options.Label;
    public int PreferredBatchSize => _options.BatchSize;

    public async Task<IReadOnlyList<ItemResult<Judgement>>> JudgeAsync(IReadOnlyList<ImageRef> batch, CancellationToken cancellationToken)
    {
        var results = new ItemResult<Judgement>[batch.Count];
        var decoded = new RgbImage?[batch.Count];
        await Parallel.ForAsync(0, batch.Count, cancellationToken, async (i, ct) =>
        {
            try { decoded[i] = await ImageDecoder.DecodeAsync(batch[i], ct: ct); }
            catch (Exception e) when (e is not OperationCanceledException) { results[i] = ItemResult<Judgement>.Failure(e.Message); }
        });
        var ok = Enumerable.Range(0, batch.Count).Where(i => decoded[i] is not null).ToList();
        if (ok.Count > 0)
        {
            var probabilities = _scorer.Probabilities(ok.Select(i => decoded[i]!).ToList());
            for (var k = 0; k < ok.Count; k++)
            {
                double p = probabilities[k];
                results[ok[k]] = ItemResult<Judgement>.Success(new Judgement(p >= Threshold ? _options.Label : NegativeLabel,
                    new Dictionary<string, double> { [_options.Label] = p, [NegativeLabel] = 1 - p }));
            }
        }
        return results;
    }

    public void Dispose() => _scorer.Model.Dispose();
}
