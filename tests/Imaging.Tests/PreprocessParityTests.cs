using System.Text.Json;
using BiasBench.Abstractions;
using BiasBench.TestSupport;
using BiasBench.Torch.Backend;
using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Imaging.Tests;

/// <summary>Checks decoding and the three preprocessing pipelines against the PIL/torchvision fixtures.</summary>
public sealed class PreprocessParityTests(ITestOutputHelper output)
{
    // Lossless inputs: the tensor resizes follow torchvision's float operations (~2e-6 off), so the 1e-4 parity bound
    // holds; the fixture README's looser allowance (~2e-2) is for JPEG decoders, which differ by a few levels.
    private const double PngTolerance = 1e-4;
    private const double JpegTolerance = 2e-2;
    // One 8-bit level after normalisation is 1/255/0.2786 ~ 0.014; anything below this means identical bytes.
    private const double BitExactTolerance = 1e-5;

    private sealed record Case(string Name, RgbImage Image, bool Lossless);

    private static List<Case> LoadCases(string folder, out string expectedPath, out List<string> fixtureNames)
    {
        using var doc = Fixtures.Json($"{folder}/cases.json");
        expectedPath = Fixtures.File($"{folder}/expected.safetensors");
        var root = doc.RootElement;
        var cases = new List<Case>();
        fixtureNames = [];
        JsonElement files = root.TryGetProperty("files", out var f) ? f : default;
        foreach (var nameEl in root.GetProperty("images").EnumerateArray())
        {
            var name = nameEl.GetString()!;
            string path; bool lossless;
            if (files.ValueKind == JsonValueKind.Object && files.TryGetProperty(name, out var entry))
            {
                if (entry.TryGetProperty("fixture_file", out var ff))
                {
                    path = Fixtures.File($"{folder}/{ff.GetString()}"); lossless = true;
                }
                else
                {
                    path = Fixtures.Data(entry.GetProperty("data_file").GetString()!); lossless = false;
                }
            }
            else
            {
                // preprocess_hps lists the PNG file names directly.
                path = Fixtures.File($"{folder}/{name}"); lossless = !name.EndsWith(".jpg", StringComparison.OrdinalIgnoreCase) && !name.EndsWith(".jpeg", StringComparison.OrdinalIgnoreCase);
            }
            cases.Add(new Case(name, ImageDecoder.DecodeFile(path), lossless));
            if (lossless) fixtureNames.Add(name);
        }
        return cases;
    }

    private static IEnumerable<string> RgbKeys(string expectedPath)
    {
        using var f = BiasBench.Torch.Weights.SafeTensorsFile.Open(expectedPath);
        return f.Entries.Keys.Where(k => k.EndsWith("/rgb", StringComparison.Ordinal)).ToList();
    }

    [Fact]
    public void DecodedPngPixelsEqualPil()
    {
        int compared = 0;
        foreach (var folder in new[] { "preprocess", "preprocess_hps" })
        {
            var cases = LoadCases(folder, out var expectedPath, out _);
            foreach (var key in RgbKeys(expectedPath))
            {
                var name = key[..^"/rgb".Length];
                var c = cases.Single(x => x.Name == name);
                var (rgb, shape) = TestImages.LoadFixtureTensor<byte>(expectedPath, key);
                Assert.Equal(new long[] { c.Image.Height, c.Image.Width, 3 }, shape);
                int mismatches = 0;
                for (int i = 0; i < rgb.Length; i++) if (rgb[i] != c.Image.Pixels[i]) mismatches++;
                Assert.True(mismatches == 0, $"{folder}/{name}: {mismatches} of {rgb.Length} decoded samples differ from PIL.");
                compared++;
            }
        }
        Assert.True(compared > 0, "No '<name>/rgb' tensors found in the fixtures.");
    }

    [Fact]
    public void PilAndTensorCenterCropMatchTorchvision()
    {
        var cases = LoadCases("preprocess", out var expectedPath, out _);
        using var doc = Fixtures.Json("preprocess/cases.json");
        var mean = doc.RootElement.GetProperty("mean").EnumerateArray().Select(e => e.GetSingle()).ToArray();
        var std = doc.RootElement.GetProperty("std").EnumerateArray().Select(e => e.GetSingle()).ToArray();
        var failures = new List<string>();
        foreach (var c in cases)
        {
            foreach (var (transform, kind) in new[] { ("pil_bicubic_224", ClipTransformKind.PilCenterCrop), ("tensor_bicubic_224", ClipTransformKind.TensorCenterCrop) })
            {
                var (expected, shape) = TestImages.LoadFixtureTensor<float>(expectedPath, $"{c.Name}/{transform}");
                int size = (int)shape[^1];
                Assert.Equal(new long[] { 3, size, size }, shape);
                var actual = ClipPreprocessing.Apply(c.Image, kind, size, mean, std);
                var (diff, at) = TestImages.MaxAbsDiff(actual.Data, expected);
                // PIL's integer resample is ported bit for bit, so lossless inputs must give identical bytes.
                double tol = !c.Lossless ? JpegTolerance : kind == ClipTransformKind.PilCenterCrop ? BitExactTolerance : PngTolerance;
                output.WriteLine($"{c.Name} {transform}: max |diff| = {diff:E3} (tolerance {tol:E0})");
                if (!(diff <= tol)) failures.Add($"{c.Name}/{transform}: max |diff| {diff:E3} at flat index {at} > {tol:E0}");

                // The differentiable tensor path on the same input.
                using var input = ImageTensor(c.Image);
                using var t = TensorTransforms.ClipTensorPreprocess(input, kind, size, mean, std);
                var tdata = t.data<float>().ToArray();
                var (tdiff, tat) = TestImages.MaxAbsDiff(tdata, expected);
                double tmean = tdata.Zip(expected, (a, b) => Math.Abs((double)a - b)).Average();
                output.WriteLine($"{c.Name} {transform} (tensor path): max |diff| = {tdiff:E3}, mean |diff| = {tmean:E3}");
                if (kind == ClipTransformKind.PilCenterCrop)
                {
                    // Documented approximation: PIL rounds and clips to 8 bits after each pass, the float path does not, so
                    // sharp edges whose cubic overshoot PIL clips differ by several levels; on average it is well under one level.
                    if (!(tdiff <= 0.15 && tmean <= 6e-3)) failures.Add($"{c.Name}/{transform} tensor path: max |diff| {tdiff:E3} (> 0.15?) mean {tmean:E3} (> 6e-3?)");
                }
                else
                {
                    double ttol = c.Lossless ? PngTolerance : JpegTolerance;
                    if (!(tdiff <= ttol)) failures.Add($"{c.Name}/{transform} tensor path: max |diff| {tdiff:E3} at flat index {tat} > {ttol:E0}");
                }
            }
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void HpsPadMatchesHpsV2()
    {
        var cases = LoadCases("preprocess_hps", out var expectedPath, out _);
        var failures = new List<string>();
        foreach (var c in cases)
        {
            var key = $"{c.Name}/hps_resize_longest_pad_224";
            var (expected, shape) = TestImages.LoadFixtureTensor<float>(expectedPath, key);
            int size = (int)shape[^1];
            var actual = ClipPreprocessing.HpsPad(c.Image, size);
            var (diff, at) = TestImages.MaxAbsDiff(actual.Data, expected);
            double tol = c.Lossless ? PngTolerance : JpegTolerance;
            output.WriteLine($"{key}: max |diff| = {diff:E3}");
            if (!(diff <= tol)) failures.Add($"{key}: max |diff| {diff:E3} at flat index {at} > {tol:E0}");

            using var input = ImageTensor(c.Image);
            using var t = TensorTransforms.ClipTensorPreprocess(input, ClipTransformKind.HpsPad, size);
            var (tdiff, tat) = TestImages.MaxAbsDiff(t.data<float>().ToArray(), expected);
            output.WriteLine($"{key} (tensor path): max |diff| = {tdiff:E3}");
            if (!(tdiff <= tol)) failures.Add($"{key} tensor path: max |diff| {tdiff:E3} at flat index {tat} > {tol:E0}");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    private static Tensor ImageTensor(RgbImage image)
    {
        TorchBackend.EnsureInitialized();
        var chw = ClipPreprocessing.ToChw01(image);
        return tensor(chw, new long[] { 1, 3, image.Height, image.Width }, float32);
    }
}
