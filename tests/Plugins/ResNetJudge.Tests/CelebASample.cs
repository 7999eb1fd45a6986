using BiasBench.TestSupport;

namespace BiasBench.Plugins.ResNetJudge.Tests;

/// <summary>
/// A tiny CelebA-layout training set in a temp folder, built from the shipped real data: the attribute file is the first
/// <c>count</c> rows of <c>celeba/list_attr_celeba_first20k.txt</c> (header and rows byte for byte, CRLF), and each of
/// those ids gets one of the real CelebA test photos in <c>celeba/test_img</c>. Those photos are not among the 20,000
/// rows shipped, so the pairing of photo and row is arbitrary: this exercises reading, joining, splitting and the
/// training loop, not what the labels mean. <see cref="Labels"/> is read from the file here, independently of the
/// reader under test. With <c>maskHq</c> the same rows are written in CelebAMask-HQ's layout instead
/// (<c>CelebAMask-HQ-attribute-anno.txt</c>: count, names, <c>0.jpg  1 -1 ...</c>; images 0.jpg, 1.jpg, ...).
/// </summary>
internal sealed class CelebASample : IDisposable
{
    public string Root { get; }
    public string Images { get; }
    public string AttributesFile { get; }
    /// <summary>Image ids in row order.</summary>
    public IReadOnlyList<string> Ids { get; }
    /// <summary>Per attribute name, per id: 1 for "1", 0 for "-1".</summary>
    public IReadOnlyDictionary<string, IReadOnlyDictionary<string, int>> Labels { get; }

    public CelebASample(int count, bool maskHq = false)
    {
        Root = Directory.CreateTempSubdirectory("celeba-sample-").FullName;
        Images = Path.Combine(Root, maskHq ? "CelebA-HQ-img" : "img_align_celeba");
        Directory.CreateDirectory(Images);
        var lines = File.ReadLines(Fixtures.Data("celeba/list_attr_celeba_first20k.txt")).Take(count + 2).ToList();
        var names = lines[1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var photos = Directory.GetFiles(Fixtures.Data("celeba/test_img"), "*.jpg").Order(StringComparer.Ordinal).ToArray();
        Assert.NotEmpty(photos);

        var ids = new List<string>();
        var labels = names.ToDictionary(n => n, _ => new Dictionary<string, int>(StringComparer.Ordinal));
        var rows = new List<string>();
        for (var r = 0; r < count; r++)
        {
            var tokens = lines[r + 2].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var id = maskHq ? r.ToString(System.Globalization.CultureInfo.InvariantCulture) : Path.GetFileNameWithoutExtension(tokens[0]);
            ids.Add(id);
            for (var a = 0; a < names.Length; a++)
                labels[names[a]][id] = tokens[a + 1] switch { "1" => 1, "-1" => 0, var v => throw new InvalidDataException($"unexpected value {v}") };
            // CelebAMask-HQ rows: "<n>.jpg" then the values separated by single spaces (its header count is 30000).
            rows.Add(maskHq ? $"{id}.jpg {string.Join(' ', tokens.Skip(1))}" : lines[r + 2]);
            File.Copy(photos[r % photos.Length], Path.Combine(Images, id + ".jpg"));
        }
        AttributesFile = Path.Combine(Root, maskHq ? "CelebAMask-HQ-attribute-anno.txt" : "list_attr_celeba.txt");
        var header = maskHq ? ["30000", string.Join(' ', names)] : lines.Take(2);
        File.WriteAllText(AttributesFile, string.Join(maskHq ? "\n" : "\r\n", header.Concat(rows)) + (maskHq ? "\n" : ""));
        Ids = ids;
        Labels = labels.ToDictionary(kv => kv.Key, kv => (IReadOnlyDictionary<string, int>)kv.Value);
    }

    /// <summary>Writes list_eval_partition.txt beside the attribute file ("000001.jpg 0", 0/1/2 = train/validation/test).</summary>
    public string WritePartition(IEnumerable<(string Id, int Split)> entries)
    {
        var path = Path.Combine(Root, "list_eval_partition.txt");
        File.WriteAllLines(path, entries.Select(e => $"{e.Id}.jpg {e.Split}"));
        return path;
    }

    /// <summary>A partition with <paramref name="perClass"/> positives and negatives (of <paramref name="attribute"/>) in
    /// validation and as many in test, the rest in train; returns the split per id.</summary>
    public Dictionary<string, int> BalancedPartition(string attribute, int perClass)
    {
        var split = Ids.ToDictionary(id => id, _ => 0, StringComparer.Ordinal);
        foreach (var cls in new[] { 0, 1 })
        {
            var members = Ids.Where(id => Labels[attribute][id] == cls).ToList();
            Assert.True(members.Count >= 2 * perClass + 1, $"the first {Ids.Count} rows have too few {attribute}={cls} for this sample");
            for (var k = 0; k < perClass; k++) { split[members[k]] = 1; split[members[perClass + k]] = 2; }
        }
        return split;
    }

    public void Dispose()
    {
        try { Directory.Delete(Root, true); } catch (IOException) { }
    }
}
