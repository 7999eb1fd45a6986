using System.Text;
using BiasBench.Abstractions;
using BiasBench.TestSupport;

namespace BiasBench.Data.Tests;

public class CelebAAttributesTests
{
    private const string Header = "Bald Male Smiling \r\n"; // the real file has a trailing blank before CRLF

    [Fact]
    public void ParsesCrlfMultipleSpacesAndMissingFinalNewline()
    {
        using var dir = new TempDir();
        var path = dir.File("list_attr_celeba.txt", "3\r\n" + Header +
            "000001.jpg -1  1  1\r\n" +
            "000002.jpg  1 -1 -1\r\n" +
            "000003.jpg -1 -1  1");
        var t = CelebAAttributes.Read(path);

        Assert.Equal(3, t.RowCount);
        Assert.Equal(["image_id", "file", "Bald", "Male", "Smiling"], t.Columns.Select(c => c.Name));
        Check.Texts(["000001", "000002", "000003"], t.Text("image_id").Values);
        Check.Texts(["000001.jpg", "000002.jpg", "000003.jpg"], t.Text("file").Values);
        Assert.Equal([0.0, 1, 0], t.Numeric("Bald").Values);
        Assert.Equal([1.0, 0, 0], t.Numeric("Male").Values);
        Assert.Equal([1.0, 0, 1], t.Numeric("Smiling").Values);
        Assert.Contains("-1/1 mapped to 0 (absent) / 1 (present)", t.Caption);
        Assert.Equal(path, t.Source);
    }

    [Fact]
    public void AcceptsLfBomAndTrailingBlankLines()
    {
        using var dir = new TempDir();
        var path = dir.File("a.txt", "2\nBald Male\n000001.jpg -1 1\n000002.jpg 1 -1\n\n", bom: true);
        var t = CelebAAttributes.Read(path);
        Assert.Equal(2, t.RowCount);
        Assert.Equal([0.0, 1], t.Numeric("Bald").Values);
    }

    [Fact]
    public void BadValueNamesFileLineColumnAndAttribute()
    {
        using var dir = new TempDir();
        var path = dir.File("bad.txt", "2\r\n" + Header + "000001.jpg -1  1  1\r\n000002.jpg  1  0 -1\r\n");
        var e = Assert.Throws<DataFormatException>(() => CelebAAttributes.Read(path));
        Assert.StartsWith($"{path}:4:16:", e.Message);
        Assert.Contains("'Male'", e.Message);
        Assert.Contains("'0'", e.Message);
        Assert.Equal((4, 16), (e.Line, e.Column));
    }

    [Fact]
    public void WrongNumberOfValuesIsAnError()
    {
        using var dir = new TempDir();
        var few = dir.File("few.txt", "1\r\n" + Header + "000001.jpg -1  1\r\n");
        var e = Assert.Throws<DataFormatException>(() => CelebAAttributes.Read(few));
        Assert.StartsWith($"{few}:3:17:", e.Message);
        Assert.Contains("missing 'Smiling'", e.Message);

        var many = dir.File("many.txt", "1\r\n" + Header + "000001.jpg -1  1  1  1\r\n");
        e = Assert.Throws<DataFormatException>(() => CelebAAttributes.Read(many));
        Assert.StartsWith($"{many}:3:22:", e.Message);
    }

    [Fact]
    public void CountLineMustMatchRows()
    {
        using var dir = new TempDir();
        var fewer = dir.File("fewer.txt", "3\r\n" + Header + "000001.jpg -1  1  1\r\n000002.jpg -1  1  1\r\n");
        var e = Assert.Throws<DataFormatException>(() => CelebAAttributes.Read(fewer));
        Assert.StartsWith($"{fewer}:1:1:", e.Message);
        Assert.Contains("declares 3 images but the file has 2", e.Message);

        var partial = CelebAAttributes.Read(fewer, allowPartial: true);
        Assert.Equal(2, partial.RowCount);
        Assert.Contains("Partial file: 2 of the 3", partial.Caption);

        var more = dir.File("more.txt", "1\r\n" + Header + "000001.jpg -1  1  1\r\n000002.jpg -1  1  1\r\n");
        e = Assert.Throws<DataFormatException>(() => CelebAAttributes.Read(more, allowPartial: true));
        Assert.StartsWith($"{more}:4:1:", e.Message);

        var notNumber = dir.File("nan.txt", "lots\r\n" + Header);
        e = Assert.Throws<DataFormatException>(() => CelebAAttributes.Read(notNumber));
        Assert.StartsWith($"{notNumber}:1:1:", e.Message);
    }

    [Fact]
    public void DuplicateImageIsAnError()
    {
        using var dir = new TempDir();
        var path = dir.File("dup.txt", "2\r\n" + Header + "000001.jpg -1  1  1\r\n000001.jpg -1  1  1\r\n");
        var e = Assert.Throws<DataFormatException>(() => CelebAAttributes.Read(path));
        Assert.StartsWith($"{path}:4:1:", e.Message);
        Assert.Contains("first on line 3", e.Message);
    }

    [Fact]
    public void FullSizeFileParses()
    {
        // Same shape as the real 202,599-row file: checks the byte parser copes with the full size.
        const int rows = 202_599;
        var rnd = new Random(7);
        var sb = new StringBuilder(rows * 132);
        sb.Append(rows).Append("\r\n");
        sb.Append(string.Join(' ', Enumerable.Range(0, 40).Select(i => $"A{i}"))).Append(" \r\n");
        var expectedOnes = 0;
        for (var r = 1; r <= rows; r++)
        {
            sb.Append(r.ToString("D6")).Append(".jpg");
            for (var a = 0; a < 40; a++)
            {
                var one = rnd.Next(2) == 1;
                if (a == 20 && one) expectedOnes++;
                sb.Append(one ? "  1" : " -1");
            }
            if (r < rows) sb.Append("\r\n");
        }
        var data = Encoding.ASCII.GetBytes(sb.ToString());
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var t = CelebAAttributes.Parse(data, "synthetic.txt");
        sw.Stop();
        Assert.Equal(rows, t.RowCount);
        Assert.Equal(42, t.Columns.Count);
        Assert.Equal("202599", t.Text("image_id")[rows - 1]);
        Assert.Equal(expectedOnes, (int)t.Numeric("A20").Values.Sum());
        TestContext.Current.SendDiagnosticMessage($"Parsed {rows} CelebA rows in {sw.ElapsedMilliseconds} ms.");
    }

    [Fact]
    public void RealFirst20kFile()
    {
        var path = Fixtures.Data("celeba/list_attr_celeba_first20k.txt");

        // Line 1 keeps the full dataset's count (202599), so strict reading must refuse the truncated copy.
        var e = Assert.Throws<DataFormatException>(() => CelebAAttributes.Read(path));
        Assert.Contains("declares 202599 images but the file has 20000", e.Message);

        var t = CelebAAttributes.Read(path, allowPartial: true);
        Assert.Equal(20_000, t.RowCount);
        Assert.Equal(42, t.Columns.Count);
        Assert.Equal("5_o_Clock_Shadow", t.Columns[2].Name);
        Assert.Equal("Young", t.Columns[^1].Name);
        Assert.Equal("000001", t.Text("image_id")[0]);
        Assert.Equal("020000.jpg", t.Text("file")[19_999]);
        // 000001.jpg: -1 1 1 ... Male -1 ... Young 1
        Assert.Equal(0, t.Numeric("5_o_Clock_Shadow")[0]);
        Assert.Equal(1, t.Numeric("Arched_Eyebrows")[0]);
        Assert.Equal(1, t.Numeric("Attractive")[0]);
        Assert.Equal(0, t.Numeric("Male")[0]);
        Assert.Equal(1, t.Numeric("Young")[0]);
        // Counts from awk over the file.
        Assert.Equal(10_262, t.Numeric("Attractive").Values.Sum());
        Assert.Equal(8_431, t.Numeric("Male").Values.Sum());
        foreach (var c in t.Columns.OfType<NumericColumn>())
            Assert.All(c.Values, v => Assert.True(v is 0 or 1));
    }
}
