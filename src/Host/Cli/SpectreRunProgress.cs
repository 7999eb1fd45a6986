using BiasBench.Host.Runs;
using Spectre.Console;

namespace BiasBench.Host.Cli;

/// <summary>Shows each stage's per-item work as a Spectre.Console progress bar.</summary>
public sealed class SpectreRunProgress(ProgressContext context) : IRunProgress
{
    public IProgressTask Start(string description, int total)
    {
        var task = context.AddTask(Markup.Escape(description), maxValue: Math.Max(1, total));
        if (total == 0) task.Value = task.MaxValue;
        return new Task(task);
    }

    private sealed class Task(ProgressTask task) : IProgressTask
    {
        public void Increment(int by = 1) => task.Increment(by);
        public void Dispose() { task.Value = task.MaxValue; task.StopTask(); }
    }
}
