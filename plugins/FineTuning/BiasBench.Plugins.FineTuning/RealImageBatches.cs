using BiasBench.Abstractions;
using BiasBench.Imaging;
using BiasBench.Training;
using static TorchSharp.torch;

namespace BiasBench.Plugins.FineTuning;

/// <summary>
/// Real images for ReFL's pre-training loss: every image file of a folder (sorted by name), center-cropped to a square
/// and resized (PIL bicubic) to the generator's size. The images of pass (step, micro) are a seeded draw without
/// replacement, so a resumed run sees the same images.
/// </summary>
public sealed class RealImageBatches
{
    private static readonly string[] Extensions = [".png", ".jpg", ".jpeg", ".webp", ".bmp"];
    private readonly string[] _files;
    private readonly (int Height, int Width) _size;
    private readonly int _seed;

    public RealImageBatches(string directory, (int Height, int Width) size, int seed)
    {
        if (!Directory.Exists(directory)) throw new DirectoryNotFoundException($"dataset_directory '{directory}' does not exist.");
        _files = Directory.GetFiles(directory).Where(f => Extensions.Contains(System.IO.Path.GetExtension(f).ToLowerInvariant()))
            .Order(StringComparer.Ordinal).ToArray();
        if (_files.Length == 0) throw new FileNotFoundException($"dataset_directory '{directory}' holds no .png/.jpg/.jpeg/.webp/.bmp images.");
        _size = size;
        _seed = seed;
    }

    public int Count => _files.Length;

    /// <summary>[count, 3, H, W] float32 in [0, 1] on the CPU.</summary>
    public Tensor Batch(long step, int micro, int count)
    {
        var rng = Seeding.Random(_seed, 7004, step, micro);
        var order = new List<int>();
        while (order.Count < count) order.AddRange(Seeding.Permutation(_files.Length, rng));
        var (height, width) = _size;
        var plane = 3 * height * width;
        var flat = new float[count * plane];
        Parallel.For(0, count, k =>
        {
            var path = _files[order[k]];
            RgbImage image;
            try { image = ImageDecoder.DecodeFile(path); }
            catch (Exception e) when (e is ImageDecodeException or IOException)
            {
                throw new InvalidDataException($"Real image '{path}' cannot be read: {e.Message}", e);
            }
            var side = Math.Min(image.Width, image.Height);
            var square = ImageAugmentation.Crop(image, (image.Height - side) / 2, (image.Width - side) / 2, side, side);
            var resized = side == height && side == width ? square : PilResize.Bicubic(square, width, height);
            ClipPreprocessing.ToChw01(resized).CopyTo(flat, k * plane);
        });
        return tensor(flat, [count, 3, height, width]);
    }
}
