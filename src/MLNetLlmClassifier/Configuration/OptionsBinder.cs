using System.Globalization;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace MLNetLlmClassifier.Configuration;

/// <summary>
/// Sets hyperparameter values on an options object by name, through reflection over its public settable
/// properties and public fields (ML.NET's own trainer options use fields). A name may be a dotted path into
/// a nested object (<c>Prompt.Instruction</c>). Values are converted to the member's type: numbers between
/// numeric types (a non-integral number for an integer member is an error), text to enums, and JSON values
/// (from a config file) with System.Text.Json. Names match case-insensitively when no exact match exists.
/// Nothing here knows a particular trainer, so any options class plugs in.
/// </summary>
public static class OptionsBinder
{
    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNameCaseInsensitive = true,
        Converters = { new JsonStringEnumConverter() },
    };

    /// <summary>Sets every value on <paramref name="options"/>; the first that cannot be set is an error naming it.</summary>
    public static void Apply(object options, IEnumerable<KeyValuePair<string, object?>> values)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(values);
        foreach (var (name, value) in values) Apply(options, name, value);
    }

    /// <summary>Sets one value, by member name or dotted path.</summary>
    public static void Apply(object options, string path, object? value)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (string.IsNullOrWhiteSpace(path)) throw new ArgumentException("Give the name of the option to set.", nameof(path));
        var parts = path.Split('.');
        object target = options;
        for (int i = 0; i < parts.Length - 1; i++)
        {
            var member = Find(target.GetType(), parts[i], path, forWrite: false);
            target = member.Get(target)
                ?? throw new ArgumentException($"Option '{path}': {target.GetType().Name}.{member.Name} is null, so '{parts[i + 1]}' cannot be set on it.");
        }
        var last = Find(target.GetType(), parts[^1], path, forWrite: true);
        last.Set(target, ConvertValue(value, last.Type, path));
    }

    /// <summary>Whether <paramref name="path"/> names a settable member of <paramref name="optionsType"/> (walking nested member types).</summary>
    public static bool CanSet(Type optionsType, string path)
    {
        var parts = path.Split('.');
        var type = optionsType;
        for (int i = 0; i < parts.Length; i++)
        {
            var m = TryFind(type, parts[i], forWrite: i == parts.Length - 1);
            if (m is null) return false;
            type = m.Value.Type;
        }
        return true;
    }

    /// <summary>A shallow copy of an options object (every field copied), so that a trial changes its copy only.</summary>
    public static T ShallowCopy<T>(T options) where T : class =>
        (T)typeof(object).GetMethod("MemberwiseClone", BindingFlags.Instance | BindingFlags.NonPublic)!.Invoke(options, null)!;

    /// <summary>Converts a hyperparameter value to a member type; what cannot be converted is an error naming <paramref name="path"/>.</summary>
    public static object? ConvertValue(object? value, Type type, string path)
    {
        var underlying = Nullable.GetUnderlyingType(type);
        if (value is null)
        {
            if (type.IsValueType && underlying is null)
                throw new ArgumentException($"Option '{path}': null cannot be given to an option of type {type.Name}.");
            return null;
        }
        if (value is JsonElement e)
        {
            // A JSON string for a collection or a flag reads as text does ("1=World,2=Sports", "A,B", "true").
            if (e.ValueKind == JsonValueKind.String && IsCollectionOrBool(underlying ?? type)) return ConvertValue(e.GetString(), type, path);
            try { return e.ValueKind == JsonValueKind.Null ? ConvertValue(null, type, path) : ConvertValue(e.Deserialize(underlying ?? type, Json), type, path); }
            catch (JsonException ex) { throw new ArgumentException($"Option '{path}': {e.GetRawText()} is not a {Describe(type)} ({ex.Message}).", ex); }
        }
        var target = underlying ?? type;
        if (target.IsInstanceOfType(value)) return value;
        if (value is string textValue && IsCollectionOrBool(target)) return ConvertText(textValue, type, path);
        try
        {
            if (target.IsEnum)
            {
                if (value is string s)
                    return Enum.TryParse(target, s.Replace("-", "").Replace("_", ""), ignoreCase: true, out var parsed) && Enum.IsDefined(target, parsed!) ? parsed
                        : throw new ArgumentException($"Option '{path}': '{s}' is not a {target.Name} (use one of {string.Join(", ", Enum.GetNames(target))}).");
                if (IsIntegral(value.GetType())) return Enum.ToObject(target, value);
            }
            else if (IsNumeric(target) && IsNumeric(value.GetType()))
            {
                double d = Convert.ToDouble(value, CultureInfo.InvariantCulture);
                if (IsIntegral(target) && d != Math.Floor(d))
                    throw new ArgumentException($"Option '{path}': {d.ToString(CultureInfo.InvariantCulture)} is not a whole number, but the option is {Describe(type)}.");
                return Convert.ChangeType(value, target, CultureInfo.InvariantCulture);
            }
            else if (IsNumeric(target) && value is string text)
                return Convert.ChangeType(double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture), target, CultureInfo.InvariantCulture);
            else if (target == typeof(string) && value is IFormattable f)
                return f.ToString(null, CultureInfo.InvariantCulture);
        }
        catch (Exception ex) when (ex is FormatException or OverflowException or InvalidCastException)
        {
            throw new ArgumentException($"Option '{path}': {LabelOf(value)} cannot be given to an option of type {Describe(type)} ({ex.Message}).", ex);
        }
        throw new ArgumentException($"Option '{path}': a value of type {value.GetType().Name} ({LabelOf(value)}) cannot be given to an option of type {Describe(type)}.");
    }

    /// <summary>A value as text for messages and labels: its invariant text, or compact JSON for collections and objects.</summary>
    public static string LabelOf(object? value) => value switch
    {
        null => "null",
        string s => s,
        bool b => b ? "true" : "false",
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        float f => f.ToString("R", CultureInfo.InvariantCulture),
        Enum e => e.ToString(),
        JsonElement j => j.GetRawText(),
        IFormattable f when value.GetType().IsPrimitive || value is decimal => f.ToString(null, CultureInfo.InvariantCulture),
        _ => JsonSerializer.Serialize(value, value.GetType()),
    };

    /// <summary>
    /// Text for a collection or a boolean (a command-line flag, a <c>--set</c> value that is no JSON): JSON when it looks like
    /// JSON (<c>{...}</c>, <c>[...]</c>); otherwise <c>key=value</c> pairs separated by commas for a string map
    /// (<c>1=World,2=Sports</c>), comma-separated items for a list (<c>A,B,C</c>), <c>true</c>/<c>false</c> for a boolean.
    /// </summary>
    private static object? ConvertText(string text, Type type, string path)
    {
        var target = Nullable.GetUnderlyingType(type) ?? type;
        var trimmed = text.Trim();
        if (trimmed.StartsWith('{') || trimmed.StartsWith('['))
        {
            try
            {
                using var doc = JsonDocument.Parse(trimmed);
                return ConvertValue(doc.RootElement.Clone(), type, path);
            }
            catch (JsonException ex)
            {
                throw new ArgumentException($"Option '{path}': '{text}' is not valid JSON ({ex.Message}).", ex);
            }
        }
        if (target == typeof(bool))
            return bool.TryParse(trimmed, out var b) ? b : throw new ArgumentException($"Option '{path}': '{text}' is not true or false.");
        var items = trimmed.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (target.IsAssignableFrom(typeof(Dictionary<string, string>))) return ParseMap(trimmed, $"Option '{path}'");
        if (target.IsAssignableFrom(typeof(string[]))) return items;
        if (target.IsAssignableFrom(typeof(List<string>))) return items.ToList();
        throw new ArgumentException($"Option '{path}': '{text}' cannot be given to an option of type {Describe(type)} (give it as JSON).");
    }

    /// <summary>
    /// Reads <c>key=value</c> pairs separated by commas (<c>1=World,2=Sports</c>) into a map; an item without <c>=</c> or a key given
    /// twice is an error that starts with <paramref name="source"/> (the option or flag).
    /// </summary>
    public static Dictionary<string, string> ParseMap(string text, string source)
    {
        ArgumentNullException.ThrowIfNull(text);
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var item in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = item.IndexOf('=');
            if (eq <= 0 || eq == item.Length - 1)
                throw new ArgumentException($"{source}: '{item}' is not of the form key=value (give key=value,key=value or a JSON object).");
            if (!map.TryAdd(item[..eq].Trim(), item[(eq + 1)..].Trim()))
                throw new ArgumentException($"{source}: key '{item[..eq].Trim()}' is given twice.");
        }
        return map;
    }

    private static bool IsCollectionOrBool(Type t) =>
        t == typeof(bool) || (t != typeof(string) && typeof(System.Collections.IEnumerable).IsAssignableFrom(t));

    private static bool IsNumeric(Type t) => t == typeof(double) || t == typeof(float) || t == typeof(decimal) || IsIntegral(t);

    private static bool IsIntegral(Type t) =>
        t == typeof(int) || t == typeof(long) || t == typeof(short) || t == typeof(byte) || t == typeof(uint) || t == typeof(ulong) || t == typeof(ushort) || t == typeof(sbyte);

    private static string Describe(Type t) => Nullable.GetUnderlyingType(t) is { } u ? u.Name + "?" : t.Name;

    private readonly record struct Member(string Name, Type Type, Func<object, object?> Get, Action<object, object?> Set);

    private static Member Find(Type type, string name, string path, bool forWrite) =>
        TryFind(type, name, forWrite) ?? throw new ArgumentException(
            $"Option '{path}': {type.Name} has no public {(forWrite ? "settable " : "")}property or field '{name}'. " +
            $"It has: {string.Join(", ", Settable(type))}.");

    private static Member? TryFind(Type type, string name, bool forWrite)
    {
        foreach (var comparison in new[] { StringComparison.Ordinal, StringComparison.OrdinalIgnoreCase })
        {
            var p = type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
                .FirstOrDefault(p => string.Equals(p.Name, name, comparison) && p.GetIndexParameters().Length == 0 && (!forWrite || p.SetMethod?.IsPublic == true));
            if (p is not null) return new Member(p.Name, p.PropertyType, p.GetValue, p.SetValue);
            var f = type.GetFields(BindingFlags.Public | BindingFlags.Instance)
                .FirstOrDefault(f => string.Equals(f.Name, name, comparison) && (!forWrite || !f.IsInitOnly));
            if (f is not null) return new Member(f.Name, f.FieldType, f.GetValue, f.SetValue);
        }
        return null;
    }

    private static IEnumerable<string> Settable(Type type) =>
        type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.SetMethod?.IsPublic == true && OptionCatalog.IsConfigurable(p.PropertyType)).Select(p => p.Name)
            .Concat(type.GetFields(BindingFlags.Public | BindingFlags.Instance).Where(f => !f.IsInitOnly && OptionCatalog.IsConfigurable(f.FieldType)).Select(f => f.Name))
            .OrderBy(n => n, StringComparer.Ordinal);
}
