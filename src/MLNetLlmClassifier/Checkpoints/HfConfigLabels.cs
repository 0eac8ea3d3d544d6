using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace MLNetLlmClassifier.Checkpoints;

/// <summary>
/// The class labels of a Hugging Face sequence-classification <c>config.json</c>: <c>id2label</c> (keys "0".."n-1" → names) and the
/// <c>label2id</c> derived from it, as transformers' <c>PretrainedConfig</c> reads and writes them (shared by BERT and Qwen3).
/// </summary>
internal static class HfConfigLabels
{
    /// <summary>transformers' default names, <c>LABEL_0</c> … <c>LABEL_{n-1}</c>.</summary>
    internal static string[] Default(int n) => Enumerable.Range(0, n).Select(i => $"LABEL_{i}").ToArray();

    /// <summary>
    /// The labels of <paramref name="id2label"/> (null or absent: <paramref name="numLabels"/> default names, else transformers' default of 2).
    /// </summary>
    /// <param name="id2label">The <c>id2label</c> node, or null.</param>
    /// <param name="numLabels">The <c>num_labels</c> field, or null; it must agree with id2label.</param>
    /// <param name="bad">Makes the error for a field and its problem (the caller names the file).</param>
    internal static IReadOnlyList<string> Parse(JsonNode? id2label, int? numLabels, Func<string, string, InvalidDataException> bad)
    {
        if (id2label is null) return Default(numLabels ?? 2);
        if (id2label is not JsonObject map) throw bad("id2label", $"is {id2label.ToJsonString()}, not an object");
        var labels = new string?[map.Count];
        foreach (var (key, value) in map)
        {
            if (!int.TryParse(key, NumberStyles.None, CultureInfo.InvariantCulture, out int index) || index >= map.Count)
                throw bad("id2label", $"has key '{key}': keys must be the class indices 0..{map.Count - 1}");
            if (value is not JsonValue v || v.GetValueKind() != JsonValueKind.String)
                throw bad("id2label", $"['{key}'] is not a string");
            if (labels[index] is not null)
                throw bad("id2label", $"has class index {index} twice");
            labels[index] = v.GetValue<string>();
        }
        if (numLabels is { } n && n != labels.Length)
            throw bad("num_labels", $"is {n} but id2label has {labels.Length} labels");
        return labels!;
    }

    /// <summary>The <c>id2label</c> object of <paramref name="labels"/>.</summary>
    internal static JsonObject Id2Label(IReadOnlyList<string> labels) =>
        new(labels.Select((l, i) => KeyValuePair.Create(i.ToString(CultureInfo.InvariantCulture), (JsonNode?)JsonValue.Create(l))));

    /// <summary>The <c>label2id</c> object of <paramref name="labels"/>.</summary>
    internal static JsonObject Label2Id(IReadOnlyList<string> labels) =>
        new(labels.Select((l, i) => KeyValuePair.Create(l, (JsonNode?)JsonValue.Create(i))));
}
