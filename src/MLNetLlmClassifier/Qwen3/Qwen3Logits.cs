using System.Text.Json;
using System.Text.Json.Nodes;
using MLNetLlmClassifier.Checkpoints;
using static TorchSharp.torch;

namespace MLNetLlmClassifier.Qwen3;

/// <summary>
/// Parity helper: runs a Qwen3 folder over token id sequences and writes the last-position logits and final-norm hidden
/// state of each, for comparison with Hugging Face <c>transformers</c> on the same folder.
/// </summary>
public static class Qwen3Logits
{
    /// <summary>
    /// Reads JSON lines <c>{"ids": [..token ids..], ...}</c> from <paramref name="input"/> and writes, for each, the same object
    /// (all its fields kept) plus <c>"logits"</c> (the whole vocabulary row at the last position, float32) and <c>"hidden"</c>
    /// (the output of the final norm at the last position, float32). Each sequence runs alone (batch 1, no padding).
    /// Blank lines are skipped. The output file is written atomically: on any error nothing is written.
    /// </summary>
    /// <param name="modelFolder">A Hugging Face Qwen3 folder (see <see cref="Qwen3ForCausalLM.FromPretrained"/>).</param>
    /// <param name="input">Input JSON-lines file.</param>
    /// <param name="output">Output JSON-lines file (replaced).</param>
    /// <param name="device">Device to run on.</param>
    /// <param name="dtype">Model dtype (outputs are converted to float32).</param>
    /// <exception cref="InvalidDataException">A line is not a JSON object with a non-empty integer array "ids" (the message names file and line).</exception>
    public static void RunJsonl(string modelFolder, string input, string output, Device device, ScalarType dtype)
    {
        if (!File.Exists(input)) throw new FileNotFoundException($"Input file not found: {input}", input);
        using var model = Qwen3ForCausalLM.FromPretrained(modelFolder, device, dtype);
        AtomicFile.Write(output, stream =>
        {
            using var writer = new Utf8JsonWriter(stream);
            int lineNumber = 0;
            foreach (string line in File.ReadLines(input))
            {
                lineNumber++;
                if (string.IsNullOrWhiteSpace(line)) continue;
                var (fields, ids) = ParseLine(line, $"{input}:{lineNumber}", model.Config.VocabSize);
                var (logits, hidden) = LastPosition(model, ids);

                writer.Reset(stream);
                writer.WriteStartObject();
                foreach (var (key, value) in fields)
                {
                    if (key is "logits" or "hidden") continue;
                    writer.WritePropertyName(key);
                    if (value is null) writer.WriteNullValue(); else value.WriteTo(writer);
                }
                WriteFloats(writer, "logits", logits);
                WriteFloats(writer, "hidden", hidden);
                writer.WriteEndObject();
                writer.Flush();
                stream.WriteByte((byte)'\n');
            }
        });
    }

    private static (JsonObject Fields, long[] Ids) ParseLine(string line, string where, int vocabSize)
    {
        JsonObject obj;
        try { obj = JsonNode.Parse(line) as JsonObject ?? throw new InvalidDataException($"{where}: not a JSON object."); }
        catch (JsonException e) { throw new InvalidDataException($"{where}: not valid JSON ({e.Message}).", e); }
        if (obj["ids"] is not JsonArray array || array.Count == 0)
            throw new InvalidDataException($"{where}: \"ids\" must be a non-empty array of token ids.");
        var ids = new long[array.Count];
        for (int i = 0; i < ids.Length; i++)
        {
            if (array[i] is not JsonValue v || !v.TryGetValue<long>(out ids[i]) || ids[i] < 0 || ids[i] >= vocabSize)
                throw new InvalidDataException($"{where}: ids[{i}] = {array[i]?.ToJsonString() ?? "null"} is not a token id in [0, {vocabSize}).");
        }
        return (obj, ids);
    }

    private static (float[] Logits, float[] Hidden) LastPosition(Qwen3ForCausalLM model, long[] ids)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var hidden = model.HiddenStates(tensor(ids, device: model.Device).unsqueeze(0));            // [1,T,D]
        var last = tensor(new long[] { ids.Length - 1 }, device: model.Device);
        var logits = model.LogitsAt(hidden, last);                                                   // [1,V]
        return (logits[0].to(ScalarType.Float32).cpu().data<float>().ToArray(),
                hidden[0, ids.Length - 1].to(ScalarType.Float32).cpu().data<float>().ToArray());
    }

    private static void WriteFloats(Utf8JsonWriter writer, string name, float[] values)
    {
        writer.WriteStartArray(name);
        foreach (float v in values) writer.WriteNumberValue(v);
        writer.WriteEndArray();
    }
}
