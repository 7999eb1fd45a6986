using System.Text.Json;
using BiasBench.Networks.Vision;
using BiasBench.TestSupport;
using BiasBench.Torch.Backend;
using BiasBench.Torch.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Networks.Tests.Vision;

/// <summary>torchvision resnet18 + the hackathon head against ../shared/fixtures/resnet_attractiveness (BN in eval mode).</summary>
public sealed class ResNetClassifierTests(ITestOutputHelper output)
{
    private const string Folder = "resnet_attractiveness";
    private const double Tolerance = 1e-4;

    private static string FixtureFile(string name)
    {
        TorchBackend.EnsureInitialized();
        return Fixtures.File($"{Folder}/{name}");
    }

    [Fact]
    public void Config_is_read_from_the_checkpoint_and_matches_the_fixture_layers()
    {
        var modelPath = FixtureFile("model.safetensors");
        using var doc = JsonDocument.Parse(File.ReadAllText(FixtureFile("cases.json")));
        var layers = doc.RootElement.GetProperty("layers").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        using var file = SafeTensorsFile.Open(modelPath);
        var config = ResNetConfig.FromStateDict(file.Entries.ToDictionary(e => e.Key, e => e.Value.Shape), ResNetClassifier.BackbonePrefix, modelPath);
        Assert.Equal(layers, config.Layers);
        Assert.Equal(ResNetBlockKind.Basic, config.Block);
        Assert.Equal(file.Entries["final_layers.5.weight"].Shape[0], config.Outputs);
        Assert.Equal(ResNetCheckpointLayout.Classifier, ResNetCheckpoint.DetectLayout(file.Entries.Keys.ToList(), modelPath));
    }

    [Fact]
    public void Logits_match_the_reference_in_eval_mode()
    {
        var loaded = ResNetCheckpoint.Load(FixtureFile("model.safetensors"));
        using var model = loaded.Model;
        Assert.True(loaded.Report.Missing.Count == 0, loaded.Report.ToString());
        using var cases = SafeTensorsFile.Open(FixtureFile("cases.safetensors"));
        using var pixels = cases.Load("pixel_values", ScalarType.Float32);
        using var expected = cases.Load("logit", ScalarType.Float32);
        using var _ = no_grad();
        using var logits = model.forward(pixels);
        var diff = (logits - expected).abs().max().item<float>();
        output.WriteLine($"max |logit diff| = {diff:E2} (logits {string.Join(", ", logits.data<float>().ToArray())})");
        Assert.Equal(expected.shape, logits.shape);
        Assert.True(diff <= Tolerance, $"max |diff| {diff} > {Tolerance}");
    }

    [Fact]
    public void Bf16_compute_on_float32_parameters_stays_close_to_float32()
    {
        var loaded = ResNetCheckpoint.Load(FixtureFile("model.safetensors"));
        using var model = loaded.Model;
        using var cases = SafeTensorsFile.Open(FixtureFile("cases.safetensors"));
        using var pixels = cases.Load("pixel_values", ScalarType.Float32);
        using var expected = cases.Load("logit", ScalarType.Float32);
        using var _ = no_grad();
        model.Precision.DType = ScalarType.BFloat16;
        using var logits = model.forward(pixels);
        Assert.Equal(ScalarType.Float32, logits.dtype);
        Assert.Equal(ScalarType.Float32, model.Backbone.Fc.Weight.dtype);
        // bf16 keeps 8 mantissa bits: relative error ~0.4% per op; 20 layers deep, agreement to a few percent of the
        // logit scale is what autocast gives too.
        var scale = expected.abs().max().item<float>() + 1e-3f;
        var diff = (logits - expected).abs().max().item<float>();
        output.WriteLine($"bf16 compute: max |diff| = {diff:E2} (logit scale {scale:E2})");
        Assert.True(diff <= 0.05 * scale + 1e-3, $"bf16 logits drift {diff} from fp32 (scale {scale})");
    }

    [Fact]
    public void Training_mode_updates_batch_norm_running_statistics_and_eval_mode_does_not()
    {
        using var model = new ResNetClassifier(new ResNetConfig(ResNetBlockKind.Basic, [1, 1, 1, 1], 8, [4, 1]));
        using var generator = new Generator(7);
        ResNetCheckpoint.Initialize(model, generator);
        using var x = randn([2, 3, 64, 64], generator: generator);
        var mean = model.named_buffers().First(b => b.name == "resnet.bn1.running_mean").buffer;
        var tracked = model.named_buffers().First(b => b.name == "resnet.bn1.num_batches_tracked").buffer;
        using (no_grad())
        {
            model.eval();
            model.forward(x).Dispose();
            Assert.Equal(0.0, mean.abs().sum().item<float>());
            model.train();
            model.forward(x).Dispose();
        }
        Assert.True(mean.abs().sum().item<float>() > 0);
        Assert.Equal(1L, tracked.item<long>());
    }

    [Fact]
    public void Torchvision_layout_loads_into_the_backbone_and_round_trips_through_a_BiasBench_file()
    {
        // A torchvision-layout state dict (plain ResNet names, 1000-class fc) saved through the safe writer.
        var config = new ResNetConfig(ResNetBlockKind.Bottleneck, [1, 1, 1, 1], 10, []);
        using var source = new ResNetClassifier(config);
        using var generator = new Generator(3);
        ResNetCheckpoint.Initialize(source, generator);
        var dir = Directory.CreateTempSubdirectory("resnet-layout-");
        try
        {
            var torchvisionFile = Path.Combine(dir.FullName, "resnet_tv.safetensors");
            var plain = source.state_dict().Where(kv => !kv.Key.EndsWith("num_batches_tracked"))
                .ToDictionary(kv => kv.Key[ResNetClassifier.BackbonePrefix.Length..], kv => kv.Value);
            SafeTensorsFile.Save(torchvisionFile, plain);
            var loaded = ResNetCheckpoint.Load(torchvisionFile);
            using var model = loaded.Model;
            Assert.Equal(ResNetCheckpointLayout.Torchvision, loaded.Layout);
            Assert.Equal(config, model.Config);
            using var x = randn([1, 3, 64, 64], generator: generator);
            using var _ = no_grad();
            source.eval();
            using var a = source.forward(x);
            using var b = model.forward(x);
            Assert.Equal(0f, (a - b).abs().max().item<float>());

            var bbFile = Path.Combine(dir.FullName, "classifier.safetensors");
            ResNetCheckpoint.Save(model, bbFile, new Dictionary<string, string> { ["threshold"] = "0.25" });
            var again = ResNetCheckpoint.Load(bbFile);
            using var m2 = again.Model;
            Assert.Equal("0.25", again.Metadata["threshold"]);
            using var c = m2.forward(x);
            Assert.Equal(0f, (a - c).abs().max().item<float>());

            // A DataParallel-saved classifier ("module." before every key) loads the same.
            var parallelFile = Path.Combine(dir.FullName, "data_parallel.safetensors");
            SafeTensorsFile.Save(parallelFile, model.state_dict().ToDictionary(kv => "module." + kv.Key, kv => kv.Value));
            var parallel = ResNetCheckpoint.Load(parallelFile);
            using (var m3 = parallel.Model)
            using (var d = m3.forward(x))
            {
                Assert.Equal(ResNetCheckpointLayout.Classifier, parallel.Layout);
                Assert.Equal(0f, (a - d).abs().max().item<float>());
            }

            // A backbone with another head: only resnet.* (minus fc) is taken.
            using var hackathon = new ResNetClassifier(config with { FcOutputs = 16, HeadSizes = [8, 1] });
            var report = ResNetCheckpoint.LoadBackbone(hackathon, torchvisionFile);
            Assert.Contains("resnet.layer4.0.conv3.weight", report.Loaded);
            Assert.DoesNotContain(report.Loaded, n => n.StartsWith("resnet.fc.") || n.StartsWith("final_layers."));
        }
        finally { dir.Delete(recursive: true); }
    }

    [Fact]
    public void A_state_dict_that_is_not_a_resnet_is_refused_with_its_name()
    {
        TorchBackend.EnsureInitialized();
        var dir = Directory.CreateTempSubdirectory("resnet-bad-");
        try
        {
            var path = Path.Combine(dir.FullName, "other.safetensors");
            using var t = zeros(2, 2);
            SafeTensorsFile.Save(path, new Dictionary<string, Tensor> { ["encoder.weight"] = t });
            var e = Assert.Throws<InvalidDataException>(() => ResNetCheckpoint.Load(path));
            Assert.Contains(path, e.Message);
        }
        finally { dir.Delete(recursive: true); }
    }
}
