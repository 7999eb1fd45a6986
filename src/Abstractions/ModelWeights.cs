namespace BiasBench.Abstractions;

/// <summary>
/// Marks a string option that names model weights: a local file or folder (resolved against the config's folder), or,
/// when no such path exists, a model the host finds in the Hugging Face cache by its <c>biasbench models</c> name
/// (e.g. <c>ddpm-celebahq-256</c>) or hub repository (<c>google/ddpm-celebahq-256</c>). The plugin receives an absolute
/// path. Weights that are not there are reported with the command that downloads them: <c>biasbench run</c> refuses
/// to start (before any work), <c>biasbench validate</c> lists them as warnings.
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class ModelWeightsAttribute : Attribute;
