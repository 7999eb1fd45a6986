using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace BiasBench.Networks.Vision;

public enum ResNetBlockKind { Basic, Bottleneck }

/// <summary>
/// Shape of a torchvision ResNet (v1.5: stride on the 3x3 conv of a bottleneck) plus an optional MLP head after
/// <c>fc</c>. The hackathon's attractiveness classifier is ResNet-18 with <c>fc</c> = Linear(512, 512) and
/// <c>final_layers</c> = ReLU, Linear(512, 512), ReLU, Linear(512, 256), ReLU, Linear(256, 1), i.e.
/// <see cref="FcOutputs"/> = 512 and <see cref="HeadSizes"/> = [512, 256, 1]. Read from a checkpoint's tensor
/// names and shapes (<see cref="FromStateDict"/>) or from a BiasBench checkpoint's JSON metadata, never assumed.
/// </summary>
public sealed partial record ResNetConfig(ResNetBlockKind Block, IReadOnlyList<int> Layers, int FcOutputs, IReadOnlyList<int> HeadSizes)
{
    public const int StemWidth = 64;
    public int Expansion => Block == ResNetBlockKind.Basic ? 1 : 4;
    /// <summary>Width of the pooled features that <c>fc</c> reads (512 for ResNet-18/34, 2048 for ResNet-50).</summary>
    public int FeatureWidth => 512 * Expansion;
    /// <summary>Number of logits the network returns: the last head layer's width, or fc's without a head.</summary>
    public int Outputs => HeadSizes.Count > 0 ? HeadSizes[^1] : FcOutputs;

    public static ResNetConfig ResNet18(int fcOutputs = 1000, IReadOnlyList<int>? head = null) => new(ResNetBlockKind.Basic, [2, 2, 2, 2], fcOutputs, head ?? []);
    public static ResNetConfig ResNet34(int fcOutputs = 1000, IReadOnlyList<int>? head = null) => new(ResNetBlockKind.Basic, [3, 4, 6, 3], fcOutputs, head ?? []);
    public static ResNetConfig ResNet50(int fcOutputs = 1000, IReadOnlyList<int>? head = null) => new(ResNetBlockKind.Bottleneck, [3, 4, 6, 3], fcOutputs, head ?? []);

    /// <summary>The hackathon classifier's layout on a backbone: fc = Linear(features, 512), head 512 -> 256 -> 1.</summary>
    public static ResNetConfig Hackathon(string architecture) => Named(architecture) with { FcOutputs = 512, HeadSizes = [512, 256, 1] };

    /// <summary>resnet18 / resnet34 / resnet50 (torchvision's names), with torchvision's 1000-class fc.</summary>
    public static ResNetConfig Named(string architecture) => architecture.Trim().ToLowerInvariant() switch
    {
        "resnet18" or "resnet-18" => ResNet18(),
        "resnet34" or "resnet-34" => ResNet34(),
        "resnet50" or "resnet-50" => ResNet50(),
        _ => throw new ArgumentException($"Unknown ResNet architecture '{architecture}' (expected resnet18, resnet34 or resnet50)."),
    };

    /// <summary>torchvision's name when the backbone is a standard one (resnet18/34/50), else a description.</summary>
    public string ArchitectureName => (Block, string.Join(",", Layers)) switch
    {
        (ResNetBlockKind.Basic, "2,2,2,2") => "resnet18",
        (ResNetBlockKind.Basic, "3,4,6,3") => "resnet34",
        (ResNetBlockKind.Bottleneck, "3,4,6,3") => "resnet50",
        _ => $"resnet-{Block.ToString().ToLowerInvariant()}[{string.Join(",", Layers)}]",
    };

    [GeneratedRegex(@"^layer([1-4])\.(\d+)\.")]
    private static partial Regex BlockKey();

    [GeneratedRegex(@"^final_layers\.(\d+)\.weight$")]
    private static partial Regex HeadKey();

    /// <summary>
    /// Reads the layout from tensor names and shapes: <paramref name="backbonePrefix"/> before the torchvision names
    /// (<c>resnet.</c> for the hackathon classifier, empty for a plain torchvision checkpoint), blocks per stage from
    /// the <c>layerN.i.</c> indices, bottleneck when <c>conv3</c> exists, fc and the head from their weight shapes.
    /// </summary>
    public static ResNetConfig FromStateDict(IReadOnlyDictionary<string, long[]> shapes, string backbonePrefix, string source)
    {
        string Key(string name) => backbonePrefix + name;
        if (!shapes.TryGetValue(Key("conv1.weight"), out var stem))
            throw new InvalidDataException($"{source}: no '{Key("conv1.weight")}' tensor; not a torchvision ResNet state dict.");
        if (stem.Length != 4 || stem[0] != StemWidth || stem[1] != 3 || stem[2] != 7)
            throw new InvalidDataException($"{source}: '{Key("conv1.weight")}' has shape [{string.Join(", ", stem)}], expected [64, 3, 7, 7].");
        var blocks = new int[4];
        foreach (var name in shapes.Keys)
        {
            if (!name.StartsWith(backbonePrefix, StringComparison.Ordinal)) continue;
            var m = BlockKey().Match(name[backbonePrefix.Length..]);
            if (!m.Success) continue;
            var stage = int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) - 1;
            blocks[stage] = Math.Max(blocks[stage], int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture) + 1);
        }
        if (blocks.Any(b => b == 0))
            throw new InvalidDataException($"{source}: missing residual stages ({string.Join(", ", Enumerable.Range(1, 4).Where(i => blocks[i - 1] == 0).Select(i => $"{backbonePrefix}layer{i}"))}).");
        var block = shapes.ContainsKey(Key("layer1.0.conv3.weight")) ? ResNetBlockKind.Bottleneck : ResNetBlockKind.Basic;
        if (!shapes.TryGetValue(Key("fc.weight"), out var fc) || fc.Length != 2)
            throw new InvalidDataException($"{source}: no 2-D '{Key("fc.weight")}' tensor (the final linear layer).");
        var config = new ResNetConfig(block, blocks, (int)fc[0], HeadFromStateDict(shapes, source));
        if (fc[1] != config.FeatureWidth)
            throw new InvalidDataException($"{source}: '{Key("fc.weight")}' reads {fc[1]} features but a {config.ArchitectureName} backbone gives {config.FeatureWidth}.");
        return config;
    }

    /// <summary>The hackathon head: Linear layers at odd indices of final_layers (ReLU before each), chained widths.</summary>
    private static IReadOnlyList<int> HeadFromStateDict(IReadOnlyDictionary<string, long[]> shapes, string source)
    {
        var linear = shapes.Keys.Select(k => HeadKey().Match(k)).Where(m => m.Success)
            .Select(m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)).Order().ToList();
        for (var i = 0; i < linear.Count; i++)
            if (linear[i] != 2 * i + 1)
                throw new InvalidDataException($"{source}: final_layers has Linear weights at indices {string.Join(", ", linear)}; expected 1, 3, 5, ... (ReLU, Linear pairs).");
        return linear.Select(i => (int)shapes[$"final_layers.{i}.weight"][0]).ToList();
    }

    public string ToJson() => JsonSerializer.Serialize(new Dictionary<string, object>
    {
        ["architecture"] = ArchitectureName,
        ["block"] = Block.ToString().ToLowerInvariant(),
        ["layers"] = Layers,
        ["fc_outputs"] = FcOutputs,
        ["head_sizes"] = HeadSizes,
    });

    public static ResNetConfig FromJson(string json, string source)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            var r = doc.RootElement;
            var block = r.GetProperty("block").GetString() switch
            {
                "basic" => ResNetBlockKind.Basic,
                "bottleneck" => ResNetBlockKind.Bottleneck,
                var b => throw new InvalidDataException($"{source}: unknown ResNet block '{b}'."),
            };
            return new ResNetConfig(block,
                r.GetProperty("layers").EnumerateArray().Select(e => e.GetInt32()).ToList(),
                r.GetProperty("fc_outputs").GetInt32(),
                r.GetProperty("head_sizes").EnumerateArray().Select(e => e.GetInt32()).ToList());
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{source}: ResNet config metadata is not valid: {e.Message}", e);
        }
    }

    public bool Equals(ResNetConfig? other) =>
        other is not null && Block == other.Block && Layers.SequenceEqual(other.Layers) && FcOutputs == other.FcOutputs && HeadSizes.SequenceEqual(other.HeadSizes);

    public override int GetHashCode() => HashCode.Combine(Block, string.Join(",", Layers), FcOutputs, string.Join(",", HeadSizes));
}
