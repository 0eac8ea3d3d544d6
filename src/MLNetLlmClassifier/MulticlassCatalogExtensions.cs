using Microsoft.ML;
using MLNetLlmClassifier.Bert;
using MLNetLlmClassifier.MLNet;
using MLNetLlmClassifier.Qwen3;

namespace MLNetLlmClassifier;

/// <summary>Entry points on <c>mlContext.MulticlassClassification.Trainers</c>.</summary>
public static class MulticlassCatalogExtensions
{
    /// <summary>
    /// Fine-tunes a BERT-family encoder (any Hugging Face BERT checkpoint folder) with a linear head on the pooled [CLS] output.
    /// </summary>
    /// <param name="catalog">The multiclass trainers catalog.</param>
    /// <param name="modelPath">Hugging Face BERT folder: config.json, model.safetensors (or a sharded index), vocab.txt or tokenizer.json.</param>
    /// <param name="labelColumnName">Key-typed label column. Default "Label".</param>
    /// <param name="scoreColumnName">Output probabilities column. Default "Score".</param>
    /// <param name="outputColumnName">Output predicted key column. Default "PredictedLabel".</param>
    /// <param name="sentence1ColumnName">Text column. Default "Sentence1".</param>
    /// <param name="sentence2ColumnName">Optional second text column of sentence pairs. Default null.</param>
    /// <param name="batchSize">Rows per training step. Default 64.</param>
    /// <param name="maxEpochs">Passes over the data. Default 2.</param>
    /// <param name="validationSet">Optional validation data, evaluated every 0.1 epoch. Default null.</param>
    public static BertTextClassificationTrainer BertTextClassification(
        this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog,
        string modelPath,
        string labelColumnName = "Label",
        string scoreColumnName = "Score",
        string outputColumnName = "PredictedLabel",
        string sentence1ColumnName = "Sentence1",
        string? sentence2ColumnName = null,
        int batchSize = 64,
        double maxEpochs = 2,
        IDataView? validationSet = null)
        => BertTextClassification(catalog, new BertTextClassificationTrainer.Options
        {
            ModelPath = modelPath,
            LabelColumnName = labelColumnName,
            ScoreColumnName = scoreColumnName,
            PredictedLabelColumnName = outputColumnName,
            Sentence1ColumnName = sentence1ColumnName,
            Sentence2ColumnName = sentence2ColumnName,
            BatchSize = batchSize,
            NumberOfEpochs = maxEpochs,
            ValidationSet = validationSet,
        });

    /// <summary>Fine-tunes a BERT-family encoder with every option given explicitly.</summary>
    public static BertTextClassificationTrainer BertTextClassification(
        this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog,
        BertTextClassificationTrainer.Options options)
        => new(MlNetInternals.CatalogEnvironment(catalog), options);

    /// <summary>
    /// Fine-tunes a Qwen3 decoder (any Hugging Face Qwen3ForCausalLM folder) to answer a multiple-choice prompt listing the classes;
    /// a class's score is the probability of its answer marker. Defaults are the reference experiment's (see
    /// <see cref="PromptedDecoderClassifierTrainer.Options"/>): the AG News news-category prompt, learning rate 1.2e-5,
    /// batch 12 × 8 accumulation steps, one epoch.
    /// </summary>
    /// <param name="catalog">The multiclass trainers catalog.</param>
    /// <param name="modelPath">Hugging Face Qwen3 folder: config.json, model.safetensors (or a sharded index), tokenizer.json.</param>
    /// <param name="labelColumnName">Key-typed label column; its key values are the classes. Default "Label".</param>
    /// <param name="scoreColumnName">Output probabilities column. Default "Score".</param>
    /// <param name="outputColumnName">Output predicted key column. Default "PredictedLabel".</param>
    /// <param name="textColumnName">Text column. Default "Text".</param>
    /// <param name="batchSize">Rows per forward pass (8 are accumulated per optimizer step). Default 12.</param>
    /// <param name="maxEpochs">Passes over the data. Default 1.</param>
    /// <param name="validationSet">Optional validation data, evaluated every 0.1 epoch. Default null.</param>
    public static PromptedDecoderClassifierTrainer PromptedDecoderClassifier(
        this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog,
        string modelPath,
        string labelColumnName = "Label",
        string scoreColumnName = "Score",
        string outputColumnName = "PredictedLabel",
        string textColumnName = "Text",
        int batchSize = 12,
        double maxEpochs = 1,
        IDataView? validationSet = null)
        => PromptedDecoderClassifier(catalog, new PromptedDecoderClassifierTrainer.Options
        {
            ModelPath = modelPath,
            LabelColumnName = labelColumnName,
            ScoreColumnName = scoreColumnName,
            PredictedLabelColumnName = outputColumnName,
            TextColumnName = textColumnName,
            BatchSize = batchSize,
            NumberOfEpochs = maxEpochs,
            ValidationSet = validationSet,
        });

    /// <summary>Fine-tunes a Qwen3 decoder as a prompted classifier with every option given explicitly (prompt, markers, display names...).</summary>
    public static PromptedDecoderClassifierTrainer PromptedDecoderClassifier(
        this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog,
        PromptedDecoderClassifierTrainer.Options options)
        => new(MlNetInternals.CatalogEnvironment(catalog), options);

    /// <summary>
    /// Fine-tunes a Qwen3 decoder (any Hugging Face Qwen3ForCausalLM or Qwen3ForSequenceClassification folder) as Hugging Face's
    /// Qwen3ForSequenceClassification: a linear head on the hidden state of each row's last token. Defaults are the prompted decoder's
    /// reference recipe (see <see cref="Qwen3SequenceClassifierTrainer.Options"/>): learning rate 1.2e-5, batch 12 × 8 accumulation steps,
    /// one epoch.
    /// </summary>
    /// <param name="catalog">The multiclass trainers catalog.</param>
    /// <param name="modelPath">Hugging Face Qwen3 folder: config.json, model.safetensors (or a sharded index), tokenizer.json.</param>
    /// <param name="labelColumnName">Key-typed label column; its key values are the classes. Default "Label".</param>
    /// <param name="scoreColumnName">Output probabilities column. Default "Score".</param>
    /// <param name="outputColumnName">Output predicted key column. Default "PredictedLabel".</param>
    /// <param name="textColumnName">Text column. Default "Text".</param>
    /// <param name="batchSize">Rows per forward pass (8 are accumulated per optimizer step). Default 12.</param>
    /// <param name="maxEpochs">Passes over the data. Default 1.</param>
    /// <param name="validationSet">Optional validation data, evaluated every 0.1 epoch. Default null.</param>
    public static Qwen3SequenceClassifierTrainer Qwen3SequenceClassifier(
        this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog,
        string modelPath,
        string labelColumnName = "Label",
        string scoreColumnName = "Score",
        string outputColumnName = "PredictedLabel",
        string textColumnName = "Text",
        int batchSize = 12,
        double maxEpochs = 1,
        IDataView? validationSet = null)
        => Qwen3SequenceClassifier(catalog, new Qwen3SequenceClassifierTrainer.Options
        {
            ModelPath = modelPath,
            LabelColumnName = labelColumnName,
            ScoreColumnName = scoreColumnName,
            PredictedLabelColumnName = outputColumnName,
            TextColumnName = textColumnName,
            BatchSize = batchSize,
            NumberOfEpochs = maxEpochs,
            ValidationSet = validationSet,
        });

    /// <summary>Fine-tunes a Qwen3 decoder with a linear sequence-classification head, with every option given explicitly.</summary>
    public static Qwen3SequenceClassifierTrainer Qwen3SequenceClassifier(
        this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog,
        Qwen3SequenceClassifierTrainer.Options options)
        => new(MlNetInternals.CatalogEnvironment(catalog), options);
}
