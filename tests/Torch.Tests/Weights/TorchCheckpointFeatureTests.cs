using BiasBench.Torch.Backend;
using BiasBench.Torch.Weights;
using TorchSharp;

namespace BiasBench.Torch.Tests.Weights;

/// <summary>
/// Checkpoint features the shared fixtures do not cover, in tiny files written by CPython's pickler with stand-in
/// objects for the torch globals (same opcodes and persistent ids as torch.save):
/// a protocol-4 zip with _rebuild_parameter, UntypedStorage, IntStorage, nested dicts/lists and non-tensor values;
/// and a legacy file whose tensor uses a storage view (view_metadata).
/// </summary>
public class TorchCheckpointFeatureTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("biasbench-ckpt-");

    public TorchCheckpointFeatureTests() => TorchBackend.EnsureInitialized();

    public void Dispose() => _dir.Delete(recursive: true);

    // {'p': Parameter(doubles[1:4]), 'u': uint8 tensor on an UntypedStorage, 'nested': {'sub': {'w': int32 [2,3]},
    //  'list': [int32 transposed view at offset 1, 7]}, 'epoch': 3}; storages 0 = (0.5, -1.25, 2.0, 1e300),
    //  1 = bytes (9, 200, 255), 2 = int32 (1, -2, 3, -4, 5, 2**31-1).
    private const string Protocol4Zip =
        "504b03041400000000008d1a775d3685aa9d900100009001000010000000617263686976652f646174612e706b6c80049585010000000000007d9428" +
        "8c0170948c0c746f7263682e5f7574696c73948c125f72656275696c645f706172616d6574657294939468028c125f72656275696c645f74656e736f" +
        "725f763294939428288c0773746f72616765948c05746f726368948c0d446f75626c6553746f726167659493948c0130948c03637075944b04749451" +
        "4b014b0385944b018594898c0b636f6c6c656374696f6e73948c0b4f7264657265644469637494939429529474945294886812295294879452948c01" +
        "759468062828680768088c0e556e747970656453746f726167659493948c013194680c4b037494514b00680e680f896812295294749452948c066e65" +
        "73746564947d94288c03737562947d948c01779468062828680768088c0a496e7453746f726167659493948c013294680c4b067494514b004b024b03" +
        "86944b034b01869489681229529474945294738c046c697374945d942868062828680768276828680c4b067494514b014b024b0286944b014b038694" +
        "896812295294749452944b0765758c0565706f6368944b03752e504b03041400000000008d1a775d853de31906000000060000001100000061726368" +
        "6976652f627974656f726465726c6974746c65504b03041400000000008d1a775decdf228920000000200000000e000000617263686976652f646174" +
        "612f30000000000000e03f000000000000f4bf00000000000000409c7500883ce4377e504b03041400000000008d1a775d5650b1de03000000030000" +
        "000e000000617263686976652f646174612f3109c8ff504b03041400000000008d1a775d0602361618000000180000000e000000617263686976652f" +
        "646174612f3201000000feffffff03000000fcffffff05000000ffffff7f504b03041400000000008d1a775dd19e675502000000020000000f000000" +
        "617263686976652f76657273696f6e330a504b010214031400000000008d1a775d3685aa9d9001000090010000100000000000000000000000800100" +
        "000000617263686976652f646174612e706b6c504b010214031400000000008d1a775d853de319060000000600000011000000000000000000000080" +
        "01be010000617263686976652f627974656f72646572504b010214031400000000008d1a775decdf228920000000200000000e000000000000000000" +
        "00008001f3010000617263686976652f646174612f30504b010214031400000000008d1a775d5650b1de03000000030000000e000000000000000000" +
        "000080013f020000617263686976652f646174612f31504b010214031400000000008d1a775d0602361618000000180000000e000000000000000000" +
        "000080016e020000617263686976652f646174612f32504b010214031400000000008d1a775dd19e675502000000020000000f000000000000000000" +
        "00008001b2020000617263686976652f76657273696f6e504b050600000000060006006e010000e10200000000";

    // Legacy format: 'whole' = [2,3] over root storage 'r' = (10..15 floats); 'viewed' = 2 elements at offset 1 of the
    // storage view 'v' = elements [2, 5) of 'r'.
    private const string LegacyWithView =
        "80028a0a6cfc9c46f9206aa850192e80024de9032e80027d710028581000000070726f746f636f6c5f76657273696f6e71014de903580d0000006c69" +
        "74746c655f656e6469616e710288580a000000747970655f73697a657371037d710428580500000073686f727471054b025803000000696e7471064b" +
        "0458040000006c6f6e6771074b0475752e80027d710028580500000077686f6c65710163746f7263682e5f7574696c730a5f72656275696c645f7465" +
        "6e736f725f76320a71022828580700000073746f72616765710363746f7263680a466c6f617453746f726167650a7104580100000072710558030000" +
        "0063707571064b064e747107514b004b024b038671084b034b018671098963636f6c6c656374696f6e730a4f726465726564446963740a710a295271" +
        "0b74710c52710d5806000000766965776564710e6802282868036804680568064b06580100000076710f4b024b03877110747111514b014b02857112" +
        "4b0185711389680a29527114747115527116752e80025d71005801000000727101612e06000000000000000000204100003041000040410000504100" +
        "00604100007041";

    private string Write(string name, string hex)
    {
        var path = Path.Combine(_dir.FullName, name);
        File.WriteAllBytes(path, Convert.FromHexString(hex));
        return path;
    }

    [Fact]
    public void Protocol4_zip_with_parameters_untyped_storage_and_nesting()
    {
        var path = Write("features.pt", Protocol4Zip);
        using var checkpoint = TorchCheckpoint.Load(path);
        var root = Assert.IsType<PickleDict>(checkpoint.Root);
        Assert.Equal(3L, root["epoch"]);

        var tensors = TorchCheckpoint.LoadStateDict(path);
        try
        {
            Assert.Equal(new[] { "nested.list.0", "nested.sub.w", "p", "u" }, tensors.Keys.Order(StringComparer.Ordinal));
            Assert.Equal(torch.ScalarType.Float64, tensors["p"].dtype);
            Assert.Equal(new[] { -1.25, 2.0, 1e300 }, tensors["p"].data<double>().ToArray());
            Assert.Equal(torch.ScalarType.Byte, tensors["u"].dtype);
            Assert.Equal(new byte[] { 9, 200, 255 }, tensors["u"].data<byte>().ToArray());
            Assert.Equal(new long[] { 2, 3 }, tensors["nested.sub.w"].shape);
            Assert.Equal(new[] { 1, -2, 3, -4, 5, int.MaxValue }, tensors["nested.sub.w"].data<int>().ToArray());
            // size (2, 2), stride (1, 3), offset 1 -> [[s1, s4], [s2, s5]]
            Assert.Equal(new[] { -2, 5, 3, int.MaxValue }, tensors["nested.list.0"].data<int>().ToArray());
        }
        finally { foreach (var t in tensors.Values) t.Dispose(); }

        // Float conversion applies to floating-point tensors only.
        var asFloat = TorchCheckpoint.LoadStateDict(path, torch.ScalarType.Float32);
        Assert.Equal(torch.ScalarType.Float32, asFloat["p"].dtype);
        Assert.Equal(torch.ScalarType.Int32, asFloat["nested.sub.w"].dtype);
        foreach (var t in asFloat.Values) t.Dispose();
    }

    [Fact]
    public void Legacy_storage_views_are_resolved()
    {
        var path = Write("legacy_view.pt", LegacyWithView);
        var tensors = TorchCheckpoint.LoadStateDict(path);
        try
        {
            Assert.Equal(new float[] { 10, 11, 12, 13, 14, 15 }, tensors["whole"].data<float>().ToArray());
            Assert.Equal(new float[] { 13, 14 }, tensors["viewed"].data<float>().ToArray());
        }
        finally { foreach (var t in tensors.Values) t.Dispose(); }
    }

    [Fact]
    public void Views_reaching_past_their_storage_are_rejected()
    {
        // Patch the legacy file so that 'viewed' starts at offset 2 of its 3-element view: it would read element 3.
        var bytes = Convert.FromHexString(LegacyWithView);
        // The last BINPERSID in the file belongs to 'viewed'; the BININT1 after it is its storage_offset.
        var persid = Array.LastIndexOf(bytes, (byte)'Q');
        Assert.Equal((byte)'K', bytes[persid + 1]);
        Assert.Equal(1, bytes[persid + 2]);
        bytes[persid + 2] = 2;
        var path = Path.Combine(_dir.FullName, "bad_view.pt");
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<InvalidDataException>(() => TorchCheckpoint.LoadStateDict(path));
        Assert.Contains("viewed", e.Message);
        Assert.Contains(path, e.Message);
    }
}
