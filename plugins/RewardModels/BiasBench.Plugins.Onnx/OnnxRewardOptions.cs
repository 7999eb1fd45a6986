using System.ComponentModel.DataAnnotations;

namespace BiasBench.Plugins.Onnx;

/// <summary>How an ONNX model's inputs and outputs map onto images, prompts and a score.</summary>
public sealed class OnnxRewardOptions
{
    /// <summary>The exported model (.onnx).</summary>
    [Required] public string? ModelPath { get; set; }

    /// <summary>Name recorded for the scores (the score column); default the model file name.</summary>
    public string? ScoreName { get; set; }

    /// <summary>What the score means, for the report and the manifest.</summary>
    public string Description { get; set; } = "score of an exported ONNX reward model";

    /// <summary>Whether scores of different prompts can be compared; default: only when the model takes no prompt.</summary>
    public bool? ComparableAcrossPrompts { get; set; }

    /// <summary>Image input: float32 [N,3,S,S].</summary>
    [Required] public string ImageInput { get; set; } = "pixel_values";

    /// <summary>pil-center-crop (CLIP, PickScore), tensor-center-crop (open_clip) or hps-pad (HPS v2).</summary>
    [RegularExpression("^(pil-center-crop|tensor-center-crop|hps-pad)$", ErrorMessage = "transform must be pil-center-crop, tensor-center-crop or hps-pad.")]
    public string Transform { get; set; } = "pil-center-crop";

    /// <summary>Side of the square image input; default read from the model when its shape is fixed, else 224.</summary>
    [Range(8, 4096)] public int? ImageSize { get; set; }

    /// <summary>Normalisation mean and std per channel (default CLIP's).</summary>
    public List<float>? Mean { get; set; }
    public List<float>? Std { get; set; }

    /// <summary>Token-id input (int64 [N,context]); leave empty for an image-only model.</summary>
    public string? TextInput { get; set; } = "input_ids";

    /// <summary>Attention-mask input (int64 [N,context]), when the model has one.</summary>
    public string? AttentionMaskInput { get; set; } = "attention_mask";

    /// <summary>open_clip's bpe_simple_vocab_16e6.txt.gz, or use <see cref="VocabJson"/> + <see cref="MergesTxt"/>.</summary>
    public string? BpeVocabPath { get; set; }
    public string? VocabJson { get; set; }
    public string? MergesTxt { get; set; }

    /// <summary>huggingface (transformers' CLIPTokenizer) or open-clip text cleaning.</summary>
    [RegularExpression("^(huggingface|open-clip)$", ErrorMessage = "text_cleaning must be huggingface or open-clip.")]
    public string TextCleaning { get; set; } = "huggingface";

    /// <summary>Padding id: 49407 for Hugging Face CLIP exports, 0 for open_clip.</summary>
    public long PadId { get; set; } = 49407;

    [Range(2, 4096)] public int ContextLength { get; set; } = 77;

    /// <summary>Output holding the score; default the model's first output.</summary>
    public string? Output { get; set; }

    /// <summary>How the output becomes one score per pair: diagonal (an [images, texts] matrix such as
    /// logits_per_image, where pair i is image i with prompt i) or per-item ([N] or [N,1]).</summary>
    [RegularExpression("^(diagonal|per-item)$", ErrorMessage = "reduce must be diagonal or per-item.")]
    public string Reduce { get; set; } = "diagonal";

    [Range(1, 4096)] public int BatchSize { get; set; } = 16;

    /// <summary>ONNX Runtime intra-op threads (0 = its default).</summary>
    [Range(0, 1024)] public int IntraOpThreads { get; set; }

    /// <summary>
    /// auto: ONNX Runtime's CUDA provider when the run's device is a GPU (<c>--device cuda[:N]</c>) and the CUDA build of
    /// ONNX Runtime is installed (<c>-p:BiasBenchOnnxGpu=true</c>) and loads, else the CPU with a warning saying why;
    /// cuda: the CUDA provider or a clear error; cpu: always the CPU.
    /// </summary>
    [RegularExpression("^(auto|cpu|cuda)$", ErrorMessage = "execution_provider must be auto, cpu or cuda.")]
    public string ExecutionProvider { get; set; } = "auto";
}
