using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using MLNetLlmClassifier.Data;
using MLNetLlmClassifier.IO;

namespace MLNetLlmClassifier.Cli.Scoring;

/// <summary>
/// An unlabelled file to score (<c>predict --input</c>): CSV/TSV (any delimited text <see cref="TextClassificationFile"/> reads) or
/// JSON Lines, and the writing of its results in the same format. Every input row is kept: a delimited output has the input's
/// columns (its header, or <c>column0</c>, <c>column1</c>, ... when it had none) followed by <c>predicted_label</c> and one
/// <c>p_&lt;class&gt;</c> column per class; a JSON Lines output has each input object with <c>predicted_label</c> and
/// <c>probabilities</c> (class → probability) added.
/// </summary>
/// <remarks>
/// Columns are chosen as in training (<see cref="TextFileOptions"/>: 0-based index or header name, several text columns joined with
/// a space); the label column is not needed. In JSON Lines the text columns are field names; references that are indexes (the
/// defaults) mean the fields <c>text</c> and <c>text2</c>.
/// </remarks>
internal sealed class ScoringFile
{
    /// <summary>The column written with the most likely class.</summary>
    public const string PredictedLabelColumn = "predicted_label";

    /// <summary>The JSON Lines field holding the class probabilities.</summary>
    public const string ProbabilitiesField = "probabilities";

    private readonly string[]? _header;
    private readonly List<string[]> _records = [];
    private readonly List<JsonObject> _objects = [];
    private readonly char _separator;

    private ScoringFile(string source, bool jsonl, char separator, string[]? header)
    {
        Source = source;
        IsJsonLines = jsonl;
        _separator = separator;
        _header = header;
    }

    /// <summary>The file, for messages.</summary>
    public string Source { get; }

    /// <summary>JSON Lines (else delimited text).</summary>
    public bool IsJsonLines { get; }

    /// <summary>The rows to score, in file order.</summary>
    public List<TextPair> Rows { get; } = [];

    /// <summary>Whether a path is read as JSON Lines (by its extension: .jsonl, .ndjson).</summary>
    public static bool IsJsonLinesPath(string path) =>
        Path.GetExtension(path).ToLowerInvariant() is ".jsonl" or ".ndjson";

    /// <summary>Reads a file; errors are one line naming the file, the line and the row.</summary>
    /// <param name="path">The file.</param>
    /// <param name="columns">Which columns hold the text (the label column is ignored).</param>
    /// <param name="pairs">The model takes text pairs: <see cref="TextFileOptions.Sentence2Column"/> is required.</param>
    public static ScoringFile Read(string path, TextFileOptions columns, bool pairs)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Input file '{path}' does not exist.", path);
        string text;
        using (var stream = File.OpenRead(path)) text = TextClassificationFile.ReadAllText(stream, path);
        var file = IsJsonLinesPath(path) ? ReadJsonLines(path, text, columns, pairs) : ReadDelimited(path, text, columns, pairs);
        if (file.Rows.Count == 0) throw new TextFileException(path, null, "the file has no rows to score.");
        return file;
    }

    private static ScoringFile ReadDelimited(string path, string text, TextFileOptions columns, bool pairs)
    {
        char separator = TextClassificationFile.ChooseSeparator(text, path, columns.Separator);
        var reader = new CsvReader(text, separator, path);
        var fields = new List<string>();
        if (!reader.TryReadRecord(fields, out int firstLine)) throw new TextFileException(path, null, "the file is empty (no records).");
        var refs = columns.TextColumns.ToList();
        string? second = pairs ? columns.Sentence2Column ?? throw new ArgumentException("The model takes text pairs: give --text2-column.") : null;
        if (second is not null) refs.Add(second);
        bool namesUsed = refs.Any(r => !IsIndex(r));
        if (namesUsed && columns.HasHeader == false)
            throw new TextFileException(path, null, $"column '{refs.First(r => !IsIndex(r))}' is referenced by name but the file has no header: use a 0-based index.");
        bool hasHeader = columns.HasHeader ?? namesUsed;
        var header = hasHeader ? fields.Select(f => f.Trim()).ToArray() : null;
        int Resolve(string r)
        {
            r = r.Trim();
            if (IsIndex(r))
                return int.TryParse(r, NumberStyles.None, CultureInfo.InvariantCulture, out int i) && i < fields.Count ? i
                    : throw new TextFileException(path, firstLine, $"text column index {r} is out of range: the first record has {fields.Count} field(s) (separator '{CsvReader.Escape(separator)}').");
            int found = Array.FindIndex(header!, h => string.Equals(h, r, StringComparison.OrdinalIgnoreCase));
            return found >= 0 ? found : throw new TextFileException(path, firstLine,
                $"unknown text column '{r}'; the header has: {string.Join(", ", header!.Select(h => $"'{h}'"))} (separator '{CsvReader.Escape(separator)}').");
        }
        int[] textIdx = columns.TextColumns.Select(Resolve).ToArray();
        int? text2Idx = second is null ? null : Resolve(second);
        int need = Math.Max(textIdx.Max(), text2Idx ?? 0) + 1;
        var file = new ScoringFile(path, jsonl: false, separator, header);
        bool pending = !hasHeader;
        int line = firstLine;
        while (pending || reader.TryReadRecord(fields, out line))
        {
            pending = false;
            int row = file.Rows.Count + 1;
            if (fields.Count < need)
                throw new TextFileException(path, line, $"row {row} has {fields.Count} field(s) but the text columns need {need} (separator '{CsvReader.Escape(separator)}').");
            file._records.Add(fields.ToArray());
            file.Rows.Add(new TextPair(Join(textIdx.Select(i => fields[i])), text2Idx is int t2 ? fields[t2] : null));
        }
        return file;
    }

    private static ScoringFile ReadJsonLines(string path, string text, TextFileOptions columns, bool pairs)
    {
        // Index references (the defaults) mean the conventional field names.
        var textFields = columns.TextColumns.All(IsIndex) ? ["text"] : columns.TextColumns.Select(c => c.Trim()).ToArray();
        string? second = !pairs ? null : columns.Sentence2Column is { } s2 && !IsIndex(s2) ? s2.Trim() : "text2";
        var file = new ScoringFile(path, jsonl: true, ',', header: null);
        int lineNumber = 0;
        foreach (var line in text.Split('\n'))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            int row = file.Rows.Count + 1;
            JsonObject obj;
            try
            {
                obj = JsonNode.Parse(line) as JsonObject ?? throw new TextFileException(path, lineNumber, $"row {row} is not a JSON object.");
            }
            catch (JsonException e)
            {
                throw new TextFileException(path, lineNumber, $"row {row} is not valid JSON ({e.Message}).", e);
            }
            string Field(string name)
            {
                var key = obj.Select(kv => kv.Key).FirstOrDefault(k => string.Equals(k, name, StringComparison.OrdinalIgnoreCase))
                    ?? throw new TextFileException(path, lineNumber, $"row {row} has no field '{name}' (fields: {string.Join(", ", obj.Select(kv => kv.Key))}); name the text field with --text-column.");
                return obj[key] switch
                {
                    null => "",
                    JsonValue v when v.TryGetValue<string>(out var str) => str,
                    JsonValue v => v.ToJsonString(),
                    _ => throw new TextFileException(path, lineNumber, $"row {row}: field '{key}' is a JSON {obj[key]!.GetValueKind()}, not text."),
                };
            }
            file._objects.Add(obj);
            file.Rows.Add(new TextPair(Join(textFields.Select(Field)), second is null ? null : Field(second)));
        }
        return file;
    }

    private static string Join(IEnumerable<string> parts) => string.Join(' ', parts.Where(p => p.Length > 0));

    private static bool IsIndex(string r) => r.Trim() is { Length: > 0 } t && t.All(char.IsAsciiDigit);

    /// <summary>Writes the results (one per row, in order) atomically, in the input's format.</summary>
    public void Write(string path, IReadOnlyList<string> classNames, IReadOnlyList<ScoredText> results)
    {
        if (results.Count != Rows.Count) throw new ArgumentException($"{results.Count} results for {Rows.Count} rows.", nameof(results));
        static string P(float p) => p.ToString("0.######", CultureInfo.InvariantCulture);
        if (IsJsonLines)
        {
            var sb = new StringBuilder();
            for (int i = 0; i < results.Count; i++)
            {
                var o = (JsonObject)_objects[i].DeepClone();
                o[PredictedLabelColumn] = results[i].Label;
                var probs = new JsonObject();
                for (int c = 0; c < classNames.Count; c++) probs[classNames[c]] = JsonValue.Create(Math.Round((double)results[i].Probabilities[c], 6));
                o[ProbabilitiesField] = probs;
                sb.Append(o.ToJsonString()).Append('\n');
            }
            AtomicFile.WriteAllText(path, sb.ToString());
            return;
        }
        int width = Math.Max(_records.Max(r => r.Length), _header?.Length ?? 0);
        var header = (_header ?? []).Concat(Enumerable.Range(_header?.Length ?? 0, Math.Max(0, width - (_header?.Length ?? 0))).Select(i => $"column{i}"))
            .Append(PredictedLabelColumn).Concat(classNames.Select(c => "p_" + c)).ToArray();
        var records = new List<IReadOnlyList<string>>(results.Count + 1) { header };
        for (int i = 0; i < results.Count; i++)
        {
            var fields = _records[i].Concat(Enumerable.Repeat("", width - _records[i].Length)).Append(results[i].Label);
            records.Add(fields.Concat(results[i].Probabilities.Select(P)).ToArray());
        }
        TextClassificationFile.WriteRecords(path, records, _separator);
    }
}
