using BiasBench.Abstractions;
using BiasBench.TestSupport;

namespace BiasBench.Data.Tests;

public sealed class PartitionAndJsonTests
{
    [Fact]
    public void Partition_file_maps_ids_to_splits_and_names_bad_lines()
    {
        var dir = Directory.CreateTempSubdirectory("partition-");
        try
        {
            var path = Path.Combine(dir.FullName, "list_eval_partition.txt");
            File.WriteAllText(path, "000001.jpg 0\r\n000002.jpg 1\r\n000003.jpg 2\r\n");
            var split = CelebAPartition.Read(path);
            Assert.Equal(DataSplit.Train, split["000001"]);
            Assert.Equal(DataSplit.Validation, split["000002"]);
            Assert.Equal(DataSplit.Test, split["000003"]);
            File.WriteAllText(path, "000001.jpg 0\n000002.jpg 7\n");
            var e = Assert.Throws<DataFormatException>(() => CelebAPartition.Read(path));
            Assert.Equal(2, e.Line);
        }
        finally { dir.Delete(true); }
    }

    [Fact]
    public void Hackathon_result_json_reads_as_a_table()
    {
        var table = JsonRecords.Read(Fixtures.Data("hackathon/result_sdxl.json"));
        Assert.Equal(300, table.RowCount);
        Assert.IsType<TextColumn>(table["id"]);
        Assert.Equal("0_attractive.jpg", table.Text("id")[0]);
        Assert.Equal(2.0, table.Numeric("attractive")[0]);
        Assert.True(table.Numeric("age")[0] > 0);
    }

    [Fact]
    public void CelebAMask_HQ_attribute_layout_reads_with_the_CelebA_reader()
    {
        var dir = Directory.CreateTempSubdirectory("hq-");
        try
        {
            var path = Path.Combine(dir.FullName, "CelebAMask-HQ-attribute-anno.txt");
            File.WriteAllText(path, "2\n5_o_Clock_Shadow Attractive Male\n0.jpg -1 1 -1\n1.jpg 1 -1 1\n");
            var t = CelebAAttributes.Read(path);
            Assert.Equal(new[] { "0", "1" }, t.Text("image_id").Values);
            Assert.Equal(new[] { 1.0, 0.0 }, t.Numeric("Attractive").Values);
        }
        finally { dir.Delete(true); }
    }
}
