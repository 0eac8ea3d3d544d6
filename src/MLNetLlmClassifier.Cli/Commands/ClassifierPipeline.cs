using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;
using MLNetLlmClassifier.Data;
using MLNetLlmClassifier.Families;

namespace MLNetLlmClassifier.Cli.Commands;

/// <summary>
/// The pipeline the CLI trains and saves: MapValueToKey(Label) → the family's estimator → MapKeyToValue(PredictedLabel),
/// over the columns of <see cref="TextClassificationTable.ToDataView"/> (Label, Text, optional Text2).
/// </summary>
internal static class ClassifierPipeline
{
    // The CLI's families (CliFamilies) are registered before anything here looks a family up.
    static ClassifierPipeline() => CliFamilies.EnsureRegistered();

    public const string TextColumn = "Text";
    public const string Text2Column = "Text2";

    /// <summary>Fits the whole pipeline; the validation table (optional) is mapped with the training label keys.</summary>
    /// <returns>The chain, and the family's own fitted transformer inside it (a <see cref="TextClassifierTransformer"/> for our families).</returns>
    public static (TransformerChain<ITransformer> Model, ITransformer Fitted) Fit(
        MLContext ml, ClassifierFamily family, object options, TextClassificationTable train, TextClassificationTable? valid)
    {
        var trainView = train.ToDataView(ml);
        var keyMap = ml.Transforms.Conversion.MapValueToKey("Label", keyOrdinality: ValueToKeyMappingEstimator.KeyOrdinality.ByValue).Fit(trainView);
        var keyed = keyMap.Transform(trainView);
        if (valid is not null && options is TransformerTrainerOptions t) t.ValidationSet = keyMap.Transform(valid.ToDataView(ml));
        var fitted = family.CreateEstimator(ml, options).Fit(keyed);
        try
        {
            var keyToValue = ml.Transforms.Conversion.MapKeyToValue("PredictedLabel").Fit(fitted.Transform(keyed));
            return (new TransformerChain<ITransformer>(keyMap, fitted, keyToValue), fitted);
        }
        catch
        {
            (fitted as IDisposable)?.Dispose();
            throw;
        }
    }

    /// <summary>The family's options for the CLI's column names, with the family's defaults.</summary>
    public static object NewOptions(ClassifierFamily family, string? modelPath, bool pairs) =>
        family.CreateOptions(modelPath, TextColumn, pairs ? Text2Column : null);

    /// <summary>Finds our classifier inside a loaded pipeline.</summary>
    public static TextClassifierTransformer FindClassifier(ITransformer model) =>
        (model as IEnumerable<ITransformer>)?.OfType<TextClassifierTransformer>().FirstOrDefault()
        ?? throw new InvalidDataException("The model file holds no MLNetLlmClassifier text classifier.");
}
