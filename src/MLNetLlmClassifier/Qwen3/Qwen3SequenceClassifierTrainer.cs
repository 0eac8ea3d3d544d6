using Microsoft.ML;
using Microsoft.ML.Runtime;
using MLNetLlmClassifier.MLNet;
using MLNetLlmClassifier.Training;

namespace MLNetLlmClassifier.Qwen3;

/// <summary>
/// Fine-tunes a Qwen3 decoder (any Hugging Face <c>Qwen3ForCausalLM</c> or <c>Qwen3ForSequenceClassification</c> folder) as Hugging
/// Face's <see cref="Qwen3ForSequenceClassification"/>: a linear <c>score</c> head on the final hidden state of each row's last token.
/// Create it with <c>mlContext.MulticlassClassification.Trainers.Qwen3SequenceClassifier(...)</c>.
/// </summary>
/// <remarks>
/// <list type="table">
/// <listheader><term>Column</term><description>Type</description></listheader>
/// <item><term>Label (input)</term><description>Key (UInt32): use MapValueToKey. The classes are the key values, in key order; rows with a missing key are skipped.</description></item>
/// <item><term>Text (input)</term><description>Text, tokenised as transformers' tokenizer does (no prompt, nothing added). Empty text is the single pad token and still gets a prediction.</description></item>
/// <item><term>PredictedLabel (output)</term><description>Key (UInt32) with the label's KeyValues.</description></item>
/// <item><term>Score (output)</term><description>Vector of Single: class probabilities (softmax of the head's logits), SlotNames = class names.</description></item>
/// </list>
/// <para>From a causal LM folder the head is new (normal with standard deviation initializer_range, reported in one line when Fit
/// starts, as transformers does); from a sequence-classification folder with as many labels it is loaded. Training is full-parameter
/// fine-tuning with the cross-entropy over the classes (<see cref="TransformerTrainerOptions.ClassWeighting"/>,
/// <see cref="TransformerTrainerOptions.LabelSmoothing"/> as PyTorch's). Batches are right-padded with the config's <c>pad_token_id</c>
/// (the tokenizer's pad token when the config has none) and an attention mask, and each row is read at its last real token.</para>
/// <para><b>Saving.</b> The fitted transformer saves through <c>mlContext.Model.Save</c>, and
/// <see cref="TextClassifierTransformer.ExportHuggingFaceFolder"/> writes a folder that transformers' <c>AutoModelForSequenceClassification</c>
/// loads: config.json with architectures <c>["Qwen3ForSequenceClassification"]</c>, id2label/label2id, <c>pad_token_id</c> and
/// <c>problem_type</c> "single_label_classification"; model.safetensors with Hugging Face key names (<c>score.weight</c> included);
/// the tokenizer files.</para>
/// </remarks>
public sealed class Qwen3SequenceClassifierTrainer : IEstimator<TextClassifierTransformer>
{
    /// <summary>
    /// Options of <see cref="Qwen3SequenceClassifierTrainer"/>. The defaults are the prompted decoder's reference recipe for
    /// Qwen3-0.6B, so that the two heads are compared on equal terms: learning rate 1.2e-5, batch 12 with 8 accumulation steps
    /// (effective batch 96), warmup 1% of the steps, one epoch, cosine decay, <see cref="Precision.Auto"/> (bfloat16 with fp32 master
    /// weights on CUDA and on CPUs with native bfloat16, float32 elsewhere), MaxSequenceLength 512. Every option is checked when the estimator is made; a bad value is
    /// an <see cref="ArgumentOutOfRangeException"/> naming the option.
    /// </summary>
    public sealed class Options : TransformerTrainerOptions
    {
        /// <summary>Creates options with the defaults above.</summary>
        public Options()
        {
            PromptedDecoderFamily.ReferenceRecipe(this);
            Precision = Precision.Auto;
        }

        /// <summary>The text column. Default "Text". One text only: there is no sentence-pair input.</summary>
        public string TextColumnName { get; set; } = "Text";

        /// <inheritdoc/>
        public override void Validate()
        {
            base.Validate();
            if (string.IsNullOrWhiteSpace(TextColumnName))
                throw new ArgumentOutOfRangeException(nameof(TextColumnName), TextColumnName, $"Option {nameof(TextColumnName)} is invalid: give a column name.");
        }
    }

    private readonly IHostEnvironment _env;
    private readonly Options _options;

    internal Qwen3SequenceClassifierTrainer(IHostEnvironment env, Options options)
    {
        _env = env ?? throw new ArgumentNullException(nameof(env));
        _options = options ?? throw new ArgumentNullException(nameof(options));
        MLNetLlmClassifierRegistration.EnsureRegistered(env);
        options.Validate();
    }

    /// <summary>The options this trainer was made with.</summary>
    public Options TrainerOptions => _options;

    private ClassifierColumns Columns => new(_options.TextColumnName, null, _options.ScoreColumnName, _options.PredictedLabelColumnName);

    /// <inheritdoc/>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema) =>
        ClassifierEstimatorSchema.GetOutputSchema(inputSchema, _options.LabelColumnName, Columns);

    /// <inheritdoc/>
    public TextClassifierTransformer Fit(IDataView input)
    {
        _options.Validate(); // the options object may have changed since the estimator was made
        return ClassifierFitting.Fit(_env, "Qwen3SequenceClassifier", _options, Columns, input, req =>
            Qwen3SequenceClassifierModel.Create(_options.ModelPath!, req.ClassNames, req.Device, req.DType, req.Seed,
                _options.MaxSequenceLength, _options.Truncation, req.Log));
    }
}
