using System.Text.Json;
using System.Text.Json.Nodes;
using MLNetLlmClassifier.Bert;
using MLNetLlmClassifier.Qwen3;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetLlmClassifier.Checkpoints;

/// <summary>
/// Parity helper behind <c>mlnet-llm logits</c>: runs a Hugging Face folder (Qwen3 or BERT, told apart by
/// config.json's <c>model_type</c>) over token id sequences and writes our forward pass's outputs, so that any
/// reference (transformers, another port, the CUDA path) can be compared with it.
/// </summary>
public static class ModelLogits
{
    /// <summary>
    /// Reads JSON lines <c>{"ids": [..token ids..], ...}</c> (BERT may add <c>"token_type_ids"</c>) and writes each object
    /// back with all its fields plus, as float32 arrays:
    /// <list type="bullet">
    /// <item>Qwen3: <c>"logits"</c> (the whole vocabulary row at the last position) and <c>"hidden"</c> (the final-norm hidden state at the last position);</item>
    /// <item>BERT: <c>"logits"</c> (classifier), <c>"pooled"</c> (pooler output) and <c>"hidden"</c> (last hidden state at position 0).</item>
    /// </list>
    /// Each sequence runs alone (batch 1, no padding). Blank lines are skipped. The output is written atomically: on any
    /// error (which names the file and line) nothing is written.
    /// </summary>
    public static void RunJsonl(string modelFolder, string input, string output, Device device, ScalarType dtype)
    {
        if (!File.Exists(input)) throw new FileNotFoundException($"Input file not found: {input}", input);
        var modelType = HfModelFolder.ReadConfig(modelFolder)["model_type"]?.GetValue<string>();
        switch (modelType)
        {
            case "qwen3":
            {
                using var model = Qwen3ForCausalLM.FromPretrained(modelFolder, device, dtype);
                Write(input, output, model.Config.VocabSize, (obj, ids, where) => Qwen3LastPosition(model, ids));
                break;
            }
            case "bert":
            {
                var config = BertConfig.Load(modelFolder);
                using var model = BertForSequenceClassification.FromPretrained(modelFolder, config.NumLabels, device);
                if (dtype != ScalarType.Float32) model.to(dtype);
                Write(input, output, config.VocabSize, (obj, ids, where) => BertOutputs(model, ids, TokenTypes(obj, ids.Length, config.TypeVocabSize, where)));
                break;
            }
            default:
                throw new InvalidDataException($"{Path.Combine(modelFolder, "config.json")}: model_type '{modelType}' is not supported (qwen3 or bert).");
        }
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
    private static long[]? IntArray(JsonObject obj, string field, string where, int limit)
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

    private static long[]? TokenTypes(JsonObject obj, int length, int typeVocab, string where)
    {
        var types = IntArray(obj, "token_type_ids", where, typeVocab);
        if (types is not null && types.Length != length)
            throw new InvalidDataException($"{where}: \"token_type_ids\" has {types.Length} entries but \"ids\" has {length}.");
        return types;
    }

    private static float[] Floats(Tensor t) => t.to(ScalarType.Float32).cpu().data<float>().ToArray();

    private static IEnumerable<(string, float[])> Qwen3LastPosition(Qwen3ForCausalLM model, long[] ids)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var hidden = model.HiddenStates(tensor(ids, device: model.Device).unsqueeze(0));            // [1,T,D]
        var logits = model.LogitsAt(hidden, tensor(new long[] { ids.Length - 1 }, device: model.Device)); // [1,V]
        return [("logits", Floats(logits[0])), ("hidden", Floats(hidden[0, ids.Length - 1]))];
    }

    private static IEnumerable<(string, float[])> BertOutputs(BertForSequenceClassification model, long[] ids, long[]? types)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var device = model.parameters().First().device;
        var o = model.forward(tensor(ids, device: device).unsqueeze(0), null,
            types is null ? null : tensor(types, device: device).unsqueeze(0));
        return [("logits", Floats(o.Logits[0])), ("pooled", Floats(o.PooledOutput[0])), ("hidden", Floats(o.LastHiddenState[0, 0]))];
    }
}
