using System.Text.Json;
using BiasBench.Networks.Tests.Diffusion;
using BiasBench.Networks.Vision;
using BiasBench.TestSupport;
using BiasBench.Torch.Backend;
using BiasBench.Torch.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Networks.Tests.Vision;

/// <summary>
/// The ResNet loader's <c>.pt</c>/<c>.pth</c> branch. No torch-saved ResNet-layout file exists in the fixtures (only
/// the small generic state dicts of ../shared/fixtures/torch_checkpoints: zip, legacy, wrapped under "state_dict",
/// OrderedDict), so: those real torch.save files go through the restricted reader and are refused by name for not
/// being a ResNet; a code-executing pickle is refused before anything runs; and a torchvision-layout ResNet state dict
/// written in torch.save's zip format by the test-only <see cref="TorchZipCheckpointWriter"/> (itself checked against
/// the real torch.save'd fixture) loads exactly like its safetensors copy.
/// </summary>
public sealed class ResNetTorchFileTests
{
    private const string Folder = "torch_checkpoints";

    public ResNetTorchFileTests() => TorchBackend.EnsureInitialized();

    public static TheoryData<string> CheckpointFiles() => CasesList("files");
    public static TheoryData<string> MaliciousFiles() => CasesList("malicious");

    private static TheoryData<string> CasesList(string property)
    {
        var data = new TheoryData<string>();
        var cases = Fixtures.Root is { } root ? Path.Combine(root, Folder, "cases.json") : null;
        if (cases is null || !File.Exists(cases)) { data.Add("<fixtures missing>"); return data; }
        using var doc = JsonDocument.Parse(File.ReadAllText(cases));
        foreach (var f in doc.RootElement.GetProperty(property).EnumerateArray()) data.Add(f.GetString()!);
        return data;
    }

    [Theory]
    [MemberData(nameof(CheckpointFiles))]
    public void A_torch_saved_state_dict_is_read_and_refused_by_name_when_it_is_not_a_resnet(string file)
    {
        var source = Fixtures.File($"{Folder}/{file}");
        using var expected = SafeTensorsFile.Open(Fixtures.File($"{Folder}/expected.safetensors"));
        var dir = Directory.CreateTempSubdirectory("resnet-pth-");
        try
        {
            // torchvision's files end in .pth: anything but .safetensors goes to the restricted torch reader.
            var pth = Path.Combine(dir.FullName, Path.GetFileNameWithoutExtension(file) + ".pth");
            File.Copy(source, pth);
            foreach (var path in new[] { source, pth })
            {
                var (tensors, _) = ResNetCheckpoint.ReadFile(path);
                try { Assert.Equal(expected.Entries.Keys.Order(StringComparer.Ordinal), tensors.Keys.Order(StringComparer.Ordinal)); }
                finally { foreach (var t in tensors.Values) t.Dispose(); }
                var e = Assert.Throws<InvalidDataException>(() => ResNetCheckpoint.Load(path));
                Assert.Contains(path, e.Message);
                Assert.Contains("neither a torchvision ResNet state dict", e.Message);
            }
        }
        finally { dir.Delete(recursive: true); }
    }

    [Theory]
    [MemberData(nameof(MaliciousFiles))]
    public void A_malicious_pth_is_refused_by_the_resnet_loader_without_running_anything(string file)
    {
        var path = Fixtures.File($"{Folder}/{file}");
        const string marker = "/tmp/biasbench-pwned";   // what the fixture's payload would write
        var before = File.Exists(marker) ? File.GetLastWriteTimeUtc(marker) : (DateTime?)null;
        var e = Assert.Throws<ForbiddenPickleGlobalException>(() => ResNetCheckpoint.Load(path));
        Assert.Contains(path, e.Message);
        using var model = new ResNetClassifier(new ResNetConfig(ResNetBlockKind.Basic, [1, 1, 1, 1], 8, [4, 1]));
        Assert.Throws<ForbiddenPickleGlobalException>(() => ResNetCheckpoint.LoadBackbone(model, path));
        Assert.Equal(before, File.Exists(marker) ? File.GetLastWriteTimeUtc(marker) : (DateTime?)null);
    }

    [Fact]
    public void A_torchvision_layout_pth_in_torch_zip_format_loads_like_its_safetensors_copy()
    {
        // torchvision's layout: conv1/bn1/layer1..4/fc names, a plain fc (no hackathon head); like resnet18-f37072fd.pth,
        // no num_batches_tracked buffers (they then start at 0, as in PyTorch).
        var config = new ResNetConfig(ResNetBlockKind.Basic, [1, 1, 1, 1], 10, []);
        using var source = new ResNetClassifier(config);
        using var generator = new Generator(7);
        ResNetCheckpoint.Initialize(source, generator);
        // Non-trivial running statistics, so that loading them (not just the parameters) is checked.
        using (no_grad())
            foreach (var (name, buffer) in source.named_buffers())
                if (name.EndsWith(".running_mean") || name.EndsWith(".running_var")) buffer.copy_(rand(buffer.shape, generator: generator) + 0.5);
        var plain = source.state_dict().Where(kv => !kv.Key.EndsWith(".num_batches_tracked"))
            .Select(kv => KeyValuePair.Create(kv.Key[ResNetClassifier.BackbonePrefix.Length..], kv.Value)).ToList();
        Assert.Contains(plain, kv => kv.Key == "conv1.weight");
        var dir = Directory.CreateTempSubdirectory("resnet-pth-");
        try
        {
            var pth = Path.Combine(dir.FullName, "resnet-tiny-0123abcd.pth");
            var safetensors = Path.Combine(dir.FullName, "resnet-tiny.safetensors");
            TorchZipCheckpointWriter.Save(pth, plain);
            SafeTensorsFile.Save(safetensors, plain.ToDictionary(kv => kv.Key, kv => kv.Value));

            var fromPth = ResNetCheckpoint.Load(pth);
            var fromSafetensors = ResNetCheckpoint.Load(safetensors);
            using var a = fromPth.Model;
            using var b = fromSafetensors.Model;
            Assert.Equal(ResNetCheckpointLayout.Torchvision, fromPth.Layout);
            Assert.Equal(config, a.Config);
            Assert.Equal(b.Config, a.Config);
            var sa = a.state_dict();
            var sb = b.state_dict();
            Assert.Equal(sb.Keys.Order(StringComparer.Ordinal), sa.Keys.Order(StringComparer.Ordinal));
            foreach (var (name, tensor) in sb)
            {
                Assert.True(tensor.dtype == sa[name].dtype, name);
                Assert.True(tensor.bytes.SequenceEqual(sa[name].bytes), $"{name} differs between the .pth and the safetensors copy");
            }
            using var x = randn([2, 3, 32, 32], generator: generator);
            using var _ = no_grad();
            source.eval();
            using var expected = source.forward(x);
            using var ya = a.forward(x);
            Assert.Equal(0f, (ya - expected).abs().max().item<float>());

            // As the backbone of the hackathon classifier (what train-judge's pretrained_path does).
            using var hackathon = new ResNetClassifier(config with { FcOutputs = 16, HeadSizes = [8, 1] });
            var report = ResNetCheckpoint.LoadBackbone(hackathon, pth);
            Assert.Contains("resnet.layer4.0.conv2.weight", report.Loaded);
            Assert.DoesNotContain(report.Loaded, n => n.StartsWith("resnet.fc.") || n.StartsWith("final_layers."));
            var hs = hackathon.state_dict();
            foreach (var (name, tensor) in plain.Where(kv => !kv.Key.StartsWith("fc.")))
                Assert.True(tensor.bytes.SequenceEqual(hs[ResNetClassifier.BackbonePrefix + name].bytes), $"backbone {name} not loaded from the .pth");
        }
        finally { dir.Delete(recursive: true); }
    }
}
