using System.Text.Json.Nodes;
using BiasBench.Host.Runs;

namespace BiasBench.Host.Tests.Runs;

public class SharedAppendFileTests
{
    [Fact]
    public void A_torn_last_line_is_closed_before_the_next_record()
    {
        var file = Path.Combine(TestApp.TempDir(), "c.jsonl");
        File.WriteAllText(file, "{\"k\":\"a\",\"v\":1}\n{\"k\":\"b\",\"v\""); // a writer killed mid-line
        using (var cache = new ResultCache(file))
        {
            Assert.Equal(1, cache.Count);
            Assert.Equal(1, cache.CorruptLines);
            cache.Put("c", JsonValue.Create(3));
        }
        var lines = File.ReadAllLines(file);
        Assert.Equal(["{\"k\":\"a\",\"v\":1}", "{\"k\":\"b\",\"v\"", "{\"k\":\"c\",\"v\":3}"], lines);
        using var again = new ResultCache(file);
        Assert.True(again.TryGet("c", out var c) && c!.GetValue<int>() == 3);
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
