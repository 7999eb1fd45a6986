using System.Text.Json;
using BiasBench.Networks.Diffusion;
using BiasBench.Torch.Weights;
using static TorchSharp.torch;

namespace BiasBench.Networks.Tests.Diffusion;

/// <summary>
/// The weight-file layouts diffusers ships besides one plain safetensors file: a precision variant
/// (<c>diffusion_pytorch_model.fp16.safetensors</c>), sharded safetensors with their index, and a torch.save'd
/// <c>diffusion_pytorch_model.bin</c> (what google/ddpm-celebahq-256 ships). Each is written from the ddpm_unet fixture's
/// own weights into a temporary model folder and loaded by the same loader the generators use.
/// </summary>
public sealed class DiffusionWeightsTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("biasbench-diffusion-weights").FullName;
    private readonly string _fixtureUnet = Path.Combine(DiffusionFixture.Folder(DiffusionFixture.DdpmFolder), "unet");

    public void Dispose() => Directory.Delete(_dir, true);

    /// <summary>The fixture UNet's tensors as stored (fp16), by name.</summary>
    private Dictionary<string, Tensor> FixtureTensors()
    {
        using var file = SafeTensorsFile.Open(DiffusionWeights.FindWeights(_fixtureUnet));
        return file.LoadAll();
    }

    private string ModelFolder(string name)
    {
        var folder = Directory.CreateDirectory(Path.Combine(_dir, name)).FullName;
        File.Copy(Path.Combine(_fixtureUnet, "config.json"), Path.Combine(folder, "config.json"));
        return folder;
    }

    /// <summary>One UNet call on the fixture's (x, t), checked against diffusers' eps at the networks' bound.</summary>
    private Tensor ForwardMatchingDiffusers(UNet2DModel unet, string what)
    {
        var cases = DiffusionFixture.Cases(Path.GetDirectoryName(_fixtureUnet)!);
        try
        {
            using var noGrad = no_grad();
            var eps = unet.Forward(cases["x"], cases["t"]);
            var diff = DiffusionFixture.MaxAbsDiff(eps, cases["eps"]);
            output.WriteLine($"{what}: eps max |diff| vs diffusers = {diff:E3}");
            Assert.True(diff <= DiffusionFixture.Tolerance, $"{what}: eps differs from diffusers by {diff:E3}");
            return eps;
        }
        finally { cases.DisposeAll(); }
    }

    [Fact]
    public void Fp16VariantLoadsIntoFloat32AndThePlainFileStaysTheDefault()
    {
        var folder = ModelFolder("variant");
        var tensors = FixtureTensors();
        try
        {
            // The variant holds fp16 values; the plain file fp32 values that fp16 cannot represent (offset by 1e-3), so
            // which file was loaded shows in every parameter.
            SafeTensorsFile.Save(Path.Combine(folder, "diffusion_pytorch_model.fp16.safetensors"),
                tensors.ToDictionary(kv => kv.Key, kv => kv.Value.to(ScalarType.Float16)));
            var plain = tensors.ToDictionary(kv => kv.Key, kv => kv.Value.to(ScalarType.Float32) + 1e-3f);
            SafeTensorsFile.Save(Path.Combine(folder, "diffusion_pytorch_model.safetensors"), plain);

            Assert.Equal(Path.Combine(folder, "diffusion_pytorch_model.fp16.safetensors"), DiffusionWeights.FindWeights(folder, "fp16"));
            Assert.Equal(Path.Combine(folder, "diffusion_pytorch_model.safetensors"), DiffusionWeights.FindWeights(folder));

            using var fromVariant = DiffusionModels.LoadUNet2D(folder, "fp16");
            // A float32 network holding the same fp16-rounded values: the fixture folder's own (fp16) file.
            using var reference = DiffusionModels.LoadUNet2D(_fixtureUnet);
            foreach (var (name, p) in fromVariant.named_parameters())
            {
                Assert.Equal(ScalarType.Float32, p.dtype);
                Assert.True(SameValues(p, reference.get_parameter(name)!), $"'{name}' differs from the fp16 values widened to fp32");
            }
            using var eps = ForwardMatchingDiffusers(fromVariant, "fp16 variant");
            using var noGrad = no_grad();
            var cases = DiffusionFixture.Cases(Path.GetDirectoryName(_fixtureUnet)!);
            try
            {
                using var expected = reference.Forward(cases["x"], cases["t"]);
                // Bit-identical fp32 weights and the same CPU kernels: any difference could only come from the order of
                // a multi-threaded reduction, far below 1e-5 at these magnitudes.
                var diff = DiffusionFixture.MaxAbsDiff(eps, expected);
                output.WriteLine($"fp16 variant vs fp32 network with fp16-rounded weights: max |diff| = {diff:E3}");
                Assert.True(diff <= 1e-5, $"fp16 variant output differs by {diff:E3}");

                using var fromPlain = DiffusionModels.LoadUNet2D(folder);
                foreach (var (name, p) in fromPlain.named_parameters())
                    Assert.True(SameValues(p, plain[name]), $"without a variant, '{name}' should come from the plain float32 file");
                using var plainEps = fromPlain.Forward(cases["x"], cases["t"]);
                Assert.True(DiffusionFixture.MaxAbsDiff(plainEps, eps) > 1e-4, "the plain file's offset weights should change the output");
            }
            finally { cases.DisposeAll(); }
            foreach (var t in plain.Values) t.Dispose();
        }
        finally { tensors.DisposeAll(); }
    }

    private static bool SameValues(Tensor a, Tensor b) =>
        a.dtype == b.dtype && a.shape.SequenceEqual(b.shape) && a.contiguous().bytes.SequenceEqual(b.contiguous().bytes);

    [Theory]
    [InlineData(null)]
    [InlineData("fp16")]
    public void ShardedSafetensorsLoadThroughTheirIndex(string? variant)
    {
        // diffusers' save_pretrained(max_shard_size=..., variant=...) names: shards NAME[.variant]-0000k-of-0000n.safetensors,
        // index NAME.safetensors.index[.variant].json (its _add_variant puts the variant before the last suffix).
        var folder = ModelFolder("sharded-" + (variant ?? "plain"));
        var tensors = FixtureTensors();
        try
        {
            var names = tensors.Keys.Order(StringComparer.Ordinal).ToList();
            var stem = "diffusion_pytorch_model" + (variant is null ? "" : "." + variant);
            var shardCount = 3;
            var weightMap = new SortedDictionary<string, string>(StringComparer.Ordinal);
            long totalSize = 0;
            for (var shard = 0; shard < shardCount; shard++)
            {
                var shardName = $"{stem}-{shard + 1:D5}-of-{shardCount:D5}.safetensors";
                var part = names.Where((_, i) => i * shardCount / names.Count == shard).ToDictionary(n => n, n => tensors[n]);
                Assert.NotEmpty(part);
                SafeTensorsFile.Save(Path.Combine(folder, shardName), part);
                foreach (var (n, t) in part) { weightMap[n] = shardName; totalSize += t.NumberOfElements * t.ElementSize; }
            }
            var index = "diffusion_pytorch_model.safetensors.index" + (variant is null ? "" : "." + variant) + ".json";
            File.WriteAllText(Path.Combine(folder, index), JsonSerializer.Serialize(new { metadata = new { total_size = totalSize }, weight_map = weightMap }));

            Assert.Equal(Path.Combine(folder, index), DiffusionWeights.FindWeights(folder, variant));
            using var unet = DiffusionModels.LoadUNet2D(folder, variant);
            using var eps = ForwardMatchingDiffusers(unet, $"{shardCount} shards{(variant is null ? "" : ", variant " + variant)}");
        }
        finally { tensors.DisposeAll(); }
    }

    [Fact]
    public void TorchSavedBinWithOldAttentionNamesLoads()
    {
        // google/ddpm-celebahq-256 ships unet/diffusion_pytorch_model.bin: a torch.save'd fp32 state dict whose attention
        // blocks still use query/key/value/proj_attn.
        var folder = ModelFolder("bin");
        var tensors = FixtureTensors();
        try
        {
            using var probe = DiffusionModels.LoadUNet2D(_fixtureUnet);
            var oldPaths = probe.DeprecatedAttentionPaths.ToList();
            Assert.NotEmpty(oldPaths);
            var renamed = tensors.Keys.Order(StringComparer.Ordinal).Select(k => new KeyValuePair<string, Tensor>(OldName(k, oldPaths), tensors[k].to(ScalarType.Float32))).ToList();
            Assert.Contains(renamed, kv => kv.Key.EndsWith(".proj_attn.weight", StringComparison.Ordinal));
            TorchZipCheckpointWriter.Save(Path.Combine(folder, "diffusion_pytorch_model.bin"), renamed);

            Assert.Equal(Path.Combine(folder, "diffusion_pytorch_model.bin"), DiffusionWeights.FindWeights(folder));
            using var unet = DiffusionModels.LoadUNet2D(folder);
            using var eps = ForwardMatchingDiffusers(unet, ".bin");
            foreach (var t in renamed) t.Value.Dispose();
        }
        finally { tensors.DisposeAll(); }

        static string OldName(string key, List<string> paths)
        {
            foreach (var path in paths)
            {
                if (!key.StartsWith(path + ".", StringComparison.Ordinal)) continue;
                var rest = key[(path.Length + 1)..];
                foreach (var (current, old) in new[] { ("to_q.", "query."), ("to_k.", "key."), ("to_v.", "value."), ("to_out.0.", "proj_attn.") })
                    if (rest.StartsWith(current, StringComparison.Ordinal)) return $"{path}.{old}{rest[current.Length..]}";
            }
            return key;
        }
    }
}
