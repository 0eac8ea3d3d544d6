using System.IO.Compression;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.ML;
using MLNetLlmClassifier.Data;

namespace MLNetLlmClassifier.Cli.Commands;

/// <summary>
/// Loads a saved pipeline with a clear error when the file is missing or not a model, and reads and writes the data-file
/// columns a model was trained with (<see cref="ColumnsEntry"/>): which columns of the user's file held the label and the
/// text, whether it had a header and how its labels were renamed. The class names and the prompted decoder's prompt
/// travel in the classifier's own folder inside the zip (mlnet-classifier.json); the columns are a property of the data
/// file, which the CLI alone knows, so the CLI records them for every family (SDCA and ML.NET's TextClassification too).
/// </summary>
internal static class ModelFile
{
    /// <summary>The zip entry holding the data-file columns; model.zips written before it existed lack it (then the flags' defaults apply).</summary>
    public const string ColumnsEntry = "MLNetLlmClassifier/DataColumns.json";

    /// <summary>Largest columns entry read (a corrupt size must not cost memory).</summary>
    internal const int MaxColumnsEntryBytes = 1 << 20;

    public static ITransformer Load(MLContext ml, string path) => Load(ml, path, out _);

    /// <summary>Loads the pipeline and the input schema it was saved with.</summary>
    public static ITransformer Load(MLContext ml, string path, out DataViewSchema inputSchema)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Model file '{path}' does not exist.", path);
        ml.ComponentCatalog.RegisterMLNetLlmClassifier();
        NotAnMlNetModel(path);
        try
        {
            return ml.Model.Load(path, out inputSchema);
        }
        catch (Exception caught) when (CliCommon.Unwrap(caught) is not (OperationCanceledException or OutOfMemoryException))
        {
            // ML.NET calls our loader through reflection: name the file and say what failed inside, on one line.
            var e = CliCommon.Unwrap(caught);
            throw new InvalidDataException($"'{path}' could not be loaded as an ML.NET model: {CliCommon.ErrorLine(e)["error: ".Length..]}", caught);
        }
    }

    /// <summary>Adds (or replaces) the columns entry of a model zip. The file is changed in place: call it on a temporary file before it is renamed into place.</summary>
    public static void WriteColumns(string zipPath, TextFileOptions columns)
    {
        var json = new JsonObject
        {
            ["format_version"] = 1,
            ["label_column"] = columns.LabelColumn,
            ["text_columns"] = new JsonArray(columns.TextColumns.Select(c => (JsonNode)c).ToArray()),
            ["text2_column"] = columns.Sentence2Column,
            ["has_header"] = columns.HasHeader,
            ["label_names"] = columns.LabelNames is null ? null
                : new JsonObject(columns.LabelNames.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
        };
        using var archive = ZipFile.Open(zipPath, ZipArchiveMode.Update);
        archive.GetEntry(ColumnsEntry)?.Delete();
        using var stream = archive.CreateEntry(ColumnsEntry, CompressionLevel.Optimal).Open();
        using var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        json.WriteTo(writer);
    }

    /// <summary>The columns a model was trained with, or null for a model.zip that does not record them (older versions, library users' own saves).</summary>
    /// <exception cref="InvalidDataException">The entry exists but is not a valid columns record (one line naming the file).</exception>
    public static TextFileOptions? ReadColumns(string zipPath)
    {
        // A missing file or one that is no zip is reported by Load, with the model's own message.
        if (!File.Exists(zipPath)) return null;
        ZipArchive archive;
        try { archive = ZipFile.OpenRead(zipPath); }
        catch (InvalidDataException) { return null; }
        using var _ = archive;
        if (archive.GetEntry(ColumnsEntry) is not { } entry) return null;
        InvalidDataException Bad(string problem) => new($"'{zipPath}': entry {ColumnsEntry} {problem}.");
        if (entry.Length > MaxColumnsEntryBytes) throw Bad($"declares {entry.Length} bytes (at most {MaxColumnsEntryBytes})");
        JsonObject json;
        try
        {
            using var s = entry.Open();
            var bytes = new byte[entry.Length];
            s.ReadExactly(bytes);
            json = JsonNode.Parse(bytes)?.AsObject() ?? throw Bad("is empty");
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or EndOfStreamException)
        {
            throw Bad($"is not valid JSON ({e.Message})");
        }
        try
        {
            if (json["format_version"]?.GetValue<int>() is not 1) throw Bad("has an unknown format_version (this version reads 1)");
            string label = json["label_column"]?.GetValue<string>() is { Length: > 0 } l ? l : throw Bad("has no label_column");
            var text = json["text_columns"]?.AsArray().Select(n => n?.GetValue<string>() ?? throw Bad("has a null text column")).ToArray() ?? [];
            if (text.Length == 0) throw Bad("has no text_columns");
            var names = json["label_names"]?.AsObject().ToDictionary(kv => kv.Key, kv => kv.Value?.GetValue<string>() ?? throw Bad($"maps label '{kv.Key}' to null"), StringComparer.Ordinal);
            return new TextFileOptions
            {
                LabelColumn = label,
                TextColumns = text,
                Sentence2Column = json["text2_column"]?.GetValue<string>(),
                HasHeader = json["has_header"]?.GetValue<bool>(),
                LabelNames = names,
            };
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            throw Bad($"has a field of the wrong type ({e.Message})");
        }
    }

    /// <summary>"label 'category', text 'title' + 'body'": how the columns are shown in messages.</summary>
    public static string Describe(TextFileOptions columns) =>
        $"label column '{columns.LabelColumn}', text column(s) {string.Join(" + ", columns.TextColumns.Select(c => $"'{c}'"))}" +
        (columns.Sentence2Column is { } t2 ? $", second text '{t2}'" : "");

    /// <summary>
    /// A readable zip without any Model.key entry is another program's zip, not an ML.NET model (ML.NET itself then says
    /// "Could not load legacy format model"). Unreadable zips are left to ML.NET's own message.
    /// </summary>
    private static void NotAnMlNetModel(string path)
    {
        List<string> names;
        try
        {
            using var zip = System.IO.Compression.ZipFile.OpenRead(path);
            names = zip.Entries.Select(e => e.FullName).ToList();
        }
        catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException)
        {
            return;
        }
        if (!names.Any(n => n == "Model.key" || n.EndsWith("/Model.key", StringComparison.Ordinal) || n.EndsWith("\\Model.key", StringComparison.Ordinal)))
            throw new InvalidDataException($"'{path}' is a zip file but not an ML.NET model: it has no Model.key entry (it holds " +
                $"{string.Join(", ", names.Take(5).Select(n => IO.UntrustedText.OneLine(n, 60)))}{(names.Count > 5 ? $" and {names.Count - 5} more" : "")}). " +
                "Give the model.zip that train or ML.NET's mlContext.Model.Save wrote.");
    }
}
