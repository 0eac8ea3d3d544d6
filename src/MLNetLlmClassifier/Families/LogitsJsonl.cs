using System.Text.Json;
using System.Text.Json.Nodes;
using MLNetLlmClassifier.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetLlmClassifier.Families;

/// <summary>
/// Parity helper behind <c>mlnet-llm logits</c>: runs a Hugging Face folder (its family found by config.json's <c>model_type</c>
/// in <see cref="ClassifierFamilies"/>) over token id sequences and writes our forward pass's outputs, so that any reference
/// (transformers, another port, the CUDA path) can be compared with it.
/// </summary>
public static class LogitsJsonl
{
    /// <summary>
    /// Reads JSON lines <c>{"ids": [..token ids..], ...}</c> (BERT may add <c>"token_type_ids"</c>) and writes each object
    /// back with all its fields plus, as float32 arrays:
    /// <list type="bullet">
    /// <item>Qwen3: <c>"logits"</c> (the whole vocabulary row at the last position) and <c>"hidden"</c> (the final-norm hidden state at the last position);</item>
    /// <item>BERT: <c>"logits"</c> (classifier), <c>"pooled"</c> (pooler output) and <c>"hidden"</c> (last hidden state at position 0);</item>
    /// <item>another family: what its <see cref="ClassifierFamily.OpenForLogits"/> computes.</item>
    /// </list>
    /// Each sequence runs alone (batch 1, no padding). Blank lines are skipped. The output is written atomically: on any
    /// error (which names the file and line) nothing is written.
    /// </summary>
    public static void RunJsonl(string modelFolder, string input, string output, Device device, ScalarType dtype)
    {
        if (!File.Exists(input)) throw new FileNotFoundException($"Input file not found: {input}", input);
        using var model = ClassifierFamilies.ForModelFolder(modelFolder).OpenForLogits(modelFolder, device, dtype);
        Write(input, output, model.VocabSize, model.Compute);
    }

    private delegate IEnumerable<(string Name, float[] Values)> Compute(JsonObject line, long[] ids, string where);

    private static void Write(string input, string output, int vocabSize, Compute compute)
    {
        AtomicFile.Write(output, stream =>
        {
            using var writer = new Utf8JsonWriter(stream);
            int lineNumber = 0;
            foreach (string line in File.ReadLines(input))
            {
                lineNumber++;
                if (string.IsNullOrWhiteSpace(line)) continue;
                string where = $"{input}:{lineNumber}";
                var fields = ParseObject(line, where);
                var ids = IntArray(fields, "ids", where, vocabSize) ?? throw new InvalidDataException($"{where}: \"ids\" must be a non-empty array of token ids.");
                var outputs = compute(fields, ids, where).ToList();

                writer.Reset(stream);
                writer.WriteStartObject();
                foreach (var (key, value) in fields)
                {
                    if (outputs.Any(o => o.Name == key)) continue;
                    writer.WritePropertyName(key);
                    if (value is null) writer.WriteNullValue(); else value.WriteTo(writer);
                }
                foreach (var (name, values) in outputs)
                {
                    writer.WriteStartArray(name);
                    foreach (float v in values) writer.WriteNumberValue(v);
                    writer.WriteEndArray();
                }
                writer.WriteEndObject();
                writer.Flush();
                stream.WriteByte((byte)'\n');
            }
        });
    }

    private static JsonObject ParseObject(string line, string where)
    {
        try { return JsonNode.Parse(line) as JsonObject ?? throw new InvalidDataException($"{where}: not a JSON object."); }
        catch (JsonException e) { throw new InvalidDataException($"{where}: not valid JSON ({e.Message}).", e); }
    }

    /// <summary>A non-empty array of integers in [0, limit), or null when the field is absent.</summary>
    internal static long[]? IntArray(JsonObject obj, string field, string where, int limit)
    {
        if (obj[field] is null) return null;
        if (obj[field] is not JsonArray array || array.Count == 0)
            throw new InvalidDataException($"{where}: \"{field}\" must be a non-empty array of integers.");
        var values = new long[array.Count];
        for (int i = 0; i < values.Length; i++)
        {
            if (array[i] is not JsonValue v || !v.TryGetValue<long>(out values[i]) || values[i] < 0 || values[i] >= limit)
                throw new InvalidDataException($"{where}: {field}[{i}] = {array[i]?.ToJsonString() ?? "null"} is not in [0, {limit}).");
        }
        return values;
    }

    internal static float[] Floats(Tensor t) => t.to(ScalarType.Float32).cpu().data<float>().ToArray();
}
