using TorchSharp;
using static TorchSharp.torch;

namespace MLNetLlmClassifier.Training;

/// <summary>One row after tokenisation: what a model family needs to build its batch tensors.</summary>
/// <param name="InputIds">Token ids, special tokens included.</param>
/// <param name="TokenTypeIds">Segment ids (BERT sentence pairs), or null.</param>
/// <param name="Truncated">Whether the text was cut to fit the maximum length.</param>
public sealed record EncodedExample(int[] InputIds, int[]? TokenTypeIds = null, bool Truncated = false)
{
    /// <summary>Number of tokens.</summary>
    public int Length => InputIds.Length;
}

/// <summary>What a loss computation needs besides the batch.</summary>
/// <param name="ClassWeights">Per-class weights [C] on the model's device, or null for none.</param>
/// <param name="LabelSmoothing">Label smoothing epsilon in [0, 1).</param>
internal sealed record LossSettings(Tensor? ClassWeights, double LabelSmoothing)
{
    /// <summary>
    /// The mean C-way cross-entropy of <paramref name="logits"/> [B, C] against <paramref name="labels"/>, with these class weights and
    /// label smoothing (as PyTorch's cross_entropy): the loss of every classifier whose scores are C logits.
    /// </summary>
    public Tensor CrossEntropy(Tensor logits, long[] labels)
    {
        using var phase = Torch.StepProfiler.Measure("loss (cross-entropy)");
        return nn.functional.cross_entropy(logits.to(ScalarType.Float32), tensor(labels, device: logits.device), ClassWeights, label_smoothing: LabelSmoothing);
    }
}

/// <summary>
/// The model-family side of training and scoring, used by <see cref="TrainingLoop"/> and the
/// ML.NET transformer. BERT and the prompted Qwen3 decoder each implement it; the loop, the
/// optimizer, the schedule and evaluation are shared.
/// </summary>
internal interface ITrainableClassifier : IDisposable
{
    /// <summary>The module whose parameters are trained.</summary>
    nn.Module Module { get; }

    /// <summary>The device the module lives on.</summary>
    Device Device { get; }

    /// <summary>Number of classes.</summary>
    int NumClasses { get; }

    /// <summary>
    /// Names of the modules of <see cref="Module"/> created new for the task rather than taken from the pretrained checkpoint
    /// (e.g. <c>["score"]</c> for the Qwen3 sequence classifier, <c>["classifier"]</c> for BERT); parameter-efficient training keeps
    /// them fully trainable. Empty when the model adds nothing (the prompted decoder).
    /// </summary>
    IReadOnlyList<string> HeadModules => [];

    /// <summary>Tokenises one row (text may be empty; never null).</summary>
    EncodedExample Encode(string text, string? text2);

    /// <summary>The mean training loss of a batch, a scalar with a gradient.</summary>
    Tensor Loss(IReadOnlyList<EncodedExample> batch, long[] labels, LossSettings settings);

    /// <summary>Log-probabilities over the classes, [B, C] float32 on the model's device.</summary>
    Tensor ClassLogProbabilities(IReadOnlyList<EncodedExample> batch);

    /// <summary>
    /// Whether the weights are final, so that the classifier may keep what it computes from the weights alone across scoring calls
    /// (the prompted decoder: the keys and values of its prompt's fixed beginning). The transformer that owns a fitted or loaded
    /// classifier sets it; whatever then changes the weights in place clears it first (which drops such caches) and may set it
    /// again after. Default false; families that cache nothing ignore it.
    /// </summary>
    bool WeightsFinal { get => false; set { } }

    /// <summary>The registered family that saved models of this classifier name, and that loads them back.</summary>
    Families.ClassifierFamily Family { get; }

    /// <summary>
    /// Writes everything needed to rebuild this classifier into <paramref name="folder"/>: a standard
    /// Hugging Face model folder (config.json with id2label, model.safetensors, tokenizer files) plus
    /// <c>mlnet-classifier.json</c> with the classifier's own settings.
    /// </summary>
    void SaveModelFolder(string folder);

    /// <summary>
    /// Writes the classifier as a Hugging Face <c>*ForSequenceClassification</c> folder (<see cref="ExportForm.SequenceClassification"/>)
    /// that this library loads back (mlnet-classifier.json naming the family that reads it). Families whose own folder already is one
    /// write <see cref="SaveModelFolder"/>; the default is a <see cref="NotSupportedException"/> naming the family.
    /// </summary>
    void SaveSequenceClassificationFolder(string folder) =>
        throw new NotSupportedException($"The {Family.Name} classifier has no sequence-classification form: export its own form (--form native).");
}
