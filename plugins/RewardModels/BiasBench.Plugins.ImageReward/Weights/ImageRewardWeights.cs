using System.Globalization;
using System.Text.RegularExpressions;
using BiasBench.Plugins.ImageReward.Network;
using BiasBench.Torch.Weights;

namespace BiasBench.Plugins.ImageReward.Weights;

/// <summary>Matches checkpoint tensors to <see cref="ImageRewardNetwork"/> parameters and copies them in.</summary>
public static partial class ImageRewardWeights
{
    /// <summary>
    /// Tensors a real checkpoint carries that scoring never uses: the position-id buffer and BLIP's contrastive
    /// projections (<c>blip.vision_proj</c>, <c>blip.text_proj</c>), which <c>ImageReward.score</c> does not call.
    /// </summary>
    public static bool IsUnusedByScoring(string name) =>
        name.EndsWith("embeddings.position_ids", StringComparison.Ordinal)
        || (name.StartsWith("blip.", StringComparison.Ordinal)
            && !name.StartsWith("blip.visual_encoder.", StringComparison.Ordinal)
            && !name.StartsWith("blip.text_encoder.", StringComparison.Ordinal));

    /// <summary>
    /// Copies every parameter from <paramref name="stateDict"/> with the shared <see cref="StateDictLoader"/> (converted to
    /// each parameter's dtype and device). The load is strict: any missing, unexpected (beyond
    /// <see cref="IsUnusedByScoring"/>, which are reported as ignored) or mis-shaped tensor throws
    /// <see cref="StateDictMismatchException"/> naming every one of them, before anything is copied.
    /// </summary>
    public static LoadReport LoadInto(ImageRewardNetwork network, ImageRewardStateDict stateDict) =>
        StateDictLoader.Load(network, stateDict.Tensors, strict: true,
            mapKey: name => IsUnusedByScoring(name) ? null : name, source: stateDict.Path);

    /// <summary>
    /// Reads the ViT's sizes from the checkpoint's tensor shapes (a med_config.json only describes the text side).
    /// The head count is not stored in any shape; BLIP's ViTs use 64-wide heads (ViT-B 12 x 64, ViT-L 16 x 64).
    /// </summary>
    public static VisionConfig InferVisionConfig(IReadOnlyDictionary<string, long[]> shapes, string source)
    {
        const string prefix = "blip.visual_encoder.";
        long[] Shape(string name) => shapes.TryGetValue(prefix + name, out var s) ? s
            : throw new InvalidDataException($"{source}: tensor '{prefix}{name}' is missing, so the ViT size cannot be inferred (is this an ImageReward checkpoint?).");

        var patchWeight = Shape("patch_embed.proj.weight");
        if (patchWeight.Length != 4 || patchWeight[2] != patchWeight[3])
            throw new InvalidDataException($"{source}: '{prefix}patch_embed.proj.weight' has shape [{string.Join(", ", patchWeight)}], expected [D, 3, p, p].");
        var embed = (int)patchWeight[0];
        var patch = (int)patchWeight[2];
        var pos = Shape("pos_embed");
        var patches = pos.Length == 3 ? pos[1] - 1 : -1;
        var grid = (long)Math.Round(Math.Sqrt(Math.Max(patches, 0)));
        if (grid * grid != patches || grid == 0)
            throw new InvalidDataException($"{source}: '{prefix}pos_embed' has shape [{string.Join(", ", pos)}], expected [1, 1 + g*g, D].");
        var depth = shapes.Keys.Select(k => BlockIndex().Match(k)).Where(m => m.Success)
            .Select(m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)).DefaultIfEmpty(-1).Max() + 1;
        if (depth <= 0) throw new InvalidDataException($"{source}: no '{prefix}blocks.N.*' tensors found.");
        var fc1 = Shape("blocks.0.mlp.fc1.weight");
        var qkvBias = shapes.ContainsKey(prefix + "blocks.0.attn.qkv.bias");
        var heads = embed % 64 == 0 ? embed / 64 : 1;
        return new VisionConfig((int)grid * patch, patch, embed, depth, heads, (double)fc1[0] / embed, qkvBias, 1e-6);
    }

    [GeneratedRegex(@"^blip\.visual_encoder\.blocks\.(\d+)\.")]
    private static partial Regex BlockIndex();
}
