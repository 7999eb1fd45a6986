using System.ComponentModel.DataAnnotations;

namespace BiasBench.Host.Cli;

/// <summary>Process-wide settings from the command line and environment, validated when the host starts.</summary>
public sealed class HostSettings
{
    [Required, RegularExpression("^(cpu|cuda|auto|cuda:[0-9]+)$", ErrorMessage = "--device must be cpu, cuda, cuda:N or auto.")]
    public string Device { get; set; } = "auto";

    public List<string> PluginDirectories { get; set; } = [];

    public string? RunsDirectory { get; set; }
    public string? CacheDirectory { get; set; }
}
