using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace MLNetLlmClassifier.IO;

/// <summary>
/// Helpers for text read from files that may be corrupt or hostile (config.json, tokenizer files, safetensors headers,
/// settings inside a model.zip): UTF-8 checked before any JSON parser sees it (System.Text.Json only notices invalid UTF-8
/// inside a string when the string is read, with an InvalidOperationException that names no file), duplicate keys refused,
/// and messages folded to one line.
/// </summary>
internal static class UntrustedText
{
    /// <summary>JSON options for untrusted files: comments and trailing commas as Hugging Face files allow.</summary>
    internal static readonly JsonDocumentOptions JsonOptions = new()
    {
        CommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        MaxDepth = 64,
    };

    /// <summary>
    /// Parses untrusted JSON bytes into a node: UTF-8 checked first, and every object built at once, so that a key given
    /// twice fails here (JsonObject otherwise throws ArgumentException at the first lookup, far from the file) .
    /// </summary>
    /// <exception cref="InvalidDataException">Not UTF-8, not JSON, or a duplicate key; the message names <paramref name="source"/>.</exception>
    internal static JsonNode? ParseJson(ReadOnlySpan<byte> bytes, string source)
    {
        CheckUtf8(bytes, source);
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(bytes, documentOptions: JsonOptions);
            Materialize(node, 0);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{source} is not valid JSON: {OneLine(e.Message)}", e);
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"{source}: {OneLine(e.Message)} (a key appears twice in one object).", e);
        }
        return node;
    }

    private static void Materialize(JsonNode? node, int depth)
    {
        if (depth > JsonOptions.MaxDepth) return;
        switch (node)
        {
            case JsonObject o:
                foreach (var (_, child) in o) Materialize(child, depth + 1);
                break;
            case JsonArray a:
                foreach (var child in a) Materialize(child, depth + 1);
                break;
        }
    }

    /// <summary>Throws when <paramref name="bytes"/> are not valid UTF-8, naming <paramref name="source"/> and the byte offset.</summary>
    /// <exception cref="InvalidDataException">Not valid UTF-8.</exception>
    internal static void CheckUtf8(ReadOnlySpan<byte> bytes, string source)
    {
        if (System.Text.Unicode.Utf8.IsValid(bytes)) return;
        long offset = FirstInvalidByte(bytes);
        throw new InvalidDataException($"{source} is not valid UTF-8 text (an invalid byte sequence at byte {offset}).");
    }

    private static long FirstInvalidByte(ReadOnlySpan<byte> bytes)
    {
        var buffer = ArrayPool<char>.Shared.Rent(4096);
        try
        {
            long consumed = 0;
            while (bytes.Length > 0)
            {
                var status = System.Text.Unicode.Utf8.ToUtf16(bytes, buffer, out int read, out _, replaceInvalidSequences: false);
                consumed += read;
                if (status != OperationStatus.DestinationTooSmall) return consumed;
                bytes = bytes[read..];
            }
            return consumed;
        }
        finally
        {
            ArrayPool<char>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// A message (or a value quoted in one) as one line: control characters (line breaks included) escaped as \uXXXX, and at
    /// most <paramref name="max"/> characters (the rest replaced by "...").
    /// </summary>
    internal static string OneLine(string text, int max = 300)
    {
        ArgumentNullException.ThrowIfNull(text);
        var sb = new StringBuilder(Math.Min(text.Length, max + 16));
        foreach (char c in text)
        {
            if (sb.Length >= max)
            {
                sb.Append("...");
                break;
            }
            if (char.IsControl(c)) sb.Append("\\u").Append(((int)c).ToString("x4", System.Globalization.CultureInfo.InvariantCulture));
            else sb.Append(c);
        }
        return sb.ToString();
    }
}
