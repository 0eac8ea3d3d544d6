using Microsoft.ML;
using Microsoft.ML.Runtime;
using MLNetLlmClassifier.MLNet;
using MLNetLlmClassifier.Training;

namespace MLNetLlmClassifier.Bert;

/// <summary>
/// Fine-tunes a BERT-family encoder from any Hugging Face BERT checkpoint folder with a linear head
/// on the pooled [CLS] output, in the shape of ML.NET's <c>TextClassification</c> trainer.
/// Create it with <c>mlContext.MulticlassClassification.Trainers.BertTextClassification(...)</c>.
/// </summary>
/// <remarks>
/// <list type="table">
/// <listheader><term>Column</term><description>Type</description></listheader>
/// <item><term>Label (input)</term><description>Key (UInt32): use MapValueToKey. Rows with a missing key are skipped.</description></item>
/// <item><term>Sentence1 (input)</term><description>Text. Null or empty text is encoded as <c>[CLS] [SEP]</c> and still gets a prediction.</description></item>
/// <item><term>Sentence2 (input, optional)</term><description>Text: the second sentence of a pair, <c>[CLS] a [SEP] b [SEP]</c> with token types 0/1.</description></item>
/// <item><term>PredictedLabel (output)</term><description>Key (UInt32) with the label's KeyValues.</description></item>
/// <item><term>Score (output)</term><description>Vector of Single: class probabilities (softmax), SlotNames = class names.</description></item>
/// </list>
/// Text longer than <see cref="TransformerTrainerOptions.MaxSequenceLength"/> tokens (special tokens included,
/// capped at the model's max_position_embeddings) is truncated on the <see cref="TransformerTrainerOptions.Truncation"/> side;
/// pairs are truncated longest-first, as Hugging Face does.
/// </remarks>
public sealed class BertTextClassificationTrainer : IEstimator<TextClassifierTransformer>
{
    /// <summary>Options of <see cref="BertTextClassificationTrainer"/>. Defaults follow the reference AG News recipe for bert-base-cased.</summary>
    public sealed class Options : TransformerTrainerOptions
    {
        /// <summary>Creates options with the BERT defaults.</summary>
        public Options()
        {
            LearningRate = 1e-5;
            BatchSize = 64;
            WeightDecay = 1e-6;
            NumberOfEpochs = 2;
            MaxSequenceLength = 512;
        }

        /// <summary>First (or only) text column. Default "Sentence1", as ML.NET's TextClassification.</summary>
        public string Sentence1ColumnName { get; set; } = "Sentence1";

        /// <summary>Optional second text column for sentence-pair tasks. Default null.</summary>
        public string? Sentence2ColumnName { get; set; }

        /// <inheritdoc/>
        public override void Validate()
        {
            base.Validate();
            if (string.IsNullOrWhiteSpace(Sentence1ColumnName))
                throw new ArgumentOutOfRangeException(nameof(Sentence1ColumnName), Sentence1ColumnName, $"Option {nameof(Sentence1ColumnName)} is invalid: give a column name.");
        }
    }

    private readonly IHostEnvironment _env;
    private readonly Options _options;

    internal BertTextClassificationTrainer(IHostEnvironment env, Options options)
    {
        _env = env ?? throw new ArgumentNullException(nameof(env));
        _options = options ?? throw new ArgumentNullException(nameof(options));
        MLNetLlmClassifierRegistration.EnsureRegistered(env);
        options.Validate();
    }

    /// <summary>The options this trainer was made with.</summary>
    public Options TrainerOptions => _options;

    private ClassifierColumns Columns => new(_options.Sentence1ColumnName, _options.Sentence2ColumnName, _options.ScoreColumnName, _options.PredictedLabelColumnName);

    /// <inheritdoc/>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema) =>
        ClassifierEstimatorSchema.GetOutputSchema(inputSchema, _options.LabelColumnName, Columns);

    /// <inheritdoc/>
    public TextClassifierTransformer Fit(IDataView input) =>
        ClassifierFitting.Fit(_env, "BertTextClassification", _options, Columns, input, req =>
            BertClassifierModel.Create(_options.ModelPath!, req.ClassNames, req.Device, req.DType, req.Seed,
                _options.MaxSequenceLength, _options.Truncation, req.Log));
}
