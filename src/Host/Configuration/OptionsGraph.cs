using System.Collections;
using System.Reflection;
using BiasBench.Abstractions;

namespace BiasBench.Host.Configuration;

/// <summary>
/// Walks a bound options object: the objects it is made of (the options, nested option classes, list elements) and
/// the component references it holds. A reference's own <see cref="ComponentReference.Options"/> belong to the
/// referenced component and are not walked here (they are walked when that component is checked or created).
/// </summary>
internal static class OptionsGraph
{
    private const int MaxDepth = 8;

    /// <summary>A component reference found in options: where (e.g. <c>rewards[1]</c>) and whether its property asks for an
    /// instance of its own (<see cref="ExclusiveInstanceAttribute"/>).</summary>
    public readonly record struct Found(string Path, ComponentReference Reference, bool Exclusive);

    public static List<Found> References(object? options)
    {
        var found = new List<Found>();
        Walk(options, "", false, found, null, 0);
        return found;
    }

    /// <summary>The options object and every object nested in it (not inside references).</summary>
    public static List<object> Objects(object? options)
    {
        var objects = new List<object>();
        Walk(options, "", false, null, objects, 0);
        return objects;
    }

    private static void Walk(object? value, string path, bool exclusive, List<Found>? references, List<object>? objects, int depth)
    {
        if (value is null || depth > MaxDepth) return;
        switch (value)
        {
            case ComponentReference reference:
                references?.Add(new Found(path, reference, exclusive));
                return;
            case string:
                return;
            case IDictionary dictionary:
                foreach (DictionaryEntry e in dictionary) Walk(e.Value, $"{path}.{e.Key}", exclusive, references, objects, depth + 1);
                return;
            case IEnumerable items:
                var i = 0;
                foreach (var item in items) Walk(item, $"{path}[{i++}]", exclusive, references, objects, depth + 1);
                return;
        }
        var type = value.GetType();
        // Options are made of what the binder can build: classes with a parameterless constructor (no Uri, CultureInfo...).
        if (!type.IsClass || type.GetConstructor(Type.EmptyTypes) is null) return;
        objects?.Add(value);
        foreach (var (key, prop) in OptionsBinder.BindableProperties(type))
        {
            if (prop.GetIndexParameters().Length > 0 || !prop.CanRead) continue;
            var propertyType = Nullable.GetUnderlyingType(prop.PropertyType) ?? prop.PropertyType;
            if (propertyType == typeof(string) || propertyType.IsPrimitive || propertyType.IsEnum) continue;
            Walk(prop.GetValue(value), path.Length == 0 ? key : $"{path}.{key}", prop.GetCustomAttribute<ExclusiveInstanceAttribute>() is not null,
                references, objects, depth + 1);
        }
    }
}
