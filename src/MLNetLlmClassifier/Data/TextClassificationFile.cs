using System.Globalization;
using System.Text;
using MLNetLlmClassifier.IO;

namespace MLNetLlmClassifier.Data;

/// <summary>
/// Reads and writes text-classification tables as delimited text (CSV/TSV, RFC 4180): quoted fields, doubled
/// quotes, separators and line breaks inside quotes, UTF-8 with or without BOM, LF or CRLF.
/// See <see cref="TextFileOptions"/> for how columns, the header and the separator are chosen.
/// </summary>
/// <remarks>
/// Labels are trimmed and must not be empty; text is kept as written (an empty text is allowed and read as "").
/// Records may have more fields than the referenced columns need, not fewer. Every error is a
/// <see cref="TextFileException"/> naming the file and 1-based line.
/// </remarks>
public static class TextClassificationFile
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Reads a table from a file.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="TextFileException">The file is malformed or does not match the options.</exception>
    public static TextClassificationTable Load(string path, TextFileOptions options)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"Data file '{path}' does not exist.", path);
        using var stream = File.OpenRead(path);
        return Load(stream, path, options);
    }

    /// <summary>Reads a table from a stream (for example an embedded resource).</summary>
    /// <param name="stream">UTF-8 text; read to the end, not closed.</param>
    /// <param name="displayName">Name used in messages and, when <see cref="TextFileOptions.Separator"/> is null, for its extension.</param>
    /// <param name="options">Columns, header and separator.</param>
    /// <exception cref="TextFileException">The text is malformed or does not match the options.</exception>
    public static TextClassificationTable Load(Stream stream, string displayName, TextFileOptions options)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(displayName);
        ArgumentNullException.ThrowIfNull(options);
        string text = ReadAllText(stream, displayName);
        return Parse(text, displayName, options);
    }

    /// <summary>Reads a table from text already in memory (tests, small inline data).</summary>
    /// <exception cref="TextFileException">The text is malformed or does not match the options.</exception>
    public static TextClassificationTable Parse(string text, string displayName, TextFileOptions options)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(options);
        char separator = ChooseSeparator(text, displayName, options.Separator);
        var reader = new CsvReader(text, separator, displayName);

        var fields = new List<string>();
        if (!reader.TryReadRecord(fields, out int firstLine))
            throw new TextFileException(displayName, null, "the file is empty (no records).");

        var columns = ColumnMap.Resolve(displayName, options, fields, firstLine, separator);
        int expectedFields = fields.Count; // the header's (or first row's) field count
        var odd = new OddRows(displayName, separator, expectedFields, columns.HasHeader);
        var rows = new List<TextClassificationRow>();
        var text1 = new StringBuilder();
        bool pending = !columns.HasHeader; // the first record is data unless it is the header
        int line = firstLine;
        while (pending || reader.TryReadRecord(fields, out line))
        {
            pending = false;
            int row = rows.Count + 1;
            if (fields.Count < columns.MinFieldCount)
                throw new TextFileException(displayName, line,
                    $"row {row} has {fields.Count} field(s) but column {columns.Describe(columns.MaxIndex)} needs {columns.MinFieldCount} " +
                    $"(separator '{CsvReader.Escape(separator)}').");

            odd.Check(row, line, fields.Count, fields[columns.Label]);
            string label = fields[columns.Label].Trim();
            if (label.Length == 0)
                throw new TextFileException(displayName, line, $"row {row} has no label (column {columns.Describe(columns.Label)} is empty).");
            if (options.LabelNames is { } names)
            {
                if (!names.TryGetValue(label, out var renamed))
                    throw new TextFileException(displayName, line,
                        $"row {row} has label '{label}', which is not in LabelNames (known: {string.Join(", ", names.Keys)}).");
                label = renamed;
            }

            // Several text columns are joined with one space; empty parts are skipped so no stray spaces appear.
            text1.Clear();
            foreach (int i in columns.Text)
            {
                if (fields[i].Length == 0) continue;
                if (text1.Length > 0) text1.Append(' ');
                text1.Append(fields[i]);
            }
            string? text2 = columns.Text2 is int t2 ? fields[t2] : null;
            rows.Add(new TextClassificationRow(label, text1.ToString(), text2));
        }
        if (rows.Count == 0)
            throw new TextFileException(displayName, null, "the file has a header but no data rows.");
        return new TextClassificationTable(rows, displayName) { Warnings = odd.Warnings() };
    }

    /// <summary>
    /// Rows that parse but look wrong, reported as warnings (the first one named by row and line, the rest counted): a label with
    /// whitespace around it (e.g. <c>" cheap"</c>) and a field count other than the header's; both are what an unquoted separator
    /// inside a text field gives.
    /// </summary>
    private sealed class OddRows(string file, char separator, int expectedFields, bool header)
    {
        private (int Row, int Line, string Label)? _spacedLabel;
        private int _spacedLabels;
        private (int Row, int Line, int Fields)? _fieldCount;
        private int _fieldCounts;

        public void Check(int row, int line, int fields, string rawLabel)
        {
            if (rawLabel.Length > 0 && (char.IsWhiteSpace(rawLabel[0]) || char.IsWhiteSpace(rawLabel[^1])) && rawLabel.Trim().Length > 0)
            {
                _spacedLabels++;
                _spacedLabel ??= (row, line, rawLabel);
            }
            if (fields != expectedFields)
            {
                _fieldCounts++;
                _fieldCount ??= (row, line, fields);
            }
        }

        public IReadOnlyList<string> Warnings()
        {
            var w = new List<string>();
            string sep = CsvReader.Escape(separator);
            if (_spacedLabel is { } l)
                w.Add($"{file}, line {l.Line}: row {l.Row} has the label '{l.Label}' with whitespace around it (read as '{l.Label.Trim()}')" +
                      (_spacedLabels > 1 ? $", and {_spacedLabels - 1} more row(s) too" : "") +
                      $": an unquoted '{sep}' inside a text field shifts the columns; quote fields that contain it.");
            if (_fieldCount is { } f)
                w.Add($"{file}, line {f.Line}: row {f.Row} has {f.Fields} field(s) where the {(header ? "header" : "first row")} has {expectedFields}" +
                      (_fieldCounts > 1 ? $", and {_fieldCounts - 1} more row(s) differ too" : "") +
                      $": an unquoted '{sep}' inside a field? Quote fields that contain the separator.");
            return w;
        }
    }

    /// <summary>
    /// Writes a table as CSV with a header <c>label,text</c> (and <c>text2</c> when the table has one), every
    /// field quoted, LF line ends, UTF-8 without BOM. Read it back with
    /// <c>LabelColumn = "label", TextColumns = ["text"], Sentence2Column = "text2"</c>. The file is written atomically.
    /// </summary>
    public static void Save(TextClassificationTable table, string path)
    {
        ArgumentNullException.ThrowIfNull(table);
        var records = new List<IReadOnlyList<string>>(table.Count + 1)
        {
            table.HasText2 ? ["label", "text", "text2"] : ["label", "text"],
        };
        foreach (var r in table)
            records.Add(table.HasText2 ? [r.Label, r.Text, r.Text2 ?? ""] : [r.Label, r.Text]);
        WriteRecords(path, records, ',');
    }

    /// <summary>
    /// Writes a stratified sample of a delimited file, keeping every column of the chosen records unchanged
    /// (a header, when the options say there is one, is kept as the first line). Records are picked with
    /// <see cref="StratifiedSplit.SampleIndices(IReadOnlyList{string}, int, int)"/> on the label column and
    /// written in their original order, every field quoted, inner quotes doubled, LF line ends, UTF-8 without
    /// BOM. For a file written that way (such as AG News) each output line equals its input line.
    /// </summary>
    /// <returns>The number of data rows written.</returns>
    public static int WriteStratifiedSample(string sourcePath, string destinationPath, TextFileOptions options, int rowsPerClass, int seed)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!File.Exists(sourcePath)) throw new FileNotFoundException($"Data file '{sourcePath}' does not exist.", sourcePath);
        string text;
        using (var stream = File.OpenRead(sourcePath)) text = ReadAllText(stream, sourcePath);
        char separator = ChooseSeparator(text, sourcePath, options.Separator);
        var reader = new CsvReader(text, separator, sourcePath);

        var records = new List<string[]>();
        var fields = new List<string>();
        var lines = new List<int>();
        while (reader.TryReadRecord(fields, out int line))
        {
            records.Add(fields.ToArray());
            lines.Add(line);
        }
        if (records.Count == 0) throw new TextFileException(sourcePath, null, "the file is empty (no records).");
        var columns = ColumnMap.Resolve(sourcePath, options, records[0], lines[0], separator);
        int first = columns.HasHeader ? 1 : 0;
        var labels = new List<string>(records.Count - first);
        for (int i = first; i < records.Count; i++)
        {
            if (records[i].Length <= columns.Label || records[i][columns.Label].Trim().Length == 0)
                throw new TextFileException(sourcePath, lines[i], $"row {i - first + 1} has no label in column {columns.Describe(columns.Label)}.");
            labels.Add(records[i][columns.Label].Trim());
        }

        var chosen = StratifiedSplit.SampleIndices(labels, rowsPerClass, seed);
        var output = new List<IReadOnlyList<string>>(chosen.Count + first);
        if (first == 1) output.Add(records[0]);
        output.AddRange(chosen.Select(i => records[i + first]));
        WriteRecords(destinationPath, output, separator);
        return chosen.Count;
    }

    /// <summary>Writes records with every field quoted, atomically (temporary file, then move).</summary>
    internal static void WriteRecords(string path, IEnumerable<IReadOnlyList<string>> records, char separator)
    {
        var sb = new StringBuilder();
        foreach (var record in records)
        {
            for (int i = 0; i < record.Count; i++)
            {
                if (i > 0) sb.Append(separator);
                sb.Append('"').Append(record[i].Replace("\"", "\"\"", StringComparison.Ordinal)).Append('"');
            }
            sb.Append('\n');
        }
        AtomicFile.WriteAllText(path, sb.ToString());
    }

    internal static string ReadAllText(Stream stream, string displayName)
    {
        try
        {
            // Detects and drops a UTF-8 BOM; invalid UTF-8 throws instead of turning into U+FFFD.
            using var reader = new StreamReader(stream, StrictUtf8, detectEncodingFromByteOrderMarks: true, leaveOpen: true);
            return reader.ReadToEnd();
        }
        catch (DecoderFallbackException e)
        {
            throw new TextFileException(displayName, null, $"the file is not valid UTF-8 ({e.Message}).", e);
        }
    }

    internal static char ChooseSeparator(string text, string displayName, char? separator)
    {
        if (separator is char s) return s;
        string ext = Path.GetExtension(displayName).ToLowerInvariant();
        return ext switch
        {
            ".tsv" or ".tab" => '\t',
            ".csv" => ',',
            _ => CsvReader.SniffSeparator(text),
        };
    }

    /// <summary>The options' column references resolved to field indexes against the first record.</summary>
    private sealed class ColumnMap
    {
        private IReadOnlyList<string>? _header;

        public bool HasHeader { get; private init; }
        public int Label { get; private init; }
        public int[] Text { get; private init; } = [];
        public int? Text2 { get; private init; }
        public int MaxIndex { get; private init; }
        public int MinFieldCount => MaxIndex + 1;

        /// <summary>"'name' (index i)" or "index i", for messages.</summary>
        public string Describe(int index) =>
            _header is not null && index < _header.Count ? $"'{_header[index]}' (index {index})" : $"index {index}";

        public static ColumnMap Resolve(string file, TextFileOptions options, IReadOnlyList<string> firstRecord, int firstLine, char separator)
        {
            if (options.TextColumns is null || options.TextColumns.Count == 0)
                throw new TextFileException(file, null, "no text column was given: set at least one text column (index or header name).");
            var refs = new List<(string Role, string Ref)> { ("label column", options.LabelColumn) };
            refs.AddRange(options.TextColumns.Select(t => ("text column", t)));
            if (options.Sentence2Column is not null) refs.Add(("sentence-2 column", options.Sentence2Column));
            foreach (var (role, r) in refs)
                if (string.IsNullOrWhiteSpace(r))
                    throw new TextFileException(file, null, $"the {role} reference is empty: give a 0-based index or a header name.");

            bool namesUsed = refs.Any(r => !IsIndex(r.Ref));
            if (namesUsed && options.HasHeader == false)
                throw new TextFileException(file, null,
                    $"column '{refs.First(r => !IsIndex(r.Ref)).Ref}' is referenced by name but HasHeader is false: use a 0-based index, or let the header be detected.");
            bool hasHeader = options.HasHeader ?? namesUsed;
            var header = hasHeader ? firstRecord.Select(f => f.Trim()).ToArray() : null;

            int ResolveOne(string role, string r)
            {
                r = r.Trim();
                if (IsIndex(r))
                {
                    if (!int.TryParse(r, NumberStyles.None, CultureInfo.InvariantCulture, out int index))
                        throw new TextFileException(file, null, $"{role} index {r} is out of range.");
                    if (index >= firstRecord.Count)
                        throw new TextFileException(file, firstLine,
                            $"{role} index {index} is out of range: the first record has {firstRecord.Count} field(s) " +
                            $"(indexes 0 to {firstRecord.Count - 1}, separator '{CsvReader.Escape(separator)}').");
                    return index;
                }
                int found = Array.FindIndex(header!, h => string.Equals(h, r, StringComparison.OrdinalIgnoreCase));
                if (found < 0)
                    throw new TextFileException(file, firstLine,
                        $"unknown {role} '{r}'; the header has: {string.Join(", ", header!.Select(h => $"'{h}'"))} " +
                        $"(separator '{CsvReader.Escape(separator)}'). Use one of these names or a 0-based index.");
                return found;
            }

            int label = ResolveOne("label column", options.LabelColumn);
            int[] text = options.TextColumns.Select(t => ResolveOne("text column", t)).ToArray();
            int? text2 = options.Sentence2Column is null ? null : ResolveOne("sentence-2 column", options.Sentence2Column);
            int max = Math.Max(label, Math.Max(text.Max(), text2 ?? 0));
            return new ColumnMap { _header = header, HasHeader = hasHeader, Label = label, Text = text, Text2 = text2, MaxIndex = max };
        }

        private static bool IsIndex(string r) => r.Trim() is { Length: > 0 } t && t.All(char.IsAsciiDigit);
    }
}
