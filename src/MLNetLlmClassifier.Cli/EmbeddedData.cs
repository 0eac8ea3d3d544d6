using System.Reflection;
using MLNetLlmClassifier.Data;

namespace MLNetLlmClassifier.Cli;

/// <summary>
/// Data files shipped inside the CLI assembly (everything under <c>Data/</c> is an embedded resource). The default
/// data set is <c>ag_news_sample.csv</c>: 2,000 AG News test rows, 500 per class (see Data/README.md).
/// </summary>
public static class EmbeddedData
{
    /// <summary>File name of the embedded AG News sample.</summary>
    public const string AgNewsSampleFileName = "ag_news_sample.csv";

    /// <summary>Opens an embedded file of <c>Data/</c> by its file name.</summary>
    /// <exception cref="FileNotFoundException">No such resource (lists the ones there are).</exception>
    public static Stream Open(string fileName)
    {
        var assembly = typeof(EmbeddedData).Assembly;
        // MSBuild names Data/x.csv "<RootNamespace>.Data.x.csv".
        string suffix = ".Data." + fileName;
        string? name = assembly.GetManifestResourceNames().FirstOrDefault(n => n.EndsWith(suffix, StringComparison.Ordinal));
        return (name is null ? null : assembly.GetManifestResourceStream(name))
            ?? throw new FileNotFoundException(
                $"Embedded data file '{fileName}' is not in {assembly.GetName().Name}; it has: {string.Join(", ", assembly.GetManifestResourceNames())}.",
                fileName);
    }

    /// <summary>Opens the embedded AG News sample (CSV, no header: label 1–4, title, description).</summary>
    public static Stream OpenAgNewsSample() => Open(AgNewsSampleFileName);

    /// <summary>Loads the embedded AG News sample as a table (text = title + " " + description).</summary>
    /// <param name="renameLabels">True for class names (World, Sports, Business, Sci/Tech), false for "1".."4".</param>
    public static TextClassificationTable LoadAgNewsSample(bool renameLabels = false)
    {
        using var stream = OpenAgNewsSample();
        return TextClassificationFile.Load(stream, $"(embedded) {AgNewsSampleFileName}", AgNews.Options(renameLabels));
    }
}
