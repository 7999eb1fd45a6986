using System.Collections;
using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Reflection;
using System.Text;
using YamlDotNet.RepresentationModel;

namespace BiasBench.Host.Configuration;

/// <summary>
/// Binds a YAML mapping to a plugin's options class: snake_case keys to public settable properties, with
/// type conversion, unknown-key detection (with the nearest valid name) and DataAnnotations validation.
/// Every problem carries the file, line and column of the offending node.
/// </summary>
public static partial class OptionsBinder
{
    public static object Bind(Type optionsType, YamlMappingNode node, string file, List<ConfigProblem> problems)
    {
        var instance = Activator.CreateInstance(optionsType)
            ?? throw new InvalidOperationException($"Cannot create options type {optionsType.FullName}.");
        var before = problems.Count;
        BindInto(instance, node, file, problems, "");
        // Known from here on: every message, log line and file the host writes masks these values.
        SecretValues.AddRange(SecretOptions.ValuesOf(instance));
        if (problems.Count == before) Validate(instance, node, file, problems, "");
        return instance;
    }

    public static string SnakeCase(string name)
    {
        var sb = new StringBuilder(name.Length + 8);
        for (var i = 0; i < name.Length; i++)
        {
            var c = name[i];
            if (char.IsUpper(c))
            {
                var prevLower = i > 0 && (char.IsLower(name[i - 1]) || char.IsDigit(name[i - 1]));
                var nextLower = i + 1 < name.Length && char.IsLower(name[i + 1]) && i > 0 && char.IsUpper(name[i - 1]);
                if (i > 0 && (prevLower || nextLower)) sb.Append('_');
                sb.Append(char.ToLowerInvariant(c));
            }
            else sb.Append(c);
        }
        return sb.ToString();
    }

    public static IReadOnlyDictionary<string, PropertyInfo> BindableProperties(Type type) =>
        type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.CanWrite && p.SetMethod!.IsPublic)
            .ToDictionary(p => SnakeCase(p.Name), p => p, StringComparer.Ordinal);

    private static void BindInto(object target, YamlMappingNode node, string file, List<ConfigProblem> problems, string path)
    {
        var props = BindableProperties(target.GetType());
        foreach (var (keyNode, valueNode) in node.Children)
        {
            var key = ((YamlScalarNode)keyNode).Value ?? "";
            if (!props.TryGetValue(key, out var prop))
            {
                problems.Add(new ConfigProblem(Loc(file, keyNode), $"unknown option '{path}{key}'{NearestName.Suggest(key, props.Keys)}."));
                continue;
            }
            if (TryBindStageOutput(target, prop, valueNode, file, problems, path + key)) continue; // { from_stage: ID }
            var secret = SecretOptions.IsSecret(prop);
            if (secret) SubstitutedValues.RegisterSecrets(valueNode);
            if (Convert(valueNode, prop.PropertyType, file, problems, path + key, secret) is { Ok: true } result)
                prop.SetValue(target, result.Value);
        }
    }

    private readonly record struct Converted(bool Ok, object? Value);

    private static Converted Convert(YamlNode node, Type type, string file, List<ConfigProblem> problems, string name, bool secret = false)
    {
        var underlying = Nullable.GetUnderlyingType(type);
        if (node is YamlScalarNode { Value: null or "~" or "null" } && node.Tag.IsEmpty && (underlying is not null || !type.IsValueType))
            return new(true, null);
        var t = underlying ?? type;
        Converted Fail(string expected)
        {
            var got = node is YamlScalarNode s ? secret ? $"'{SecretValues.Mask}' (a secret option: its value is not shown)" : $"'{s.Value}'" : node is YamlSequenceNode ? "a list" : "a mapping";
            problems.Add(new ConfigProblem(Loc(file, node), $"option '{name}' must be {expected}, got {got}."));
            return new(false, null);
        }

        if (t == typeof(string)) return node is YamlScalarNode str ? new(true, str.Value) : Fail("a string");
        if (t == typeof(bool))
            return node is YamlScalarNode { Value: { } b } && bool.TryParse(b, out var bv) ? new(true, bv) : Fail("true or false");
        if (t == typeof(int))
            return node is YamlScalarNode { Value: { } i } && int.TryParse(i, NumberStyles.Integer, CultureInfo.InvariantCulture, out var iv) ? new(true, iv) : Fail("an integer");
        if (t == typeof(long))
            return node is YamlScalarNode { Value: { } l } && long.TryParse(l, NumberStyles.Integer, CultureInfo.InvariantCulture, out var lv) ? new(true, lv) : Fail("an integer");
        if (t == typeof(double))
            return node is YamlScalarNode { Value: { } d } && double.TryParse(d, NumberStyles.Float, CultureInfo.InvariantCulture, out var dv) ? new(true, dv) : Fail("a number");
        if (t == typeof(float))
            return node is YamlScalarNode { Value: { } f } && float.TryParse(f, NumberStyles.Float, CultureInfo.InvariantCulture, out var fv) ? new(true, fv) : Fail("a number");
        if (t.IsEnum)
        {
            var names = Enum.GetNames(t).Select(SnakeCase).ToList();
            if (node is YamlScalarNode { Value: { } e })
            {
                var match = Enum.GetNames(t).FirstOrDefault(n => string.Equals(SnakeCase(n), e, StringComparison.OrdinalIgnoreCase) || string.Equals(n, e, StringComparison.OrdinalIgnoreCase));
                if (match is not null) return new(true, Enum.Parse(t, match));
                problems.Add(new ConfigProblem(Loc(file, node), secret
                    ? $"option '{name}' has an unknown value (a secret option: its value is not shown); valid: {string.Join(", ", names)}."
                    : $"option '{name}' has unknown value '{e}'{NearestName.Suggest(e, names)}."));
                return new(false, null);
            }
            return Fail($"one of {string.Join(", ", names)}");
        }
        if (t.IsArray || (t.IsGenericType && t.GetGenericTypeDefinition() is var g && (g == typeof(List<>) || g == typeof(IReadOnlyList<>) || g == typeof(IList<>) || g == typeof(IEnumerable<>))))
        {
            var element = t.IsArray ? t.GetElementType()! : t.GetGenericArguments()[0];
            // A single scalar is accepted as a one-element list: `covariates: Smiling`.
            var items = node switch
            {
                YamlSequenceNode seq => seq.Children.ToList(),
                YamlScalarNode s when s.Value is { Length: > 0 } => [node],
                _ => null,
            };
            if (items is null) return Fail("a list");
            var list = (IList)Activator.CreateInstance(typeof(List<>).MakeGenericType(element))!;
            var ok = true;
            for (var i = 0; i < items.Count; i++)
            {
                var c = Convert(items[i], element, file, problems, $"{name}[{i}]", secret);
                ok &= c.Ok;
                list.Add(c.Value);
            }
            if (!ok) return new(false, null);
            if (t.IsArray)
            {
                var arr = Array.CreateInstance(element, list.Count);
                list.CopyTo(arr, 0);
                return new(true, arr);
            }
            return new(true, list);
        }
        if (t.IsGenericType && (t.GetGenericTypeDefinition() == typeof(Dictionary<,>) || t.GetGenericTypeDefinition() == typeof(IReadOnlyDictionary<,>) || t.GetGenericTypeDefinition() == typeof(IDictionary<,>))
            && t.GetGenericArguments()[0] == typeof(string))
        {
            if (node is not YamlMappingNode map) return Fail("a mapping");
            var valueType = t.GetGenericArguments()[1];
            var dict = (IDictionary)Activator.CreateInstance(typeof(Dictionary<,>).MakeGenericType(typeof(string), valueType))!;
            var ok = true;
            foreach (var (k, v) in map.Children)
            {
                var key = ((YamlScalarNode)k).Value ?? "";
                var c = Convert(v, valueType, file, problems, $"{name}.{key}", secret);
                ok &= c.Ok;
                dict[key] = c.Value;
            }
            return ok ? new(true, dict) : new(false, null);
        }
        if (typeof(BiasBench.Abstractions.ComponentReference).IsAssignableFrom(t)) return ConvertReference(node, t, file, problems, name);
        if (t.IsClass && t.GetConstructor(Type.EmptyTypes) is not null)
        {
            if (node is not YamlMappingNode nested) return Fail("a mapping");
            var obj = Activator.CreateInstance(t)!;
            var before = problems.Count;
            BindInto(obj, nested, file, problems, name + ".");
            return problems.Count == before ? new(true, obj) : new(false, null);
        }
        problems.Add(new ConfigProblem(Loc(file, node), $"option '{name}' has a type ({t.Name}) that cannot be read from YAML."));
        return new(false, null);
    }

    private static void Validate(object instance, YamlMappingNode node, string file, List<ConfigProblem> problems, string path)
    {
        var results = new List<ValidationResult>();
        Validator.TryValidateObject(instance, new ValidationContext(instance), results, validateAllProperties: true);
        foreach (var r in results)
        {
            var member = r.MemberNames.FirstOrDefault();
            var key = member is null ? null : SnakeCase(member);
            var at = key is not null && node.Children.Keys.FirstOrDefault(k => ((YamlScalarNode)k).Value == key) is { } keyNode
                ? Loc(file, node.Children[keyNode]) : Loc(file, node);
            var message = r.ErrorMessage ?? "invalid value";
            if (member is not null) message = message.Replace(member, key);
            problems.Add(new ConfigProblem(at, SecretValues.Redact($"option '{path}{key ?? "?"}': {message}")));
        }
    }

    private static SourceLocation Loc(string file, YamlNode n) => new(file, (int)n.Start.Line, (int)n.Start.Column);
}
