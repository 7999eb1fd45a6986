using BiasBench.Abstractions;
using BiasBench.Imaging;
using BiasBench.Tokenizers;
using BiasBench.Torch.Weights;
using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;

namespace BiasBench.Plugins.Onnx;

/// <summary>
/// Any exported reward network run by ONNX Runtime: images are decoded and preprocessed like the original
/// (BiasBench.Imaging), prompts tokenized with CLIP BPE, and the configured output reduced to one score per pair.
/// </summary>
public sealed class OnnxRewardModel : IRewardModel
{
    private readonly OnnxRewardOptions _options;
    private readonly InferenceSession _session;
    private readonly ClipBpeTokenizer? _tokenizer;
    private readonly ClipTransformKind _transform;
    private readonly string _output;
    private readonly ILogger _logger;
    private readonly object _runLock = new();

    /// <param name="device">The run's device (<c>cpu</c>, <c>cuda</c>, <c>cuda:N</c>); picks the execution provider with
    /// <see cref="OnnxRewardOptions.ExecutionProvider"/>.</param>
    public OnnxRewardModel(OnnxRewardOptions options, ILogger? logger = null, string device = "cpu")
    {
        _options = options;
        _logger = logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        var path = options.ModelPath!;
        if (!File.Exists(path)) throw new FileNotFoundException($"ONNX model '{path}' does not exist.", path);
        var sessionOptions = new SessionOptions();
        if (options.IntraOpThreads > 0) sessionOptions.IntraOpNumThreads = options.IntraOpThreads;
        ExecutionProvider = ChooseExecutionProvider(sessionOptions, options.ExecutionProvider, device, path, _logger);
        try { _session = new InferenceSession(path, sessionOptions); }
        catch (OnnxRuntimeException e) { throw new InvalidDataException($"ONNX model '{path}' cannot be loaded: {e.Message}", e); }

        var inputs = _session.InputMetadata;
        void RequireInput(string? name, string option)
        {
            if (name is not null && !inputs.ContainsKey(name))
                throw new InvalidDataException($"ONNX model '{path}' has no input '{name}' ({option}); its inputs: {string.Join(", ", inputs.Keys)}.");
        }
        RequireInput(options.ImageInput, "image_input");
        var textInput = options.TextInput is { Length: > 0 } t && inputs.ContainsKey(t) ? t : null;
        if (options.TextInput is { Length: > 0 } && textInput is null && inputs.Count > 1)
            RequireInput(options.TextInput, "text_input");
        TextInput = textInput;
        MaskInput = textInput is not null && options.AttentionMaskInput is { Length: > 0 } m && inputs.ContainsKey(m) ? m : null;
        var unused = inputs.Keys.Where(k => k != options.ImageInput && k != TextInput && k != MaskInput).ToList();
        if (unused.Count > 0)
            throw new InvalidDataException($"ONNX model '{path}' needs input(s) {string.Join(", ", unused)} that the options do not map (image_input, text_input, attention_mask_input).");

        _output = options.Output ?? _session.OutputMetadata.Keys.First();
        if (!_session.OutputMetadata.ContainsKey(_output))
            throw new InvalidDataException($"ONNX model '{path}' has no output '{_output}'; its outputs: {string.Join(", ", _session.OutputMetadata.Keys)}.");

        var dims = inputs[options.ImageInput].Dimensions;
        ImageSize = options.ImageSize ?? (dims.Length == 4 && dims[3] > 0 ? dims[3] : 224);
        _transform = options.Transform switch
        {
            "tensor-center-crop" => ClipTransformKind.TensorCenterCrop,
            "hps-pad" => ClipTransformKind.HpsPad,
            _ => ClipTransformKind.PilCenterCrop,
        };
        if (TextInput is not null)
        {
            var cleaning = options.TextCleaning == "open-clip" ? ClipTextCleaning.OpenClip : ClipTextCleaning.HuggingFace;
            _tokenizer = options.VocabJson is not null && options.MergesTxt is not null
                ? ClipBpeTokenizer.FromHuggingFace(options.VocabJson, options.MergesTxt, cleaning)
                : options.BpeVocabPath is not null
                    ? ClipBpeTokenizer.FromOpenClipVocabulary(options.BpeVocabPath, cleaning)
                    : throw new InvalidDataException($"ONNX model '{path}' takes prompts ('{TextInput}'): set bpe_vocab_path, or vocab_json and merges_txt.");
        }

        var name = options.ScoreName ?? Path.GetFileNameWithoutExtension(path);
        Info = new RewardModelInfo(name, "onnx",
            new ScoreSemantics(options.Description, options.ComparableAcrossPrompts ?? TextInput is null),
            $"{options.Transform}-{ImageSize}" + (TextInput is null ? "" : $"; CLIP BPE ({options.TextCleaning}), {options.ContextLength} tokens, pad {options.PadId}") +
            $"; output {_output} ({options.Reduce}); {ExecutionProvider}")
        { WeightsChecksum = WeightFileChecksum.Sha256(path) };
    }

    /// <summary>The execution provider the session runs on: <c>CPUExecutionProvider</c> or <c>CUDAExecutionProvider:N</c>.</summary>
    public string ExecutionProvider { get; }

    private const string CudaProvider = "CUDAExecutionProvider";

    /// <summary>Adds the CUDA provider when asked for (or, with auto, when the run is on a GPU) and it loads here.</summary>
    private static string ChooseExecutionProvider(SessionOptions sessionOptions, string requested, string device, string path, ILogger logger)
    {
        var onGpu = device.StartsWith("cuda", StringComparison.OrdinalIgnoreCase);
        if (requested == "cpu" || (requested == "auto" && !onGpu)) return "CPUExecutionProvider";
        var deviceId = device.Split(':') is [_, var n] && int.TryParse(n, out var id) ? id : 0;
        string? failure = null;
        if (!OrtEnv.Instance().GetAvailableProviders().Contains(CudaProvider))
            failure = "this ONNX Runtime build has no CUDA provider (build with -p:BiasBenchOnnxGpu=true for the CUDA build)";
        else
        {
            try { sessionOptions.AppendExecutionProvider_CUDA(deviceId); }
            catch (OnnxRuntimeException e)
            {
                // Typically the CUDA runtime libraries the CUDA build links against (CUDA 13, cuDNN 9) are not on the library path.
                failure = $"ONNX Runtime's CUDA provider did not load ({e.Message.Trim()})";
            }
        }
        if (failure is null) return $"{CudaProvider}:{deviceId}";
        if (requested == "cuda")
            throw new InvalidOperationException($"ONNX model '{path}': execution_provider cuda is not available: {failure}.");
        logger.LogWarning("ONNX model {Path} runs on the CPU although the run's device is {Device}: {Reason}. Set execution_provider: cpu to silence this.",
            path, device, failure);
        return "CPUExecutionProvider";
    }

    public RewardModelInfo Info { get; }
    public int PreferredBatchSize => _options.BatchSize;
    public int ImageSize { get; }
    public string? TextInput { get; }
    public string? MaskInput { get; }

    /// <summary>Runs the network on preprocessed inputs and returns every output by name (row-major data + shape).</summary>
    public IReadOnlyDictionary<string, (float[] Data, long[] Shape)> Run(float[] pixels, int images, long[]? ids, long[]? mask, int texts)
    {
        var size = ImageSize;
        using var values = new DisposableList();
        var names = new List<string> { _options.ImageInput };
        values.Add(OrtValue.CreateTensorValueFromMemory(pixels, [images, 3, size, size]));
        if (TextInput is not null)
        {
            names.Add(TextInput);
            values.Add(OrtValue.CreateTensorValueFromMemory(ids!, [texts, _options.ContextLength]));
            if (MaskInput is not null)
            {
                names.Add(MaskInput);
                values.Add(OrtValue.CreateTensorValueFromMemory(mask!, [texts, _options.ContextLength]));
            }
        }
        var outputNames = _session.OutputMetadata.Keys.ToList();
        lock (_runLock)
        {
            using var runOptions = new RunOptions();
            using var outputs = _session.Run(runOptions, names, values, outputNames);
            var result = new Dictionary<string, (float[], long[])>(StringComparer.Ordinal);
            for (var i = 0; i < outputNames.Count; i++)
            {
                var shape = outputs[i].GetTensorTypeAndShape().Shape;
                result[outputNames[i]] = (outputs[i].GetTensorDataAsSpan<float>().ToArray(), shape);
            }
            return result;
        }
    }

    public async Task<IReadOnlyList<ItemResult<double>>> ScoreAsync(IReadOnlyList<RewardRequest> batch, CancellationToken cancellationToken)
    {
        var results = new ItemResult<double>[batch.Count];
        var pixels = new float[batch.Count][];
        var plane = 3 * ImageSize * ImageSize;
        await Parallel.ForAsync(0, batch.Count, cancellationToken, async (i, ct) =>
        {
            try
            {
                var bytes = await batch[i].Image.ReadBytesAsync(ct);
                var image = ImageDecoder.Decode(bytes.Span, batch[i].Image.ToString());
                pixels[i] = ClipPreprocessing.Apply(image, _transform, ImageSize, _options.Mean, _options.Std).Data;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                results[i] = ItemResult<double>.Failure($"cannot read image {batch[i].Image}: {e.Message}");
            }
        });

        var ok = Enumerable.Range(0, batch.Count).Where(i => pixels[i] is not null).ToList();
        if (ok.Count == 0) return results;
        var flat = new float[ok.Count * plane];
        for (var j = 0; j < ok.Count; j++) pixels[ok[j]].CopyTo(flat, j * plane);
        long[]? ids = null, mask = null; var truncated = new bool[ok.Count];
        if (_tokenizer is not null)
        {
            var context = _options.ContextLength;
            ids = new long[ok.Count * context]; mask = new long[ok.Count * context];
            for (var j = 0; j < ok.Count; j++)
            {
                var tokens = _tokenizer.Encode(batch[ok[j]].Prompt ?? "", context, _options.PadId);
                tokens.InputIds.CopyTo(ids, j * context); tokens.AttentionMask.CopyTo(mask, j * context);
                truncated[j] = tokens.Truncated;
            }
        }
        var outputs = Run(flat, ok.Count, ids, mask, ok.Count);
        var (data, shape) = outputs[_output];
        double Score(int j) => _options.Reduce switch
        {
            "diagonal" when shape.Length == 2 && shape[0] == ok.Count && shape[1] == ok.Count => data[j * ok.Count + j],
            "per-item" when shape.Length >= 1 && shape[0] == ok.Count && data.Length == ok.Count => data[j],
            _ => throw new InvalidDataException(
                $"Output '{_output}' of '{_options.ModelPath}' has shape [{string.Join(",", shape)}] for {ok.Count} pair(s), which reduce '{_options.Reduce}' cannot use " +
                "(diagonal needs [N,N], per-item needs [N] or [N,1])."),
        };
        for (var j = 0; j < ok.Count; j++)
        {
            var s = Score(j);
            results[ok[j]] = double.IsFinite(s)
                ? ItemResult<double>.Success(s, truncated[j] ? $"prompt longer than {_options.ContextLength} CLIP tokens; scored truncated (end token kept)" : null)
                : ItemResult<double>.Failure($"image {batch[ok[j]].Image}: non-finite score {s}.");
        }
        return results;
    }

    public void Dispose() => _session.Dispose();

    private sealed class DisposableList : List<OrtValue>, IDisposable
    {
        public void Dispose() { foreach (var v in this) v.Dispose(); }
    }
}
