using BiasBench.TestSupport;
using BiasBench.Torch.Backend;
using BiasBench.Torch.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Torch.Tests.Weights;

public class StateDictLoaderTests
{
    public StateDictLoaderTests() => TorchBackend.EnsureInitialized();

    private sealed class SmallNet : nn.Module
    {
        public readonly TorchSharp.Modules.Linear linear = nn.Linear(3, 4);
        public readonly TorchSharp.Modules.BatchNorm1d norm = nn.BatchNorm1d(4);

        public SmallNet() : base(nameof(SmallNet)) => RegisterComponents();
    }

    /// <summary>A module whose parameters (floating point) and buffers (others) mirror a given set of named tensors.</summary>
    private sealed class TreeModule : nn.Module
    {
        public TreeModule() : base(nameof(TreeModule)) { }

        public void Add(string dottedName, Tensor like)
        {
            var parts = dottedName.Split('.');
            var node = this;
            foreach (var part in parts[..^1])
            {
                var child = node.named_children().FirstOrDefault(c => c.name == part).module as TreeModule;
                if (child is null) { child = new TreeModule(); node.register_module(part, child); }
                node = child;
            }
            var zeros = zeros_like(like);
            if (like.is_floating_point()) node.register_parameter(parts[^1], new TorchSharp.Modules.Parameter(zeros, requires_grad: true));
            else node.register_buffer(parts[^1], zeros);
        }
    }

    private static Dictionary<string, Tensor> Matching(SmallNet net, ScalarType dtype = ScalarType.Float32)
    {
        var d = new Dictionary<string, Tensor>();
        foreach (var (name, p) in net.named_parameters()) d[name] = (arange(p.numel(), dtype: float64) + 1).reshape(p.shape).to_type(dtype);
        foreach (var (name, b) in net.named_buffers()) d[name] = full_like(b, 5);
        return d;
    }

    [Fact]
    public void Exact_state_dict_is_copied_with_dtype_conversion()
    {
        using var net = new SmallNet();
        var tensors = Matching(net, ScalarType.Float64); // float64 in, float32 parameters
        var report = StateDictLoader.Load(net, tensors);
        Assert.True(report.IsExact, report.ToString());
        Assert.Equal(7, report.Loaded.Count); // weight, bias, norm weight/bias, running_mean/var, num_batches_tracked
        Assert.Equal(ScalarType.Float32, net.linear.weight!.dtype);
        Assert.Equal(new float[] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 }, net.linear.weight.data<float>().ToArray());
        Assert.Equal(5f, net.norm.running_var!.data<float>()[0]);
        Assert.Equal(5L, net.norm.num_batches_tracked!.item<long>());
        Assert.True(net.linear.weight.requires_grad); // still a trainable parameter after the in-place copy
        // The caller's tensors stay alive and unchanged (conversions are temporaries).
        Assert.Equal(78.0, tensors["linear.weight"].sum().item<double>());
        foreach (var t in tensors.Values) t.Dispose();
    }

    [Fact]
    public void Strict_load_lists_every_problem_and_copies_nothing()
    {
        using var net = new SmallNet();
        var before = net.linear.weight!.clone();
        var tensors = Matching(net);
        tensors.Remove("norm.running_mean");
        tensors.Remove("norm.bias");
        tensors["linear.bias"] = zeros(5);
        tensors["extra.weight"] = ones(2);

        var e = Assert.Throws<StateDictMismatchException>(() => StateDictLoader.Load(net, tensors, source: "ckpt.pt"));
        Assert.Equal(new[] { "norm.bias", "norm.running_mean" }, e.Report.Missing.Order());
        Assert.Equal(new[] { "extra.weight" }, e.Report.Unexpected);
        var mismatch = Assert.Single(e.Report.Mismatched);
        Assert.Equal("linear.bias", mismatch.Name);
        Assert.Equal(new long[] { 4 }, mismatch.ModuleShape);
        Assert.Equal(new long[] { 5 }, mismatch.CheckpointShape);
        foreach (var name in new[] { "ckpt.pt", "norm.bias", "norm.running_mean", "extra.weight", "linear.bias" })
            Assert.Contains(name, e.Message);
        Assert.True(before.equal(net.linear.weight!).all().item<bool>(), "strict failure must not copy anything");
    }

    [Fact]
    public void Non_strict_load_copies_what_matches_and_reports_the_rest()
    {
        using var net = new SmallNet();
        var tensors = Matching(net);
        tensors.Remove("norm.weight");
        tensors["linear.bias"] = zeros(2, 2);
        tensors["unused"] = ones(1);
        var originalBias = net.linear.bias!.clone();

        var report = StateDictLoader.Load(net, tensors, strict: false);
        Assert.False(report.IsExact);
        Assert.Equal(new[] { "norm.weight" }, report.Missing);
        Assert.Equal(new[] { "unused" }, report.Unexpected);
        Assert.Equal("linear.bias", Assert.Single(report.Mismatched).Name);
        Assert.Contains("linear.weight", report.Loaded);
        Assert.Equal(12f, net.linear.weight!.data<float>()[11]);
        Assert.True(originalBias.equal(net.linear.bias!).all().item<bool>(), "a mis-shaped tensor must not be copied");
    }

    [Fact]
    public void Key_map_renames_and_drops_checkpoint_keys()
    {
        using var net = new SmallNet();
        var tensors = Matching(net).ToDictionary(kv => "model." + kv.Key, kv => kv.Value);
        tensors["model.text.position_ids"] = arange(3);
        var report = StateDictLoader.Load(net, tensors, mapKey: k => k.EndsWith("position_ids") ? null : k["model.".Length..]);
        Assert.True(report.IsExact, report.ToString());
        Assert.Equal(new[] { "model.text.position_ids" }, report.Ignored);

        var clash = Matching(net);
        Assert.Contains("both map", Assert.Throws<InvalidDataException>(() =>
            StateDictLoader.Load(net, clash, mapKey: k => k.StartsWith("linear") ? "linear.weight" : k)).Message);
    }

    [Fact]
    public void Fixture_checkpoints_load_strictly_into_a_module_shaped_like_expected()
    {
        using var expectedFile = SafeTensorsFile.Open(Fixtures.File("torch_checkpoints/expected.safetensors"));
        var expected = expectedFile.LoadAll();
        using var cases = Fixtures.Json("torch_checkpoints/cases.json");
        try
        {
            foreach (var file in cases.RootElement.GetProperty("files").EnumerateArray().Select(f => f.GetString()!))
            {
                using var module = new TreeModule();
                foreach (var (name, t) in expected) module.Add(name, t);
                var report = StateDictLoader.LoadFile(module, Fixtures.File($"torch_checkpoints/{file}"));
                Assert.True(report.IsExact, $"{file}: {report}");
                var state = module.state_dict();
                foreach (var (name, want) in expected)
                {
                    // Parameters keep their own dtype (copy_ converts), so compare in the checkpoint's dtype.
                    using var got = state[name].to_type(want.dtype);
                    Assert.True(want.equal(got).all().item<bool>(), $"{file}: '{name}' differs after loading into the module");
                }
            }
        }
        finally { foreach (var t in expected.Values) t.Dispose(); }
    }
}
