using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace MLNetLlmClassifier.Cli.Commands;

/// <summary>
/// Per-model hyperparameters from a JSON file: <c>{"bert": {"LearningRate": 2e-5, "Schedule": "Linear"}, "qwen3": {...}}</c>.
/// Keys are the trainers' option names (case-insensitive); values are JSON numbers, strings (enums by name),
/// booleans or objects (e.g. <c>LabelDisplayNames</c>). An unknown key is an error that lists the options.
/// </summary>
internal static class ModelOptionsConfig
{
    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNameCaseInsensitive = true,
        Converters = { new JsonStringEnumConverter() },
    };

    public static JsonObject Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Config file '{path}' does not exist.", path);
        try
        {
            return JsonNode.Parse(File.ReadAllText(path), documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true })
                ?.AsObject() ?? throw new InvalidDataException($"{path}: the config is empty.");
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            throw new InvalidDataException($"{path}: not a JSON object of per-model options ({e.Message}).", e);
        }
    }

    /// <summary>
    /// Adds <c>model.Option=value</c> settings (from <c>--set</c>) to a config. The value is read as JSON when it parses
    /// (numbers, true/false, quoted strings, objects), else as a plain string (enum names).
    /// </summary>
    public static JsonObject? WithSettings(JsonObject? config, IEnumerable<string> settings)
    {
        foreach (var item in settings)
        {
            int dot = item.IndexOf('.'), eq = item.IndexOf('=');
            if (dot <= 0 || eq <= dot + 1)
                throw new ArgumentException($"--set '{item}' is not of the form model.Option=value (e.g. bert.LearningRate=2e-5).");
            config ??= new JsonObject();
            string model = item[..dot].Trim(), option = item[(dot + 1)..eq].Trim(), text = item[(eq + 1)..].Trim();
            JsonNode? value;
            try { value = JsonNode.Parse(text); }
            catch (JsonException) { value = JsonValue.Create(text); }
            if (config[model] is not JsonObject section) config[model] = section = new JsonObject();
            section[option] = value;
        }
        return config;
    }

    /// <summary>Sets each listed option on <paramref name="options"/>; errors name <paramref name="source"/> and the key.</summary>
    public static void Apply(object options, JsonObject values, string source)
    {
        var settable = options.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.CanWrite && p.PropertyType != typeof(CancellationToken) && p.PropertyType != typeof(Microsoft.ML.IDataView)
                        && !(p.PropertyType.IsGenericType && p.PropertyType.GetGenericTypeDefinition() == typeof(IProgress<>)))
            .ToDictionary(p => p.Name, StringComparer.OrdinalIgnoreCase);
        foreach (var (key, node) in values)
        {
            if (!settable.TryGetValue(key, out var prop))
                throw new ArgumentException($"{source}: '{key}' is not an option of {options.GetType().DeclaringType?.Name ?? options.GetType().Name} " +
                                            $"(options: {string.Join(", ", settable.Keys.Order())}).");
            try
            {
                prop.SetValue(options, node is null ? null : node.Deserialize(prop.PropertyType, Json));
            }
            catch (Exception e) when (e is JsonException or InvalidOperationException or NotSupportedException or ArgumentException)
            {
                throw new ArgumentException($"{source}: '{key}' = {node?.ToJsonString() ?? "null"} is not a valid {prop.PropertyType.Name} ({e.Message}).", e);
            }
        }
    }
}
