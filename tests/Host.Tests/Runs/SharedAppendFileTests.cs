using System.Text.Json.Nodes;
using BiasBench.Host.Runs;

namespace BiasBench.Host.Tests.Runs;

public class SharedAppendFileTests
{
    [Fact]
    public void A_torn_line_is_dropped_when_read_and_closed_when_another_process_leaves_one_behind()
    {
        var file = Path.Combine(TestApp.TempDir(), "c.jsonl");
        File.WriteAllText(file, "{\"k\":\"a\",\"v\":1}\n{\"k\":\"b\",\"v\""); // a writer killed mid-line
        using (var cache = new ResultCache(file))
        {
            Assert.Equal(1, cache.Count);
            Assert.Equal(1, cache.CorruptLines);
            Assert.Equal(["{\"k\":\"a\",\"v\":1}"], File.ReadAllLines(file)); // repaired in place
            // Another process, appending to the same file, is killed mid-line while this one has it open.
            using (var other = new FileStream(file, FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) other.Write("{\"k\":\"x\""u8);
            cache.Put("c", JsonValue.Create(3));
        }
        Assert.Equal(["{\"k\":\"a\",\"v\":1}", "{\"k\":\"x\"", "{\"k\":\"c\",\"v\":3}"], File.ReadAllLines(file)); // c on its own line
        using var again = new ResultCache(file);
        Assert.True(again.TryGet("c", out var c) && c!.GetValue<int>() == 3);
        Assert.Equal((2, 1), (again.Count, again.CorruptLines));
    }

    [Fact]
    public void Several_users_in_one_process_share_the_file_and_lose_no_line()
    {
        var file = Path.Combine(TestApp.TempDir(), "c.jsonl");
        var caches = Enumerable.Range(0, 4).Select(_ => new ResultCache(file)).ToList();
        Parallel.For(0, 4, w =>
        {
            for (var i = 0; i < 250; i++) caches[w].Put($"{w}-{i}", new JsonObject { ["w"] = w, ["text"] = new string('x', i) });
        });
        caches[1].Dispose(); // closing one user must not close (or unlock) the others' file
        caches[0].Put("after", JsonValue.Create(1));
        foreach (var c in caches) c.Dispose();
        var lines = File.ReadAllLines(file);
        Assert.Equal(1001, lines.Length);
        Assert.All(lines, l => Assert.NotNull(JsonNode.Parse(l)!["k"]));
        using var reread = new ResultCache(file);
        Assert.Equal(1001, reread.Count);
        Assert.Equal(0, reread.CorruptLines);
    }
}
