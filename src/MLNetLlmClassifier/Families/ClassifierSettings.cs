using System.Text.Json;
using System.Text.Json.Nodes;

namespace MLNetLlmClassifier.Families;

/// <summary>
/// Typed reads of a classifier folder's settings file (<see cref="ClassifierFamilies.SettingsFile"/>), which comes from a model.zip
/// or a folder and so is untrusted: a field that is missing, of the wrong JSON type or out of range is a
/// <see cref="SettingsFieldException"/> naming the field, which <see cref="ClassifierFamilies.LoadClassifier"/> prefixes with the file.
/// </summary>
internal static class ClassifierSettings
{
    /// <summary>The string field <paramref name="key"/>.</summary>
    public static string RequiredString(this JsonObject settings, string key) =>
        settings[key] is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : throw Wrong(settings, key, "a string");

    /// <summary>The array of strings <paramref name="key"/> (at least one).</summary>
    public static string[] RequiredStrings(this JsonObject settings, string key)
    {
        if (settings[key] is not JsonArray { Count: > 0 } array) throw Wrong(settings, key, "a non-empty array of strings");
        var values = new string[array.Count];
        for (int i = 0; i < values.Length; i++)
            values[i] = array[i] is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>()
                : throw new SettingsFieldException($"\"{key}\"[{i}] is {Kind(array[i])}, not a string.");
        return values;
    }

    /// <summary>The integer field <paramref name="key"/>, within [<paramref name="min"/>, <paramref name="max"/>].</summary>
    public static int RequiredInt(this JsonObject settings, string key, int min, int max)
    {
        if (settings[key] is not JsonValue v || !v.TryGetValue<int>(out int value)) throw Wrong(settings, key, "an integer");
        return value >= min && value <= max ? value : throw new SettingsFieldException($"\"{key}\" = {value} is out of range [{min}, {max}].");
    }

    /// <summary>The boolean field <paramref name="key"/>, or <paramref name="absent"/> when it is missing (older files).</summary>
    public static bool OptionalBool(this JsonObject settings, string key, bool absent) => settings[key] switch
    {
        null => absent,
        JsonValue v when v.GetValueKind() is JsonValueKind.True or JsonValueKind.False => v.GetValue<bool>(),
        _ => throw Wrong(settings, key, "true or false"),
    };

    /// <summary>The enum field <paramref name="key"/>, by name (one of <typeparamref name="T"/>'s names), or <paramref name="absent"/> when missing.</summary>
    public static T Enum<T>(this JsonObject settings, string key, T? absent = null) where T : struct, System.Enum
    {
        if (settings[key] is null && absent is { } fallback) return fallback;
        string name = settings.RequiredString(key);
        return System.Enum.GetNames<T>().Contains(name, StringComparer.Ordinal) ? System.Enum.Parse<T>(name)
            : throw new SettingsFieldException($"\"{key}\" = '{IO.UntrustedText.OneLine(name, 40)}' is none of {string.Join(", ", System.Enum.GetNames<T>())}.");
    }

    private static SettingsFieldException Wrong(JsonObject settings, string key, string expected) =>
        new(settings[key] is null ? $"\"{key}\" is missing ({expected} expected)." : $"\"{key}\" is {Kind(settings[key])}, not {expected}.");

    private static string Kind(JsonNode? node) => node is null ? "null" : node.GetValueKind() switch
    {
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        _ => "null",
    };
}

/// <summary>A field of a classifier's settings file is missing or invalid (the message names the field, not yet the file).</summary>
internal sealed class SettingsFieldException(string message) : FormatException(message);
