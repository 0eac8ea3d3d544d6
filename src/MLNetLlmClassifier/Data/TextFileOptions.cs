namespace MLNetLlmClassifier.Data;

/// <summary>
/// How to read a delimited text file (CSV/TSV) into a <see cref="TextClassificationTable"/>.
/// </summary>
/// <remarks>
/// <para><b>Column references.</b> A column is named either by a 0-based index (a string of digits such as
/// <c>"0"</c>) or by a header name (anything else, matched case-insensitively after trimming; the first
/// matching header field wins). A string of digits is always an index, even when the header has a
/// column of that name.</para>
/// <para><b>Header rule.</b> When <see cref="HasHeader"/> is null (auto-detect):
/// if any column is referenced by name, the first record must be a header that contains every such name
/// (otherwise the name is reported as unknown, listing the first record's fields); if all columns are
/// referenced by index, the first record is data. Set <see cref="HasHeader"/> = true to skip a header while
/// using indexes; referencing a column by name with <see cref="HasHeader"/> = false is an error.</para>
/// <para><b>Separator.</b> When <see cref="Separator"/> is null: <c>.tsv</c> and <c>.tab</c> files use tab, <c>.csv</c>
/// files use comma, anything else is sniffed from the first record (the most frequent of comma, tab,
/// semicolon and pipe outside quotes; comma when none occurs).</para>
/// </remarks>
public sealed record TextFileOptions
{
    /// <summary>Column holding the class label (index or header name). Default <c>"0"</c>.</summary>
    public string LabelColumn { get; init; } = "0";

    /// <summary>
    /// Columns holding the text (indexes or header names). Several columns are joined with a single space,
    /// skipping empty ones (AG News: <c>["1", "2"]</c> gives "title description"). Default <c>["1"]</c>.
    /// </summary>
    public IReadOnlyList<string> TextColumns { get; init; } = ["1"];

    /// <summary>Optional second text column for sentence-pair tasks (becomes <c>Text2</c>).</summary>
    public string? Sentence2Column { get; init; }

    /// <summary>Whether the first record is a header; null = auto-detect (see the class remarks).</summary>
    public bool? HasHeader { get; init; }

    /// <summary>Field separator; null = by extension or sniffed (see the class remarks).</summary>
    public char? Separator { get; init; }

    /// <summary>
    /// Optional renaming of labels as written in the file to class names (AG News: "1" → "World", ...).
    /// When set, every label in the file must be a key of the map: a label that is not is an error naming its line.
    /// </summary>
    public IReadOnlyDictionary<string, string>? LabelNames { get; init; }

    /// <summary>
    /// Splits a comma-separated list of column references as given on a command line (<c>"1,2"</c> or
    /// <c>"title, description"</c>) into trimmed, non-empty items.
    /// </summary>
    /// <exception cref="ArgumentException">The list is empty.</exception>
    public static IReadOnlyList<string> ParseColumnList(string list, string optionName = "--text-column")
    {
        var items = (list ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (items.Length == 0)
            throw new ArgumentException($"{optionName} = '{list}' names no column: give a 0-based index or a header name, several separated by commas.", optionName);
        return items;
    }
}
