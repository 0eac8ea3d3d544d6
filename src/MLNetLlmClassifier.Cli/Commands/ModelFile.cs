using Microsoft.ML;

namespace MLNetLlmClassifier.Cli.Commands;

/// <summary>Loads a saved pipeline with a clear error when the file is missing or not a model.</summary>
internal static class ModelFile
{
    public static ITransformer Load(MLContext ml, string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Model file '{path}' does not exist.", path);
        ml.ComponentCatalog.RegisterMLNetLlmClassifier();
        NotAnMlNetModel(path);
        try
        {
            return ml.Model.Load(path, out _);
        }
        catch (Exception caught) when (CliCommon.Unwrap(caught) is not (OperationCanceledException or OutOfMemoryException))
        {
            // ML.NET calls our loader through reflection: name the file and say what failed inside, on one line.
            var e = CliCommon.Unwrap(caught);
            throw new InvalidDataException($"'{path}' could not be loaded as an ML.NET model: {CliCommon.ErrorLine(e)["error: ".Length..]}", caught);
        }
    }

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
