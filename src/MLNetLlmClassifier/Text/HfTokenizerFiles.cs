using System.Text.Json;

namespace MLNetLlmClassifier.Text;

/// <summary>
/// Reading the JSON files of a Hugging Face tokenizer folder (tokenizer.json, tokenizer_config.json),
/// with errors that name the file at fault.
/// </summary>
internal static class HfTokenizerFiles
{
    public const string TokenizerJson = "tokenizer.json";
    public const string TokenizerConfigJson = "tokenizer_config.json";
    public const string VocabTxt = "vocab.txt";

    /// <summary>Parses a JSON file, or returns null when it does not exist.</summary>
    public static JsonDocument? TryReadJson(string path)
    {
        if (!File.Exists(path)) return null;
        byte[] bytes = File.ReadAllBytes(path);
        IO.UntrustedText.CheckUtf8(bytes, $"'{path}'");
        try
        {
            return JsonDocument.Parse(bytes, IO.UntrustedText.JsonOptions);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"'{path}' is not valid JSON: {IO.UntrustedText.OneLine(e.Message)}", e);
        }
    }

    /// <summary>
    /// A special-token setting of tokenizer_config.json / special_tokens_map.json: either a plain string
    /// (<c>"pad_token": "&lt;|endoftext|&gt;"</c>) or a serialized AddedToken (<c>{"content": "..."}</c>).
    /// Null when absent or JSON null.
    /// </summary>
    public static string? TokenString(JsonElement? config, string name)
    {
        if (config is not { ValueKind: JsonValueKind.Object } c || !c.TryGetProperty(name, out var v)) return null;
        return v.ValueKind switch
        {
            JsonValueKind.String => v.GetString(),
            JsonValueKind.Object when v.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.String => content.GetString(),
            _ => null,
        };
    }

    /// <summary>A boolean setting, or null when absent or JSON null.</summary>
    public static bool? Bool(JsonElement? obj, string name)
    {
        if (obj is not { ValueKind: JsonValueKind.Object } o || !o.TryGetProperty(name, out var v)) return null;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => null,
        };
    }

    /// <summary>
    /// Added tokens (content → id): tokenizer.json's <c>added_tokens</c> list and tokenizer_config.json's
    /// <c>added_tokens_decoder</c> map, merged (tokenizer.json wins on conflict).
    /// </summary>
    public static Dictionary<string, int> AddedTokens(JsonElement? tokenizerJson, JsonElement? tokenizerConfig, string folder)
    {
        var added = new Dictionary<string, int>(StringComparer.Ordinal);
        if (tokenizerConfig is { ValueKind: JsonValueKind.Object } cfg
            && cfg.TryGetProperty("added_tokens_decoder", out var decoder) && decoder.ValueKind == JsonValueKind.Object)
        {
            foreach (var p in decoder.EnumerateObject())
            {
                string? content = p.Value.ValueKind == JsonValueKind.Object && p.Value.TryGetProperty("content", out var c) ? c.GetString() : null;
                if (!int.TryParse(p.Name, out int id) || string.IsNullOrEmpty(content))
                    throw new InvalidDataException($"'{Path.Combine(folder, TokenizerConfigJson)}': added_tokens_decoder entry '{p.Name}' needs an integer key and a non-empty \"content\".");
                added[content] = id;
            }
        }
        if (tokenizerJson is { ValueKind: JsonValueKind.Object } tj
            && tj.TryGetProperty("added_tokens", out var list) && list.ValueKind == JsonValueKind.Array)
        {
            int i = 0;
            foreach (var t in list.EnumerateArray())
            {
                if (t.ValueKind != JsonValueKind.Object
                    || !t.TryGetProperty("id", out var idEl) || !idEl.TryGetInt32(out int id)
                    || !t.TryGetProperty("content", out var c) || string.IsNullOrEmpty(c.GetString()))
                    throw new InvalidDataException($"'{Path.Combine(folder, TokenizerJson)}': added_tokens[{i}] needs an integer \"id\" and a non-empty \"content\".");
                added[c.GetString()!] = id;
                i++;
            }
        }
        return added;
    }

    /// <summary>The <c>model</c> object of tokenizer.json and its <c>type</c> ("BPE", "WordPiece", ...; null when absent).</summary>
    public static (JsonElement Model, string? Type) Model(JsonElement tokenizerJson, string path)
    {
        if (tokenizerJson.ValueKind != JsonValueKind.Object
            || !tokenizerJson.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException($"'{path}' has no \"model\" object; it is not a Hugging Face tokenizer.json.");
        string? type = model.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
        // Old files leave "type" out; a vocab plus merges is then BPE, a vocab alone with "##" pieces WordPiece.
        type ??= model.TryGetProperty("merges", out _) ? "BPE"
            : model.TryGetProperty("continuing_subword_prefix", out _) ? "WordPiece" : null;
        return (model, type);
    }

    /// <summary>Reads a file of a tokenizer folder, wrapping I/O errors with the file's path.</summary>
    public static T Load<T>(string path, Func<T> load)
    {
        try { return load(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or InvalidOperationException
            or FormatException or OverflowException or KeyNotFoundException)
        {
            throw new InvalidDataException($"Could not load '{path}': {IO.UntrustedText.OneLine(e.Message)}", e);
        }
    }
}
