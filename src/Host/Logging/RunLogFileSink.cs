using Serilog.Core;
using Serilog.Events;
using Serilog.Formatting.Display;
using BiasBench.Host.Configuration;

namespace BiasBench.Host.Logging;

/// <summary>
/// The run's log file. The run folder only exists once the config is valid, so events are buffered until
/// <see cref="Open"/> names the file; from then on every event is written and flushed immediately
/// (a killed run keeps its log).
/// </summary>
public sealed class RunLogFileSink : ILogEventSink, IDisposable
{
    private readonly MessageTemplateTextFormatter _formatter =
        new("{Timestamp:yyyy-MM-dd HH:mm:ss.fff zzz} [{Level:u3}] {SourceContext}: {Message:lj}{NewLine}{Exception}");
    private readonly List<LogEvent> _buffer = [];
    private readonly object _gate = new();
    private StreamWriter? _writer;

    public void Open(string path)
    {
        lock (_gate)
        {
            _writer?.Dispose();
            _writer = new StreamWriter(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read)) { AutoFlush = true };
            foreach (var e in _buffer) Write(e);
            _buffer.Clear();
        }
    }

    public void Emit(LogEvent logEvent)
    {
        lock (_gate)
        {
            if (_writer is null)
            {
                if (_buffer.Count < 10_000) _buffer.Add(logEvent);
                return;
            }
            Write(logEvent);
        }
    }

    /// <summary>Formats the event, masks secrets (<see cref="SecretValues"/>) and writes it.</summary>
    private void Write(LogEvent logEvent)
    {
        var text = new StringWriter();
        _formatter.Format(logEvent, text);
        _writer!.Write(SecretValues.Redact(text.ToString()));
    }

    public void Dispose()
    {
        lock (_gate) { _writer?.Dispose(); _writer = null; }
    }
}
