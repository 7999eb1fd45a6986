using Serilog.Core;
using Serilog.Events;
using Spectre.Console;
using BiasBench.Host.Configuration;

namespace BiasBench.Host.Logging;

/// <summary>
/// Writes log events through Spectre.Console, so lines appear above live progress bars instead of garbling them
/// (Spectre renders its live display around writes made through the same console).
/// </summary>
public sealed class SpectreConsoleSink(IAnsiConsole console, LogEventLevel minimum) : ILogEventSink
{
    public void Emit(LogEvent e)
    {
        if (e.Level < minimum) return;
        var (tag, style) = e.Level switch
        {
            LogEventLevel.Fatal => ("FTL", "red bold"),
            LogEventLevel.Error => ("ERR", "red"),
            LogEventLevel.Warning => ("WRN", "yellow"),
            LogEventLevel.Information => ("INF", "grey"),
            _ => ("DBG", "grey"),
        };
        var text = e.RenderMessage();
        if (e.Exception is not null && e.Level >= LogEventLevel.Error) text += " — " + e.Exception.Message;
        console.MarkupLine($"[{style}]{e.Timestamp:HH:mm:ss} {tag}[/] {Markup.Escape(SecretValues.Redact(text))}");
    }
}
