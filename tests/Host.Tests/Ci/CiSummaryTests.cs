using System.Diagnostics;
using BiasBench.TestSupport;

namespace BiasBench.Host.Tests.Ci;

/// <summary>.ci/summarize-trx (the end of .ci/run): skipped tests are counted and, with fixtures required, fail the run.</summary>
public class CiSummaryTests
{
    // The shape of the TRX xunit writes: a skipped test is in 'total' but not 'executed', with outcome NotExecuted.
    private const string Trx = """
        <?xml version="1.0" encoding="utf-8"?>
        <TestRun xmlns="http://microsoft.com/schemas/VisualStudio/TeamTest/2010">
          <Results>
            <UnitTestResult testName="A.Passes" outcome="Passed" />
            <UnitTestResult testName="A.Parity_test_without_its_fixture" outcome="NotExecuted" />
          </Results>
          <ResultSummary outcome="Completed">
            <Counters total="3" executed="2" passed="2" failed="0" error="0" timeout="0" aborted="0" inconclusive="0" passedButRunAborted="0" notRunnable="0" notExecuted="0" disconnected="0" warning="0" completed="0" inProgress="0" pending="0" />
          </ResultSummary>
        </TestRun>
        """;

    private static (int Code, string Output) Summarize(string results, bool requireFixtures)
    {
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(Fixtures.RepoRoot, ".ci", "summarize-trx"));
        psi.ArgumentList.Add(results);
        psi.Environment["BIASBENCH_REQUIRE_FIXTURES"] = requireFixtures ? "1" : "";
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, output);
    }

    [Fact]
    public void A_skipped_test_is_counted_named_and_fails_the_run_when_fixtures_are_required()
    {
        var dir = TestApp.TempDir();
        File.WriteAllText(Path.Combine(dir, "run.trx"), Trx);
        var (code, output) = Summarize(dir, requireFixtures: true);
        Assert.NotEqual(0, code);
        Assert.Contains("2 passed, 0 failed, 1 skipped", output);
        Assert.Contains("skipped: A.Parity_test_without_its_fixture", output);
        Assert.Contains("skipped while BIASBENCH_REQUIRE_FIXTURES=1", output);

        var (relaxed, text) = Summarize(dir, requireFixtures: false);
        Assert.Equal(0, relaxed);
        Assert.Contains("1 skipped", text);
    }
}
