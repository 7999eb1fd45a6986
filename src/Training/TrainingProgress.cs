namespace BiasBench.Training;

/// <summary>One progress report: where training is and how it is going.</summary>
public sealed record TrainingProgressReport(long Step, long TotalSteps, int Epoch, int Epochs, double? Loss, double LearningRate, double ItemsPerSecond)
{
    public double Fraction => TotalSteps <= 0 ? 0 : Math.Clamp((double)Step / TotalSteps, 0, 1);

    public override string ToString() =>
        $"epoch {Epoch + 1}/{Epochs}, step {Step}/{TotalSteps}{(Loss is { } l ? $", loss {l:F4}" : "")}, lr {LearningRate:G3}, {ItemsPerSecond:F1} items/s";
}

/// <summary>Throughput over a sliding window of steps (items per second).</summary>
public sealed class ThroughputMeter(int window = 20)
{
    private readonly Queue<(double Seconds, int Items)> _recent = new();
    private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();
    private double _last;

    public double Record(int items)
    {
        var now = _clock.Elapsed.TotalSeconds;
        _recent.Enqueue((now - _last, items));
        _last = now;
        while (_recent.Count > window) _recent.Dequeue();
        var seconds = _recent.Sum(r => r.Seconds);
        return seconds <= 0 ? 0 : _recent.Sum(r => r.Items) / seconds;
    }
}
