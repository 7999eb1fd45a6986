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

    /// <summary>--devices: one worker per device for expensive stages ("all", or e.g. "cuda:0,cuda:1"); null: --device alone.</summary>
    [RegularExpression("^(all|(cpu|cuda|cuda:[0-9]+)(,(cpu|cuda|cuda:[0-9]+))*)$", ErrorMessage = "--devices must be all or a comma-separated list of cpu, cuda, cuda:N.")]
    public string? Devices { get; set; }

    /// <summary>--shard K/N: this process computes shard K of N of every expensive stage (biasbench merge assembles them).</summary>
    [RegularExpression("^[0-9]+/[0-9]+$", ErrorMessage = "--shard must be K/N, e.g. 0/4.")]
    public string? Shard { get; set; }

    /// <summary>--run-id: the run folder's name (shards of one run share it); default for shards: experiment + config fingerprint.</summary>
    [RegularExpression(@"^[A-Za-z0-9][A-Za-z0-9._-]*$", ErrorMessage = "--run-id may contain letters, digits, '.', '_' and '-' only.")]
    public string? RunId { get; set; }
}
