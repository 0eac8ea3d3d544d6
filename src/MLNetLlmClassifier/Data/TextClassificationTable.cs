using System.Collections;
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetLlmClassifier.Data;

/// <summary>One labelled example: the label as written (or renamed), the text, and an optional second text.</summary>
/// <param name="Label">Class label, never empty.</param>
/// <param name="Text">The text to classify; may be empty.</param>
/// <param name="Text2">Second text of a sentence pair, or null.</param>
public sealed record TextClassificationRow(string Label, string Text, string? Text2 = null);

/// <summary>
/// An in-memory text-classification data set: rows of (Label, Text, Text2?). Immutable.
/// Convert to ML.NET with <see cref="ToDataView"/>; read files with <see cref="TextClassificationFile"/>.
/// </summary>
public sealed class TextClassificationTable : IReadOnlyList<TextClassificationRow>
{
    private readonly TextClassificationRow[] _rows;

    /// <summary>Creates a table from rows.</summary>
    /// <param name="rows">The rows; none may be null, labels must be non-empty.</param>
    /// <param name="source">Where the rows came from (file name), for messages.</param>
    /// <exception cref="ArgumentException">A row is null or has an empty label.</exception>
    public TextClassificationTable(IEnumerable<TextClassificationRow> rows, string source = "(in memory)")
    {
        ArgumentNullException.ThrowIfNull(rows);
        _rows = rows.ToArray();
        Source = source;
        for (int i = 0; i < _rows.Length; i++)
        {
            if (_rows[i] is null) throw new ArgumentException($"{source}: row {i + 1} is null.", nameof(rows));
            if (string.IsNullOrEmpty(_rows[i].Label)) throw new ArgumentException($"{source}: row {i + 1} has an empty label.", nameof(rows));
            ArgumentNullException.ThrowIfNull(_rows[i].Text, $"{nameof(rows)}[{i}].Text");
        }
        HasText2 = _rows.Any(r => r.Text2 is not null);
        Labels = _rows.Select(r => r.Label).Distinct(StringComparer.Ordinal).ToArray();
    }

    /// <summary>
    /// What looked wrong while reading the file (a label with whitespace around it, a row with another field count than the header,
    /// ...), one line each naming the row; empty when nothing did. The CLI prints them; <see cref="TextClassificationFile"/> sets them.
    /// </summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];

    /// <summary>Where the rows came from (file path or display name).</summary>
    public string Source { get; }

    /// <summary>Whether any row has a second text; <see cref="ToDataView"/> then adds a <c>Text2</c> column (null → "").</summary>
    public bool HasText2 { get; }

    /// <summary>The distinct labels in order of first appearance (the order ML.NET's MapValueToKey gives by default).</summary>
    public IReadOnlyList<string> Labels { get; }

    /// <summary>Number of rows.</summary>
    public int Count => _rows.Length;

    /// <summary>The row at a 0-based index.</summary>
    public TextClassificationRow this[int index] => _rows[index];

    /// <summary>Rows per label, in the order of <see cref="Labels"/>.</summary>
    public IReadOnlyDictionary<string, int> CountByLabel()
    {
        var counts = Labels.ToDictionary(l => l, _ => 0, StringComparer.Ordinal);
        foreach (var r in _rows) counts[r.Label]++;
        return counts;
    }

    /// <summary>Returns a table whose labels are renamed through <paramref name="labelNames"/>.</summary>
    /// <exception cref="ArgumentException">A label is not a key of the map.</exception>
    public TextClassificationTable WithLabelNames(IReadOnlyDictionary<string, string> labelNames)
    {
        ArgumentNullException.ThrowIfNull(labelNames);
        return new TextClassificationTable(_rows.Select((r, i) => labelNames.TryGetValue(r.Label, out var name)
            ? r with { Label = name }
            : throw new ArgumentException(
                $"{Source}: row {i + 1} has label '{r.Label}', which is not in the label-name map (keys: {string.Join(", ", labelNames.Keys)}).",
                nameof(labelNames))), Source);
    }

    /// <summary>
    /// An ML.NET view of the rows with text columns <c>Label</c> and <c>Text</c>, and <c>Text2</c> when
    /// <see cref="HasText2"/>. The view reads this table's rows each time it is cursored.
    /// </summary>
    public IDataView ToDataView(MLContext ml)
    {
        ArgumentNullException.ThrowIfNull(ml);
        return HasText2
            ? ml.Data.LoadFromEnumerable(_rows.Select(r => new PairRow { Label = r.Label, Text = r.Text, Text2 = r.Text2 ?? "" }))
            : ml.Data.LoadFromEnumerable(_rows.Select(r => new SingleRow { Label = r.Label, Text = r.Text }));
    }

    /// <summary>
    /// Reads a table back from an ML.NET view. The label column may be text, a key (its key values are used
    /// when present, otherwise the 1-based key number), a number or a boolean; text columns must be text.
    /// </summary>
    /// <exception cref="ArgumentException">A column is missing or has an unsupported type.</exception>
    public static TextClassificationTable FromDataView(IDataView data, string labelColumn = "Label", string textColumn = "Text",
        string? text2Column = null, string source = "(data view)")
    {
        ArgumentNullException.ThrowIfNull(data);
        var schema = data.Schema;
        var label = FindColumn(schema, labelColumn, source);
        var text = FindColumn(schema, textColumn, source);
        var text2 = text2Column is null ? (DataViewSchema.Column?)null : FindColumn(schema, text2Column, source);
        var active = new List<DataViewSchema.Column> { label, text };
        if (text2 is { } second) active.Add(second);
        foreach (var c in active.Skip(1))
            if (c.Type is not TextDataViewType)
                throw new ArgumentException($"{source}: column '{c.Name}' has type {c.Type}, expected text.", nameof(data));
        var rows = new List<TextClassificationRow>();
        using var cursor = data.GetRowCursor(active);
        var getLabel = StringGetter(cursor, label, source);
        var getText = cursor.GetGetter<ReadOnlyMemory<char>>(text);
        var getText2 = text2 is { } g2 ? cursor.GetGetter<ReadOnlyMemory<char>>(g2) : null;
        ReadOnlyMemory<char> value = default;
        while (cursor.MoveNext())
        {
            getText(ref value);
            string t = value.ToString();
            string? t2 = null;
            if (getText2 is not null)
            {
                getText2(ref value);
                t2 = value.ToString();
            }
            string l = getLabel();
            if (string.IsNullOrEmpty(l))
                throw new ArgumentException($"{source}: row {cursor.Position + 1} has a missing label in column '{label.Name}'.", nameof(data));
            rows.Add(new TextClassificationRow(l, t, t2));
        }
        return new TextClassificationTable(rows, source);
    }

    private static DataViewSchema.Column FindColumn(DataViewSchema schema, string name, string source) =>
        schema.GetColumnOrNull(name) ?? throw new ArgumentException(
            $"{source}: no column '{name}'; the view has: {string.Join(", ", schema.Select(c => c.Name))}.", nameof(name));

    /// <summary>A getter that renders the current value of a label column as a string.</summary>
    private static Func<string> StringGetter(DataViewRowCursor cursor, DataViewSchema.Column column, string source)
    {
        switch (column.Type)
        {
            case TextDataViewType:
                {
                    var g = cursor.GetGetter<ReadOnlyMemory<char>>(column);
                    ReadOnlyMemory<char> v = default;
                    return () => { g(ref v); return v.ToString().Trim(); };
                }
            case KeyDataViewType key:
                {
                    // Keys are 1-based; 0 means missing.
                    var g = cursor.GetGetter<uint>(column);
                    VBuffer<ReadOnlyMemory<char>> names = default;
                    bool hasNames = column.HasKeyValues();
                    if (hasNames) column.GetKeyValues(ref names);
                    var dense = hasNames ? names.DenseValues().Select(n => n.ToString()).ToArray() : null;
                    uint v = 0;
                    return () =>
                    {
                        g(ref v);
                        if (v == 0) return "";
                        return dense is not null && v <= dense.Length ? dense[v - 1] : v.ToString(CultureInfo.InvariantCulture);
                    };
                }
            case BooleanDataViewType:
                {
                    var g = cursor.GetGetter<bool>(column);
                    bool v = false;
                    return () => { g(ref v); return v ? "true" : "false"; };
                }
            default:
                return column.Type.RawType switch
                {
                    var t when t == typeof(float) => NumberGetter<float>(cursor, column, f => float.IsNaN(f) ? "" : f.ToString("R", CultureInfo.InvariantCulture)),
                    var t when t == typeof(double) => NumberGetter<double>(cursor, column, d => double.IsNaN(d) ? "" : d.ToString("R", CultureInfo.InvariantCulture)),
                    var t when t == typeof(int) => NumberGetter<int>(cursor, column, i => i.ToString(CultureInfo.InvariantCulture)),
                    var t when t == typeof(long) => NumberGetter<long>(cursor, column, i => i.ToString(CultureInfo.InvariantCulture)),
                    var t when t == typeof(uint) => NumberGetter<uint>(cursor, column, i => i.ToString(CultureInfo.InvariantCulture)),
                    _ => throw new ArgumentException(
                        $"{source}: label column '{column.Name}' has type {column.Type}; expected text, key, number or boolean.", nameof(column)),
                };
        }
    }

    private static Func<string> NumberGetter<T>(DataViewRowCursor cursor, DataViewSchema.Column column, Func<T, string> format)
    {
        var g = cursor.GetGetter<T>(column);
        T v = default!;
        return () => { g(ref v); return format(v); };
    }

    /// <inheritdoc />
    public IEnumerator<TextClassificationRow> GetEnumerator() => ((IEnumerable<TextClassificationRow>)_rows).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    // Row classes for LoadFromEnumerable: public members are how ML.NET finds the columns.
    private sealed class SingleRow
    {
        public string Label { get; set; } = "";
        public string Text { get; set; } = "";
    }

    private sealed class PairRow
    {
        public string Label { get; set; } = "";
        public string Text { get; set; } = "";
        public string Text2 { get; set; } = "";
    }
}
