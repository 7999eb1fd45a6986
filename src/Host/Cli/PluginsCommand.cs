using System.CommandLine;
using BiasBench.Host.Configuration;
using BiasBench.Host.Plugins;
using Spectre.Console;

namespace BiasBench.Host.Cli;

/// <summary>
/// <c>biasbench plugins install &lt;package.nupkg | folder&gt;</c> and <c>biasbench plugins remove &lt;name&gt;</c>: the user's
/// plugin folder (~/.biasbench/plugins, or the first --plugins DIR), which the host loads by default.
/// </summary>
public static class PluginsCommand
{
    public static void AddSubcommands(Command plugins, Option<string[]> pluginDirs)
    {
        var source = new Argument<string>("source") { Description = "A plugin package (.nupkg) or the folder with the built plugin (its .dll and .deps.json)" };
        var force = new Option<bool>("--force") { Description = "Replace an installed plugin of the same name" };
        var install = new Command("install", $"Install a plugin into the user's plugin folder ({Shown(PluginInstaller.DefaultDirectory)}, or --plugins DIR), after checking it") { source, force };
        install.SetAction(r => Run(() =>
        {
            var installer = Installer(r, pluginDirs);
            var installed = installer.Install(r.GetValue(source)!, r.GetValue(force));
            var record = installed.Record;
            AnsiConsole.MarkupLine($"[green]Installed[/] {Markup.Escape(record.Name)} {Markup.Escape(record.Version)} into {Markup.Escape(installed.Directory)} " +
                                   $"(contracts {Markup.Escape(record.ContractsVersion ?? "?")}, from {Markup.Escape(record.Source)}).");
            foreach (var c in installed.Components)
                AnsiConsole.MarkupLine($"  {ExperimentValidator.Describe(c.Kind)} [bold]{Markup.Escape(c.Name)}[/] {Markup.Escape(c.Version)}: {Markup.Escape(c.Description)}");
            if (!IsLoadedByDefault(installer.PluginsDirectory))
                AnsiConsole.MarkupLine($"[yellow]Note:[/] {Markup.Escape(installer.PluginsDirectory)} is not the default plugin folder; pass --plugins {Markup.Escape(installer.PluginsDirectory)} (or plugin_paths: in the config) to use it.");
        }));

        var name = new Argument<string>("name") { Description = "The plugin's name (its assembly name, as 'biasbench plugins' lists it)" };
        var remove = new Command("remove", "Remove a plugin installed with 'biasbench plugins install'") { name };
        remove.SetAction(r => Run(() =>
        {
            var installer = Installer(r, pluginDirs);
            var record = installer.Remove(r.GetValue(name)!);
            AnsiConsole.MarkupLine($"[green]Removed[/] {Markup.Escape(record.Name)} {Markup.Escape(record.Version)} from {Markup.Escape(installer.PluginsDirectory)} (it came from {Markup.Escape(record.Source)}).");
        }));

        plugins.Subcommands.Add(install);
        plugins.Subcommands.Add(remove);
    }

    private static PluginInstaller Installer(ParseResult r, Option<string[]> pluginDirs)
    {
        var dirs = r.GetValue(pluginDirs) ?? [];
        if (dirs.Length > 1) throw new PluginInstallException($"--plugins names {dirs.Length} folders; 'plugins install' and 'plugins remove' take one (put the package or folder before --plugins).");
        return new PluginInstaller(dirs.Length == 1 ? dirs[0] : PluginInstaller.DefaultDirectory);
    }

    private static bool IsLoadedByDefault(string dir) =>
        string.Equals(Path.GetFullPath(dir).TrimEnd(Path.DirectorySeparatorChar), Path.GetFullPath(PluginInstaller.DefaultDirectory).TrimEnd(Path.DirectorySeparatorChar), StringComparison.Ordinal)
        || (Environment.GetEnvironmentVariable(BiasBenchApp.PluginPathVariable) ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Any(p => string.Equals(Path.GetFullPath(p).TrimEnd(Path.DirectorySeparatorChar), Path.GetFullPath(dir).TrimEnd(Path.DirectorySeparatorChar), StringComparison.Ordinal));

    private static string Shown(string path)
    {
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return home.Length > 0 && path.StartsWith(home + Path.DirectorySeparatorChar, StringComparison.Ordinal) ? "~" + path[home.Length..] : path;
    }

    /// <summary>Expected failures (a bad package, a refused plugin, a full disk) as one red line, never a stack trace.</summary>
    private static int Run(Action body)
    {
        try
        {
            body();
            return Program.ExitOk;
        }
        catch (Exception e) when (e is PluginInstallException or IOException or UnauthorizedAccessException or BadImageFormatException)
        {
            AnsiConsole.MarkupLine($"[red]Failed:[/] {Markup.Escape(e.Message)}");
            return Program.ExitFailed;
        }
    }
}
