using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using MLNetLlmClassifier.Text;

namespace MLNetLlmClassifier.Cli;

/// <summary>The <c>tokenize</c> command: JSONL of texts in, JSONL of texts with their token ids out.</summary>
internal static class TokenizeJsonl
{
    /// <summary>
    /// Reads <paramref name="inputPath"/>, one JSON object per line with a string field <c>"text"</c>, and writes
    /// <paramref name="outputPath"/> with one <c>{"text": ..., "ids": [...]}</c> per input line, in order; ids carry no added
    /// special tokens (<see cref="ITextTokenizer.EncodeWithoutSpecialTokens"/>). Blank lines are skipped. The output is
    /// written to a temporary file and moved into place at the end, so a failure leaves any earlier output untouched.
    /// </summary>
    /// <param name="tokenizerFolder">A Hugging Face tokenizer folder (see <see cref="TokenizerFolder.Open"/>).</param>
    /// <param name="inputPath">Input JSONL (UTF-8).</param>
    /// <param name="outputPath">Output JSONL (UTF-8, no BOM, "\n" line ends).</param>
    /// <returns>The number of rows written.</returns>
    /// <exception cref="InvalidDataException">A line is not a JSON object with a string "text" (the message names the line).</exception>
    public static int Run(string tokenizerFolder, string inputPath, string outputPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(inputPath);
        ArgumentException.ThrowIfNullOrEmpty(outputPath);
        if (!File.Exists(inputPath)) throw new FileNotFoundException($"Input file '{inputPath}' does not exist.", inputPath);
        ITextTokenizer tokenizer = TokenizerFolder.Open(tokenizerFolder);

        string fullOutput = Path.GetFullPath(outputPath);
        Directory.CreateDirectory(Path.GetDirectoryName(fullOutput)!);
        string tmp = MLNetLlmClassifier.IO.TempArtifacts.Sibling(fullOutput);
        using var tracked = MLNetLlmClassifier.IO.TempArtifacts.Track(tmp);
        int rows = 0;
        try
        {
            using (var output = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            using (var writer = new Utf8JsonWriter(output, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
            {
                int lineNumber = 0;
                foreach (string line in File.ReadLines(inputPath, Encoding.UTF8))
                {
                    lineNumber++;
                    if (string.IsNullOrWhiteSpace(line)) continue;
                    string text = ReadText(line, lineNumber, inputPath);

                    writer.WriteStartObject();
                    writer.WriteString("text", text);
                    writer.WriteStartArray("ids");
                    foreach (int id in tokenizer.EncodeWithoutSpecialTokens(text)) writer.WriteNumberValue(id);
                    writer.WriteEndArray();
                    writer.WriteEndObject();
                    writer.Flush();
                    output.WriteByte((byte)'\n');
                    writer.Reset();
                    rows++;
                }
                output.Flush(flushToDisk: true);
            }
            File.Move(tmp, fullOutput, overwrite: true);
            return rows;
        }
        catch
        {
            File.Delete(tmp);
            throw;
        }
    }

    private static string ReadText(string line, int lineNumber, string path)
    {
        try
        {
            using var doc = JsonDocument.Parse(line);
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"'{path}' line {lineNumber}: expected a JSON object with a \"text\" string, got {doc.RootElement.ValueKind}.");
            if (!doc.RootElement.TryGetProperty("text", out var text) || text.ValueKind != JsonValueKind.String)
                throw new InvalidDataException($"'{path}' line {lineNumber}: missing \"text\" string field.");
            return text.GetString()!;
        }
        catch (InvalidOperationException e) // a lone surrogate such as "\ud800": valid JSON, not valid Unicode
        {
            throw new InvalidDataException($"'{path}' line {lineNumber}: \"text\" is not valid Unicode: {e.Message}", e);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"'{path}' line {lineNumber}: not valid JSON: {e.Message}", e);
        }
    }
}
