using System.Text;

namespace MLNetLlmClassifier.Data;

/// <summary>
/// A strict RFC 4180 record reader over text already in memory.
/// <list type="bullet">
/// <item>A field that starts with a double quote is quoted: it runs to the next lone quote, <c>""</c> inside
/// it is one quote, and separators and line breaks inside it belong to the field.</item>
/// <item>After a closing quote only a separator or the end of the line may follow; anything else is an error
/// (most often an unescaped quote inside a quoted field).</item>
/// <item>A quote inside an unquoted field is kept as a literal character (common in hand-made files).</item>
/// <item>Records end at LF, CRLF or a lone CR. A CRLF or lone CR inside a quoted field is read as LF, so the same
/// file gives the same text whatever its line ends.</item>
/// <item>Completely empty lines are skipped (they are not records); the last line may or may not end with a line break.</item>
/// </list>
/// Line numbers are 1-based physical lines; a record reports the line it starts on.
/// </summary>
internal sealed class CsvReader
{
    private readonly string _text;
    private readonly char _separator;
    private readonly string _displayName;
    private readonly StringBuilder _field = new();
    private int _pos;
    private int _line = 1;

    public CsvReader(string text, char separator, string displayName)
    {
        if (separator is '"' or '\r' or '\n')
            throw new ArgumentException($"'{Escape(separator)}' cannot be a field separator.", nameof(separator));
        _text = text;
        _separator = separator;
        _displayName = displayName;
        // A UTF-8 BOM that survived decoding (e.g. text handed in as a string) is not part of the first field.
        if (_text.Length > 0 && _text[0] == '\uFEFF') _pos = 1;
    }

    /// <summary>Number of records returned so far (1-based number of the last record).</summary>
    public int RecordCount { get; private set; }

    /// <summary>Reads the next record into <paramref name="fields"/>; false at the end of the text.</summary>
    /// <param name="fields">Cleared, then filled with the record's fields.</param>
    /// <param name="startLine">The 1-based line the record starts on.</param>
    /// <exception cref="TextFileException">Unterminated quote, or text after a closing quote.</exception>
    public bool TryReadRecord(List<string> fields, out int startLine)
    {
        fields.Clear();
        // Skip empty lines between records.
        while (_pos < _text.Length && _text[_pos] is '\r' or '\n')
            ConsumeLineBreak();
        startLine = _line;
        if (_pos >= _text.Length) return false;

        while (true)
        {
            bool endOfRecord = ReadField(fields.Count + 1, startLine);
            fields.Add(_field.ToString());
            _field.Clear();
            if (endOfRecord) break;
        }
        RecordCount++;
        return true;
    }

    /// <summary>Reads one field; true when it was the last one of its record (line break or end of text consumed).</summary>
    private bool ReadField(int fieldNumber, int recordLine)
    {
        if (_pos < _text.Length && _text[_pos] == '"')
        {
            int quoteLine = _line;
            _pos++;
            while (true)
            {
                if (_pos >= _text.Length)
                    throw new TextFileException(_displayName, quoteLine,
                        $"unterminated quote: field {fieldNumber} of the record starting on line {recordLine} opens a quote on line {quoteLine} that is never closed.");
                char c = _text[_pos];
                if (c == '"')
                {
                    if (_pos + 1 < _text.Length && _text[_pos + 1] == '"')
                    {
                        _field.Append('"');
                        _pos += 2;
                        continue;
                    }
                    _pos++;
                    break;
                }
                if (c is '\r' or '\n')
                {
                    ConsumeLineBreak();
                    _field.Append('\n');
                    continue;
                }
                _field.Append(c);
                _pos++;
            }
            // Only a separator or the end of the line may follow the closing quote.
            if (_pos < _text.Length && _text[_pos] != _separator && _text[_pos] is not ('\r' or '\n'))
                throw new TextFileException(_displayName, _line,
                    $"unexpected character '{Escape(_text[_pos])}' after the closing quote of field {fieldNumber}; " +
                    "a quote inside a quoted field must be doubled (\"\").");
        }
        else
        {
            int start = _pos;
            while (_pos < _text.Length && _text[_pos] != _separator && _text[_pos] is not ('\r' or '\n'))
                _pos++;
            _field.Append(_text, start, _pos - start);
        }

        if (_pos >= _text.Length) return true;
        if (_text[_pos] == _separator)
        {
            _pos++;
            return false;
        }
        ConsumeLineBreak();
        return true;
    }

    /// <summary>Consumes LF, CRLF or a lone CR at the current position and counts the line.</summary>
    private void ConsumeLineBreak()
    {
        if (_text[_pos] == '\r' && _pos + 1 < _text.Length && _text[_pos + 1] == '\n') _pos++;
        _pos++;
        _line++;
    }

    /// <summary>
    /// Guesses the separator from the first record: the most frequent of comma, tab, semicolon and pipe outside
    /// quotes (ties in that order); comma when none occurs (a one-column file).
    /// </summary>
    public static char SniffSeparator(string text)
    {
        ReadOnlySpan<char> candidates = [',', '\t', ';', '|'];
        Span<int> counts = stackalloc int[candidates.Length];
        bool inQuotes = false;
        foreach (char c in text)
        {
            if (c == '"') inQuotes = !inQuotes; // a doubled quote toggles twice: still right
            else if (!inQuotes && c is '\r' or '\n') break;
            else if (!inQuotes)
            {
                int i = candidates.IndexOf(c);
                if (i >= 0) counts[i]++;
            }
        }
        int best = 0;
        for (int i = 1; i < candidates.Length; i++)
            if (counts[i] > counts[best]) best = i;
        return candidates[best];
    }

    internal static string Escape(char c) => c switch
    {
        '\t' => "\\t",
        '\r' => "\\r",
        '\n' => "\\n",
        _ => c.ToString(),
    };
}
