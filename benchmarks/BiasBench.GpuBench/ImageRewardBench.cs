using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using BiasBench.Plugins.ImageReward;
using BiasBench.Plugins.ImageReward.Network;
using static TorchSharp.torch;

/// <summary>
/// ImageReward's network (BLIP ViT-L/16 image encoder + BERT-base text encoder with cross-attention to the image in every
/// layer + MLP head) on random weights of the release's shapes (med_config.json of THUDM/ImageReward, or the tiny preset),
/// images and 35-token prompts per pair: what scoring runs per batch.
/// </summary>
internal static class ImageRewardBench
{
    public static ImageRewardConfig Preset(string preset, string? medConfig)
    {
        if (medConfig is { Length: > 0 }) return ImageRewardConfig.Load(medConfig, () => VisionConfig.VitLarge224);
        return preset switch
        {
            // bert-base-uncased + [DEC]/[ENC] (30524 ids), cross-attention to the 1024-wide ViT-L tokens (med_config.json).
            "imagereward" => new ImageRewardConfig(VisionConfig.VitLarge224,
                new TextConfig(30524, 768, 12, 12, 3072, 512, 1e-12, 1024, "gelu", true),
                ImageRewardConfig.ReleaseRewardMean, ImageRewardConfig.ReleaseRewardStd),
            "tiny" => new ImageRewardConfig(new VisionConfig(224, 16, 64, 2, 4, 4.0, true, 1e-6),
                new TextConfig(30524, 64, 2, 4, 128, 512, 1e-12, 64, "gelu", true),
                ImageRewardConfig.ReleaseRewardMean, ImageRewardConfig.ReleaseRewardStd),
            _ => throw new ArgumentException($"--preset {preset}: use imagereward or tiny for the imagereward mode (or --med-config FILE)."),
        };
    }

    public static int Run(ImageRewardConfig config, int[] batches, Device device, ScalarType dtype, int iterations, int warmup, bool marker,
        Action sync, string json)
    {
        using var network = new ImageRewardNetwork(config, new TensorPlacement(device, dtype));
        using (no_grad())
        {
            // Random weights (the parameters start uninitialised; denormals or NaNs would distort the timing).
            var generator = new Generator(seed: 0, device: device);
            foreach (var (_, p) in network.Parameters()) p.normal_(0, 0.02, generator);
        }
        network.eval();
        const int textLength = 35;
        var results = new List<object>();
        foreach (var batch in batches)
        {
            using var scope = NewDisposeScope();
            var pixels = randn([batch, 3, config.Vision.ImageSize, config.Vision.ImageSize], dtype: dtype, device: device);
            var ids = randint(1000, 29000, [batch, textLength], dtype: ScalarType.Int64, device: device);
            ids[TensorIndex.Colon, 0] = tensor(101L);   // [CLS] (ImageReward replaces it with [ENC])
            ids[TensorIndex.Colon, 20] = tensor(102L);  // [SEP]
            var mask = ones([batch, textLength], ScalarType.Int64, device);
            mask[TensorIndex.Colon, TensorIndex.Slice(21)] = tensor(0L);
            void Step()
            {
                using var step = NewDisposeScope();
                using var noGrad = no_grad();
                _ = network.Rewards(pixels, ids, mask);
            }
            for (var i = 0; i < warmup; i++) Step();
            sync();
            if (marker) ProfileMarker.Launch(device, sync);
            var clock = Stopwatch.StartNew();
            for (var i = 0; i < iterations; i++) Step();
            sync();
            var perSecond = batch * iterations / clock.Elapsed.TotalSeconds;
            if (marker) ProfileMarker.Launch(device, sync);
            Console.WriteLine($"imagereward batch {batch}: {perSecond.ToString("F1", CultureInfo.InvariantCulture)} pairs/s");
            results.Add(new { mode = "imagereward", dtype = dtype.ToString(), device = device.ToString(), batch, per_second = perSecond, unit = "pairs/s" });
        }
        if (json.Length > 0) File.WriteAllText(json, JsonSerializer.Serialize(results, new JsonSerializerOptions { WriteIndented = true }));
        return 0;
    }
}

/// <summary>
/// A kernel no forward pass launches (bitwise_not on one byte), put before and after the profiled forward so that the
/// profile summary (scripts/ncu_kernels.py) can cut exactly one steady-state forward out of an Nsight Compute trace.
/// </summary>
internal static class ProfileMarker
{
    public static void Launch(Device device, Action sync)
    {
        using var one = zeros(1, ScalarType.Byte, device);
        using var flipped = one.bitwise_not();
        sync();
    }
}
