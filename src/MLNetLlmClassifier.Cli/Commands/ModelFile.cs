using Microsoft.ML;

namespace MLNetLlmClassifier.Cli.Commands;

/// <summary>Loads a saved pipeline with a clear error when the file is missing or not a model.</summary>
internal static class ModelFile
{
    public static ITransformer Load(MLContext ml, string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Model file '{path}' does not exist.", path);
        ml.ComponentCatalog.RegisterMLNetLlmClassifier();
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
}
