using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;
using MLNetLlmClassifier.Bert;
using MLNetLlmClassifier.Data;
using MLNetLlmClassifier.MLNet;
using MLNetLlmClassifier.Qwen3;

namespace MLNetLlmClassifier.Cli.Commands;

/// <summary>
/// The pipeline the CLI trains and saves: MapValueToKey(Label) → trainer → MapKeyToValue(PredictedLabel),
/// over the columns of <see cref="TextClassificationTable.ToDataView"/> (Label, Text, optional Text2).
/// </summary>
internal static class ClassifierPipeline
{
    public const string TextColumn = "Text";
    public const string Text2Column = "Text2";

    /// <summary>Fits the whole pipeline; the validation table (optional) is mapped with the training label keys.</summary>
    public static (TransformerChain<ITransformer> Model, TextClassificationTransformer Classifier) Fit(
        MLContext ml, string trainer, TransformerTrainerOptions options, TextClassificationTable train, TextClassificationTable? valid)
    {
        var trainView = train.ToDataView(ml);
        var keyMap = ml.Transforms.Conversion.MapValueToKey("Label", keyOrdinality: ValueToKeyMappingEstimator.KeyOrdinality.ByValue).Fit(trainView);
        var keyed = keyMap.Transform(trainView);
        if (valid is not null) options.ValidationSet = keyMap.Transform(valid.ToDataView(ml));
        IEstimator<TextClassificationTransformer> estimator = trainer switch
        {
            "bert" => ml.MulticlassClassification.Trainers.BertTextClassification((BertTextClassificationTrainer.Options)options),
            "qwen3" => ml.MulticlassClassification.Trainers.PromptedDecoderClassifier((PromptedDecoderClassifierTrainer.Options)options),
            _ => throw new ArgumentException($"--trainer '{trainer}' is not a trainer: use bert or qwen3."),
        };
        var classifier = estimator.Fit(keyed);
        try
        {
            var keyToValue = ml.Transforms.Conversion.MapKeyToValue("PredictedLabel").Fit(classifier.Transform(keyed));
            return (new TransformerChain<ITransformer>(keyMap, classifier, keyToValue), classifier);
        }
        catch
        {
            classifier.Dispose();
            throw;
        }
    }

    /// <summary>Trainer options for the CLI's column names, with the trainer's defaults.</summary>
    public static TransformerTrainerOptions NewOptions(string trainer, string modelPath, bool pairs) => trainer switch
    {
        "bert" => new BertTextClassificationTrainer.Options
        {
            ModelPath = modelPath,
            Sentence1ColumnName = TextColumn,
            Sentence2ColumnName = pairs ? Text2Column : null,
        },
        "qwen3" => pairs
            ? throw new ArgumentException("The prompted decoder reads one text column; --text2-column is for BERT sentence pairs.")
            : new PromptedDecoderClassifierTrainer.Options { ModelPath = modelPath, TextColumnName = TextColumn },
        _ => throw new ArgumentException($"--trainer '{trainer}' is not a trainer: use bert or qwen3."),
    };

    /// <summary>Finds our classifier inside a loaded pipeline.</summary>
    public static TextClassificationTransformer FindClassifier(ITransformer model) =>
        (model as IEnumerable<ITransformer>)?.OfType<TextClassificationTransformer>().FirstOrDefault()
        ?? throw new InvalidDataException("The model file holds no MLNetLlmClassifier text classifier.");
}
