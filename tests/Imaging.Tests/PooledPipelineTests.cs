using BiasBench.Abstractions;
using BiasBench.TestSupport;
using SkiaSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Imaging.Tests;

/// <summary>
/// The allocation-free scoring path (pooled decode, preprocessing written in place, staging tensors) gives exactly the
/// values of the allocating one, and the optional reduced-scale JPEG decode is off by default and stays within the
/// deviation the README states.
/// </summary>
public sealed class PooledPipelineTests(ITestOutputHelper output)
{
    private static IEnumerable<(string Name, byte[] Encoded)> Images()
    {
        yield return ("random.png", TestImages.Encode(TestImages.Random(301, 217, 3), SKEncodedImageFormat.Png, 100));
        yield return ("random.jpg", TestImages.Encode(TestImages.Random(640, 480, 4), SKEncodedImageFormat.Jpeg, 90));
        yield return ("tall.jpg", TestImages.Encode(TestImages.Random(97, 300, 5), SKEncodedImageFormat.Jpeg, 80));
        yield return ("oriented.jpg", TestImages.WithExifOrientation(TestImages.Encode(TestImages.Random(120, 80, 6), SKEncodedImageFormat.Jpeg, 90), 6));
    }

    [Fact]
    public void Pooled_decode_and_in_place_preprocessing_equal_the_allocating_paths_bit_for_bit()
    {
        const int size = 64;
        // Twice round: the second pass reuses the pooled arrays the first one returned.
        for (var pass = 0; pass < 2; pass++)
            foreach (var (name, encoded) in Images())
            {
                var reference = ImageDecoder.Decode(encoded, name);
                using (var pooled = ImageDecoder.DecodePooled(encoded, name))
                {
                    Assert.Equal((reference.Width, reference.Height), (pooled.Image.Width, pooled.Image.Height));
                    Assert.True(reference.Pixels.AsSpan().SequenceEqual(pooled.Image.Pixels), $"{name}: pooled decode differs");
                    foreach (var kind in Enum.GetValues<ClipTransformKind>())
                    {
                        var expected = ClipPreprocessing.Apply(reference, kind, size).Data;
                        var actual = new float[3 * size * size];
                        actual.AsSpan().Fill(float.NaN); // every value must be written
                        ClipPreprocessing.ApplyInto(pooled.Image, kind, size, actual);
                        Assert.True(expected.AsSpan().SequenceEqual(actual), $"{name} {kind}: in-place preprocessing differs");
                    }
                }
            }
    }

    [Fact]
    public void A_wrong_destination_size_is_refused()
    {
        var image = TestImages.Random(10, 10, 1);
        var e = Assert.Throws<ArgumentException>(() => ClipPreprocessing.PilCenterCropInto(image, 8, new float[3 * 8 * 8 - 1]));
        Assert.Contains("3x8x8", e.Message);
    }

    [Fact]
    public void Staging_slots_are_the_uploaded_tensor_and_gaps_close_in_order()
    {
        using var staging = new PixelStaging(capacity: 3, size: 2, CPU);
        float[] uploaded;
        using (var lease = staging.Rent())
        {
            for (var k = 0; k < 3; k++) lease.Slot(k).Fill(k + 1);
            lease.Move(2, 1); // image 1 failed: image 2 moves up
            using var batch = lease.Upload(2, ScalarType.Float32);
            Assert.Equal(new long[] { 2, 3, 2, 2 }, batch.shape);
            uploaded = batch.data<float>().ToArray();
        }
        Assert.Equal(Enumerable.Repeat(1f, 12).Concat(Enumerable.Repeat(3f, 12)), uploaded);
        using var again = staging.Rent(); // the returned buffer is reused, not reallocated
        Assert.Equal(1f, again.Slot(0)[0]);
        Assert.Throws<ArgumentOutOfRangeException>(() => again.Slot(3));
    }

    /// <summary>
    /// The preprocess fixtures' JPEGs decoded at a reduced DCT scale, against PIL's full decode + resize (the fixture). For
    /// the hackathon's 1024 px image (decoded at 256 px) the README states max 0.195, mean 0.011 in normalised units (about
    /// 14 and 0.8 8-bit levels); the bound leaves a little room. A JPEG less than twice the model's size (CelebA's 400 px
    /// one, decoded at 250 px) deviates more (max 0.76, mean 0.028, also in the README) and is only printed. A full decode
    /// must stay within the fixture's 2e-2.
    /// </summary>
    [Fact]
    public void Jpeg_dct_scaling_is_off_by_default_and_stays_within_the_stated_deviation()
    {
        using var doc = Fixtures.Json("preprocess/cases.json");
        var files = doc.RootElement.GetProperty("files");
        var expectedPath = Fixtures.File("preprocess/expected.safetensors");
        var jpegs = doc.RootElement.GetProperty("images").EnumerateArray().Select(e => e.GetString()!)
            .Where(n => files.TryGetProperty(n, out var f) && f.TryGetProperty("data_file", out var d) && d.GetString()!.EndsWith(".jpg", StringComparison.OrdinalIgnoreCase))
            .ToList();
        Assert.NotEmpty(jpegs);
        var checkedLarge = 0;
        foreach (var name in jpegs)
        {
            var encoded = File.ReadAllBytes(Fixtures.Data(files.GetProperty(name).GetProperty("data_file").GetString()!));
            var (expected, shape) = TestImages.LoadFixtureTensor<float>(expectedPath, $"{name}/pil_bicubic_224");
            var size = (int)shape[^1];
            var full = ImageDecoder.Decode(encoded, name);
            var limits = new ImageDecodeLimits { JpegDctScalingMinShortSide = size };
            var scaled = ImageDecoder.Decode(encoded, name, limits);
            // Never below the model's size; an image already smaller than it decodes at full size.
            if (Math.Min(full.Width, full.Height) >= size)
                Assert.True(Math.Min(scaled.Width, scaled.Height) >= size, $"{name}: decoded at {scaled.Width}x{scaled.Height}, below {size}");
            else Assert.Equal((full.Width, full.Height), (scaled.Width, scaled.Height));
            Assert.Null(ImageDecodeLimits.Default.JpegDctScalingMinShortSide);
            var (fullDiff, _) = TestImages.MaxAbsDiff(ClipPreprocessing.PilCenterCrop(full, size).Data, expected);
            var reduced = ClipPreprocessing.PilCenterCrop(scaled, size).Data;
            var (diff, _) = TestImages.MaxAbsDiff(reduced, expected);
            var mean = reduced.Zip(expected, (a, b) => Math.Abs((double)a - b)).Average();
            output.WriteLine($"{name}: full decode {full.Width}x{full.Height} max |diff| {fullDiff:E2}; DCT-scaled {scaled.Width}x{scaled.Height} max |diff| {diff:E3}, mean {mean:E3}");
            // 2e-2 (normalised, ~1.5 levels): SkiaSharp's libjpeg-turbo and PIL's libjpeg round the IDCT and chroma
            // upsampling differently; the project's bound for JPEG inputs (PNG inputs are held to 1e-4).
            Assert.True(fullDiff <= 2e-2, $"{name}: the full decode is {fullDiff} from PIL");
            if (Math.Min(full.Width, full.Height) >= 2 * size)
            {
                checkedLarge++;
                Assert.True(scaled.Width < full.Width, $"{name}: not decoded at a smaller scale");
                // Not a parity check: a DCT-scaled decode is a different, smaller image (off by default). The bound pins the
                // deviation measured on the fixtures and stated in the README (1024 px JPEG: max 0.195, mean 0.011).
                Assert.True(diff <= 0.25 && mean <= 0.015, $"{name}: DCT-scaled max |diff| {diff}, mean {mean}");
            }
        }
        Assert.True(checkedLarge > 0, "no fixture JPEG is large enough to be decoded at a smaller scale");
        // PNG and other formats always decode at full size.
        var png = TestImages.Encode(TestImages.Random(600, 500, 9), SKEncodedImageFormat.Png, 100);
        Assert.Equal(600, ImageDecoder.Decode(png, "p.png", new ImageDecodeLimits { JpegDctScalingMinShortSide = 64 }).Width);
    }
}
