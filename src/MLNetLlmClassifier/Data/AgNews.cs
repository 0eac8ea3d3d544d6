namespace MLNetLlmClassifier.Data;

/// <summary>
/// The AG News topic-classification data set (Zhang, Zhao and LeCun, 2015) as distributed in
/// <c>ag_news_csv</c>: CSV without a header, columns class index (1–4), title, description; every field quoted.
/// </summary>
public static class AgNews
{
    /// <summary>Class names as in the data set's classes.txt (line i = class i), in key order.</summary>
    public static IReadOnlyList<string> ClassNames { get; } = ["World", "Sports", "Business", "Sci/Tech"];

    /// <summary>Label as written in the file ("1".."4") → class name.</summary>
    public static IReadOnlyDictionary<string, string> LabelNames { get; } = new Dictionary<string, string>
    {
        ["1"] = "World",
        ["2"] = "Sports",
        ["3"] = "Business",
        ["4"] = "Sci/Tech",
    };

    /// <summary>
    /// Options for an AG News file: label column 0, text = title (1) and description (2) joined by a space,
    /// no header, comma separator. Labels stay "1".."4" unless <paramref name="renameLabels"/> is true.
    /// </summary>
    public static TextFileOptions Options(bool renameLabels = false) => new()
    {
        LabelColumn = "0",
        TextColumns = ["1", "2"],
        HasHeader = false,
        Separator = ',',
        LabelNames = renameLabels ? LabelNames : null,
    };
}
