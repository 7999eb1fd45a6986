using System.Text.Json;
using BiasBench.Networks.Vision;
using BiasBench.TestSupport;
using BiasBench.Torch.Backend;
using BiasBench.Torch.Weights;

namespace BiasBench.Networks.Tests.Vision;

/// <summary>
/// The ResNet loader's <c>.pt</c>/<c>.pth</c> branch on real <c>torch.save</c> output (../shared/fixtures/torch_checkpoints:
/// zip, legacy, wrapped under "state_dict", OrderedDict). No torch-saved ResNet-layout file exists in the fixtures (only
/// these small generic state dicts), so this checks that such files go through the restricted reader and are refused
/// by name for not being a ResNet, and that a code-executing pickle is refused before anything runs; the torchvision key
/// mapping itself is covered through safetensors in <see cref="ResNetClassifierTests"/>.
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
}
