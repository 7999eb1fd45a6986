using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Text;
using BiasBench.Abstractions;

namespace BiasBench.PluginTemplate;

/// <summary>Options, bound from the config's <c>options:</c> (snake_case) and validated before any work starts.</summary>
public sealed class TestPatternOptions
{
    [Range(1, 4096)] public int Width { get; set; } = 64;
    [Range(1, 4096)] public int Height { get; set; } = 64;

    /// <summary>Amplitude of the seeded per-pixel noise, in 8-bit levels (0 = a clean gradient).</summary>
    [Range(0, 255)] public int Noise { get; set; } = 24;
}

/// <summary>
/// A deterministic test-pattern generator: a left-to-right gradient between two colours taken from an FNV-1a hash of
/// the prompt, plus uniform noise of +-noise levels drawn from the seed. The same prompt and seed always give the
/// same PNG (the contract BiasBench's generate stage relies on for caching); use it to try a pipeline end to end
/// before wiring in a real diffusion model.
/// </summary>
public sealed class TestPatternGenerator(TestPatternOptions options) : IImageGenerator
{
    public const string Name = "my-component";

    public GeneratorInfo Info { get; } = new(Name, Plugin.Version, "prompt-coloured gradient + seeded noise (PNG)");

    public int PreferredBatchSize => 8;

    public Task<IReadOnlyList<ItemResult<GeneratedImage>>> GenerateAsync(IReadOnlyList<GenerationRequest> batch, CancellationToken cancellationToken)
    {
        var results = new List<ItemResult<GeneratedImage>>(batch.Count);
        foreach (var request in batch)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var png = Generate(request.Prompt, request.Seed, options);
            var settings = new Dictionary<string, string>
            {
                ["width"] = options.Width.ToString(CultureInfo.InvariantCulture),
                ["height"] = options.Height.ToString(CultureInfo.InvariantCulture),
                ["noise"] = options.Noise.ToString(CultureInfo.InvariantCulture),
            };
            results.Add(ItemResult<GeneratedImage>.Success(new GeneratedImage(request, png,
                new ImageProvenance(Name, Plugin.Version, request.Prompt, request.Seed, settings, DateTimeOffset.UtcNow))));
        }
        return Task.FromResult<IReadOnlyList<ItemResult<GeneratedImage>>>(results);
    }

    /// <summary>The PNG for one prompt and seed.</summary>
    public static byte[] Generate(string prompt, long seed, TestPatternOptions options)
    {
        var hash = Fnv1a(Encoding.UTF8.GetBytes(prompt));
        ReadOnlySpan<byte> left = [(byte)hash, (byte)(hash >> 8), (byte)(hash >> 16)];
        ReadOnlySpan<byte> right = [(byte)(hash >> 24), (byte)(hash >> 32), (byte)(hash >> 40)];
        // System.Random with a seed is the same sequence on every platform and .NET version.
        var random = new Random(unchecked((int)(seed ^ (seed >> 32))));
        int width = options.Width, height = options.Height;
        var rgb = new byte[width * height * 3];
        for (var y = 0; y < height; y++)
        for (var x = 0; x < width; x++)
        {
            var t = width == 1 ? 0.0 : (double)x / (width - 1);
            for (var c = 0; c < 3; c++)
            {
                var value = left[c] + t * (right[c] - left[c]) + random.Next(-options.Noise, options.Noise + 1);
                rgb[(y * width + x) * 3 + c] = (byte)Math.Clamp((int)Math.Round(value), 0, 255);
            }
        }
        return Png.EncodeRgb(width, height, rgb);
    }

    /// <summary>64-bit FNV-1a: a stable hash (string.GetHashCode differs between processes).</summary>
    public static ulong Fnv1a(ReadOnlySpan<byte> data)
    {
        var hash = 14695981039346656037UL;
        foreach (var b in data) hash = (hash ^ b) * 1099511628211UL;
        return hash;
    }

    public void Dispose() { }
}
