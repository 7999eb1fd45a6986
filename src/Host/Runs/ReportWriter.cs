using System.Net;
using System.Text;
using BiasBench.Host.Configuration;

namespace BiasBench.Host.Runs;

/// <summary>Writes report.md and report.html from what the stages produced: findings, warnings, tables and figures.</summary>
public static class ReportWriter
{
    public const int MaxTableRowsInReport = 60;

    public static void Write(RunStore store, ExperimentConfig config, IReadOnlyList<StageOutput> outputs)
    {
        var md = new StringBuilder();
        var html = new StringBuilder();
        var status = store.Manifest["status"]?.GetValue<string>() ?? "unknown";
        md.AppendLine($"# {config.Experiment}").AppendLine();
        if (config.Description is { Length: > 0 } d) md.AppendLine(d.Trim()).AppendLine();
        md.AppendLine($"Run `{store.RunId}` — status **{status}**. Config: `{config.FilePath}`. Full tables (CSV, Parquet) are in `tables/`, figures (PNG, SVG) in `figures/`, the log in `run.log`, and what ran (plugins, versions, seeds, machine) in `manifest.json`.").AppendLine();
        html.Append("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>").Append(Enc(config.Experiment)).Append("</title><style>")
            .Append("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}")
            .Append("table{border-collapse:collapse;margin:1em 0;font-size:0.85em}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}")
            .Append("th{background:#f3f3f3}td.t{text-align:left}img{max-width:100%;border:1px solid #eee}.warn{color:#a60}caption{caption-side:bottom;color:#666;text-align:left}")
            .Append("</style></head><body>");
        html.Append("<h1>").Append(Enc(config.Experiment)).Append("</h1>");
        if (config.Description is { Length: > 0 } dh) html.Append("<p>").Append(Enc(dh.Trim())).Append("</p>");
        html.Append("<p>Run <code>").Append(Enc(store.RunId)).Append("</code> — status <b>").Append(Enc(status)).Append("</b>.</p>");
        if (store.Manifest["error"]?.GetValue<string>() is { Length: > 0 } error)
        {
            md.AppendLine("## Why the run failed").AppendLine().AppendLine(error).AppendLine();
            html.Append("<h2>Why the run failed</h2><p class=\"warn\">").Append(Enc(error)).Append("</p>");
        }

        var findings = outputs.SelectMany(o => o.Findings.Select(f => (o, f))).ToList();
        if (findings.Count > 0)
        {
            md.AppendLine("## Findings").AppendLine();
            html.Append("<h2>Findings</h2><ul>");
            foreach (var (o, f) in findings)
            {
                md.AppendLine($"- {f.Text}{(f.Detail is null ? "" : $" ({f.Detail})")}");
                html.Append("<li>").Append(Enc(f.Text)).Append(f.Detail is null ? "" : $" <small>({Enc(f.Detail)})</small>").Append("</li>");
            }
            md.AppendLine();
            html.Append("</ul>");
        }
        var warnings = outputs.SelectMany(o => o.Warnings.Select(w => $"{o.Stage.Id}: {w}")).ToList();
        if (warnings.Count > 0)
        {
            md.AppendLine("## Warnings").AppendLine();
            html.Append("<h2>Warnings</h2><ul class=\"warn\">");
            foreach (var w in warnings) { md.AppendLine($"- {w}"); html.Append("<li>").Append(Enc(w)).Append("</li>"); }
            md.AppendLine();
            html.Append("</ul>");
        }

        foreach (var o in outputs)
        {
            if (o.Tables.Count == 0 && o.Figures.Count == 0) continue;
            var title = $"Stage `{o.Stage.Id}` ({o.Stage.Kind.ToString().ToLowerInvariant()}{(o.Stage.Plugins.Count > 0 ? ": " + string.Join(", ", o.Stage.Plugins) : "")})";
            md.AppendLine($"## {title}").AppendLine();
            html.Append("<h2>").Append(Enc(title.Replace("`", ""))).Append("</h2>");
            md.AppendLine($"{o.Primary?.RowCount ?? 0} rows; {o.ItemsComputed} computed, {o.ItemsFromCache} from cache, {o.ItemsFailed} failed; {o.Duration.TotalSeconds:F1} s.").AppendLine();
            foreach (var f in o.Figures)
            {
                var png = $"figures/{RunStore.SafeFileName($"{o.Stage.Id}-{f.Name}")}.png";
                md.AppendLine($"![{f.Caption}]({png})").AppendLine().AppendLine($"*{f.Caption}*").AppendLine();
                html.Append("<figure><img src=\"").Append(Enc(png)).Append("\" alt=\"").Append(Enc(f.Caption)).Append("\"><figcaption>").Append(Enc(f.Caption)).Append("</figcaption></figure>");
            }
            // Data and score tables can be large; the report shows analysis tables and the head of the others.
            foreach (var t in o.Tables)
            {
                var limit = o.Stage.Kind == StageKind.Analyze ? MaxTableRowsInReport * 10 : 10;
                var shown = t.RowCount > limit ? t.SelectRows(Enumerable.Range(0, limit).ToList()) : t;
                md.AppendLine($"### {t.Name}").AppendLine();
                md.AppendLine(TableFiles.ToMarkdown(shown));
                if (t.RowCount > limit) md.AppendLine($"*First {limit} of {t.RowCount} rows; full table in tables/.*").AppendLine();
                html.Append("<h3>").Append(Enc(t.Name)).Append("</h3>").Append(ToHtml(shown, t.Caption));
                if (t.RowCount > limit) html.Append("<p><i>First ").Append(limit).Append(" of ").Append(t.RowCount).Append(" rows; full table in tables/.</i></p>");
            }
        }
        html.Append("</body></html>");
        File.WriteAllText(Path.Combine(store.Directory, "report.md"), SecretValues.Redact(md.ToString()));
        File.WriteAllText(Path.Combine(store.Directory, "report.html"), SecretValues.Redact(html.ToString()));
    }

    private static string ToHtml(BiasBench.Abstractions.DataTable t, string? caption)
    {
        var sb = new StringBuilder("<table>");
        if (caption is not null) sb.Append("<caption>").Append(Enc(caption)).Append("</caption>");
        sb.Append("<tr>");
        foreach (var c in t.Columns) sb.Append("<th>").Append(Enc(c.Name)).Append("</th>");
        sb.Append("</tr>");
        for (var r = 0; r < t.RowCount; r++)
        {
            sb.Append("<tr>");
            foreach (var c in t.Columns)
                sb.Append(c.IsNumeric ? "<td>" : "<td class=\"t\">").Append(Enc(TableFiles.FormatForDisplay(c, r))).Append("</td>");
            sb.Append("</tr>");
        }
        return sb.Append("</table>").ToString();
    }

    private static string Enc(string s) => WebUtility.HtmlEncode(s);
}
