using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.RepresentationModel;

namespace BiasBench.Host.Configuration;

/// <summary>
/// Loads YAML so that every syntax error becomes a <see cref="ConfigException"/> with file, line and column. Some
/// malformed inputs (e.g. an unclosed flow mapping followed by another list item) make YamlDotNet's scanner throw a
/// bare InvalidOperationException with no position; the parser is wrapped to remember where it was, and which flow
/// collection ('{' or '[') is still open, so the message can point at it.
/// </summary>
internal static class YamlSyntax
{
    public static YamlStream Load(string text, string filePath)
    {
        var tracker = new TrackingParser(new Parser(new StringReader(text)));
        var stream = new YamlStream();
        try
        {
            stream.Load(tracker);
        }
        catch (YamlException e)
        {
            var message = $"malformed YAML: {Inner(e).Message.TrimEnd('.')}.";
            if (tracker.OpenFlow is { } open && open.Start.Line < e.Start.Line)
                message += $" The {Describe(open)} opened at line {open.Start.Line}, column {open.Start.Column} is not closed.";
            throw new ConfigException(new SourceLocation(filePath, (int)e.Start.Line, (int)e.Start.Column), message);
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or InvalidCastException or NullReferenceException or IndexOutOfRangeException)
        {
            // YamlDotNet lost track of the structure; the nearest open flow collection is the usual culprit.
            if (tracker.OpenFlow is { } open)
                throw new ConfigException(new SourceLocation(filePath, (int)open.Start.Line, (int)open.Start.Column),
                    $"malformed YAML: the {Describe(open)} opened here is not closed before the next line that is not part of it " +
                    $"(close it with '{(open is MappingStart ? '}' : ']')}' on the same line, or use an indented block instead).");
            var at = tracker.Last?.End ?? Mark.Empty;
            throw new ConfigException(new SourceLocation(filePath, Math.Max(1, (int)at.Line), Math.Max(1, (int)at.Column)),
                "malformed YAML: the structure breaks after this point (check indentation, brackets and quotes).");
        }
        return stream;
    }

    /// <summary>Reports and removes mapping entries whose key is a list or mapping (e.g. <c>[a, b]: 1</c>), anywhere in the tree.</summary>
    public static void RemoveNonScalarKeys(YamlNode node, Action<YamlNode, string> problem)
    {
        switch (node)
        {
            case YamlMappingNode map:
                foreach (var key in map.Children.Keys.Where(k => k is not YamlScalarNode).ToList())
                {
                    problem(key, $"a key must be a plain name, not a {(key is YamlSequenceNode ? "list" : "mapping")} (write 'name: value').");
                    map.Children.Remove(key);
                }
                foreach (var value in map.Children.Values) RemoveNonScalarKeys(value, problem);
                break;
            case YamlSequenceNode seq:
                foreach (var child in seq.Children) RemoveNonScalarKeys(child, problem);
                break;
        }
    }

    private static string Describe(ParsingEvent e) => e is MappingStart ? "flow mapping '{'" : "flow list '['";

    private static Exception Inner(Exception e) => e.InnerException is YamlException inner ? Inner(inner) : e;

    private sealed class TrackingParser(IParser inner) : IParser
    {
        private readonly Stack<ParsingEvent?> _collections = new();

        public ParsingEvent? Last { get; private set; }

        /// <summary>The innermost flow mapping or list that has started and not ended.</summary>
        public ParsingEvent? OpenFlow => _collections.FirstOrDefault(e => e is not null);

        public ParsingEvent? Current => inner.Current;

        public bool MoveNext()
        {
            var moved = inner.MoveNext();
            if (!moved || inner.Current is not { } e) return moved;
            Last = e;
            switch (e)
            {
                case MappingStart m: _collections.Push(m.Style == MappingStyle.Flow || IsFlowStart(m) ? m : null); break;
                case SequenceStart s: _collections.Push(s.Style == SequenceStyle.Flow ? s : null); break;
                case MappingEnd or SequenceEnd when _collections.Count > 0: _collections.Pop(); break;
            }
            return moved;
        }

        // A flow mapping inside a block list ('- {a: 1') is reported with the Any style by some YamlDotNet versions.
        private static bool IsFlowStart(MappingStart m) => m.Style == MappingStyle.Any && m.Start.Line == m.End.Line && m.End.Index - m.Start.Index == 1;
    }
}
