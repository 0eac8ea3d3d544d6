namespace MLNetLlmClassifier;

/// <summary>Which architecture <see cref="TextClassifierTransformer.ExportHuggingFaceFolder"/> writes a classifier as.</summary>
public enum ExportForm
{
    /// <summary>
    /// The family's own architecture (the default): a <c>BertForSequenceClassification</c> or <c>Qwen3ForSequenceClassification</c>
    /// for BERT and the Qwen3 sequence classifier, the causal LM (<c>Qwen3ForCausalLM</c>) for the prompted decoder, whose prompt is in
    /// mlnet-classifier.json.
    /// </summary>
    Native = 0,

    /// <summary>
    /// A <c>*ForSequenceClassification</c> that serving engines built for classification load (transformers' text-classification
    /// pipeline, vLLM's classify task): for the prompted decoder a <c>Qwen3ForSequenceClassification</c> whose <c>score</c> head is the
    /// LM-head rows of the option markers' tokens, to be fed the rendered prompt (single-token markers only); for families that already
    /// are sequence classifiers, the same folder as <see cref="Native"/>. A LoRA model must be merged
    /// (<see cref="TextClassifierTransformer.ExportMergedHuggingFaceFolder"/>).
    /// </summary>
    SequenceClassification = 1,
}
