using System.Text.Json.Nodes;
using Microsoft.ML;
using MLNetLlmClassifier.Training;
using static TorchSharp.torch;

namespace MLNetLlmClassifier.Families;

/// <summary>What kind of model a family trains; reports group and colour their columns by it.</summary>
public enum ModelKind
{
    /// <summary>A classic ML.NET pipeline (e.g. FeaturizeText + SDCA).</summary>
    ClassicMlNet,
    /// <summary>An encoder with a classification head (BERT).</summary>
    EncoderClassifier,
    /// <summary>A decoder that classifies a multiple-choice prompt by its most likely answer token (Qwen3), zero-shot or fine-tuned.</summary>
    DecoderPrompted,
    /// <summary>Anything else.</summary>
    Other,
    /// <summary>A decoder with a classification head on its last token (Qwen3ForSequenceClassification).</summary>
    DecoderClassifier,
}

/// <summary>One sweep dimension of a family's default search space, declared in the core so that the sweeps package can read it.</summary>
/// <param name="Option">The option it sets (a public settable member of the family's options class).</param>
/// <param name="Kind">How values are drawn.</param>
/// <param name="Min">Lower bound (ranges).</param>
/// <param name="Max">Upper bound (ranges).</param>
/// <param name="Choices">The values of a <see cref="SweepRangeKind.Choice"/>.</param>
public sealed record SweepRange(string Option, SweepRangeKind Kind, double Min = 0, double Max = 0, IReadOnlyList<object>? Choices = null)
{
    /// <summary>A uniform range.</summary>
    public static SweepRange Uniform(string option, double min, double max) => new(option, SweepRangeKind.Uniform, min, max);
    /// <summary>A log-uniform range.</summary>
    public static SweepRange LogUniform(string option, double min, double max) => new(option, SweepRangeKind.LogUniform, min, max);
    /// <summary>An integer range (both ends included).</summary>
    public static SweepRange Integer(string option, int min, int max) => new(option, SweepRangeKind.Integer, min, max);
    /// <summary>A choice among values.</summary>
    public static SweepRange Choice(string option, params object[] values) => new(option, SweepRangeKind.Choice, Choices: values);
}

/// <summary>How a <see cref="SweepRange"/> draws its values.</summary>
public enum SweepRangeKind
{
    /// <summary>Uniform over [Min, Max].</summary>
    Uniform,
    /// <summary>Log-uniform over [Min, Max].</summary>
    LogUniform,
    /// <summary>Whole numbers in [Min, Max].</summary>
    Integer,
    /// <summary>One of <see cref="SweepRange.Choices"/>.</summary>
    Choice,
}

/// <summary>What <see cref="ClassifierFamily.CreateRandomCheckpoint"/> builds.</summary>
/// <param name="Preset">A name from <see cref="ClassifierFamily.RandomPresets"/>.</param>
/// <param name="Tokenizer">A tokenizer folder, or (BERT) a bare vocab.txt file.</param>
/// <param name="OutputFolder">The folder to create (must not exist or be empty); it appears whole or not at all.</param>
/// <param name="Seed">Seed of the random weights.</param>
/// <param name="Lowercase">For a bare vocab.txt: whether the tokenizer lower-cases (an uncased vocabulary).</param>
public sealed record RandomCheckpointRequest(string Preset, string Tokenizer, string OutputFolder, int Seed = 1, bool Lowercase = true);

/// <summary>
/// Everything about one model family, in the spirit of Hugging Face's Auto classes keyed by <c>model_type</c>: its one name
/// (and the older spellings that still load), its options class, how to make its ML.NET estimator, its presets, its default
/// search space and, for families trained from a Hugging Face folder, random checkpoints, loading of saved models and the
/// parity outputs of <c>mlnet-llm logits</c>. Families are registered once in <see cref="ClassifierFamilies"/>; the CLI,
/// <c>compare</c>, sweeps, persistence and the samples dispatch through that table.
/// </summary>
public abstract class ClassifierFamily
{
    /// <summary>The one spelling of the family everywhere: CLI, saved models, sweep files, reports (e.g. "bert").</summary>
    public abstract string Name { get; }

    /// <summary>Other spellings accepted on input (older files, CLI shorthands); never written.</summary>
    public virtual IReadOnlyList<string> Aliases => [];

    /// <summary>The name shown in tables and charts (e.g. "BERT").</summary>
    public abstract string DisplayName { get; }

    /// <summary>What kind of model it is.</summary>
    public abstract ModelKind Kind { get; }

    /// <summary>The options class (its public settable members are the family's options vocabulary).</summary>
    public abstract Type OptionsType { get; }

    /// <summary>
    /// New options with the family's defaults, reading the text from <paramref name="textColumn"/> (and the second text of
    /// sentence pairs from <paramref name="text2Column"/>, for families that read pairs) and, for families trained from a
    /// checkpoint, the model from <paramref name="modelPath"/>.
    /// </summary>
    public abstract object CreateOptions(string? modelPath, string textColumn, string? text2Column = null);

    /// <summary>The ML.NET estimator for these options (key-typed "Label" in; Score and PredictedLabel out).</summary>
    public abstract IEstimator<ITransformer> CreateEstimator(MLContext mlContext, object options);

    /// <summary>The hyperparameters a sweep explores by default (empty: none).</summary>
    public virtual IReadOnlyList<SweepRange> DefaultSearchSpace => [];

    /// <summary>Settings that let a tiny random checkpoint learn from scratch in a short CPU run (<c>compare</c>'s embedded default).</summary>
    /// <param name="options">Options of this family.</param>
    /// <param name="epochScale">Scale of the number of epochs (tests use less than 1).</param>
    public virtual void ApplyFromScratchPreset(object options, double epochScale) { }

    /// <summary>The reference experiment's settings (AG News, see docs/reproducing-the-reference.md).</summary>
    public virtual void ApplyReferencePreset(object options) { }

    /// <summary>Parameters of a fitted model of this family (the transformer <see cref="CreateEstimator"/> returned), or null when unknown.</summary>
    public virtual long? CountParameters(ITransformer fitted) => null;

    /// <summary>
    /// Whether <see cref="ApplyFromScratchPreset"/>'s options start from random weights, for reports; the default says so for families that
    /// start from weights (<see cref="TakesWeights"/>), whose from-scratch preset is used when no weights are given.
    /// </summary>
    public virtual bool StartsFromScratch(object options) => false;

    /// <summary>Whether the Score column holds raw logits rather than probabilities (evaluation then applies a softmax first).</summary>
    public virtual bool ScoresAreLogits => false;

    /// <summary>Whether <paramref name="transformer"/> is a fitted model of this family (to find a loaded model's family).</summary>
    public virtual bool Owns(ITransformer transformer) => false;

    /// <summary>
    /// Whether the family starts from weights given by a path: a Hugging Face folder for <see cref="UsesCheckpoint"/> families, a weights
    /// file for others. <c>compare</c> gives such a family an option <c>--NAME</c>, and trains it from scratch when none is given.
    /// </summary>
    public virtual bool TakesWeights => UsesCheckpoint;

    /// <summary>Which weights these options start from, for reports (null: nothing to say).</summary>
    public virtual string? WeightsDescription(object options) => null;

    /// <summary>Whether the family trains from a Hugging Face checkpoint folder (and so has the members below).</summary>
    public virtual bool UsesCheckpoint => false;

    /// <summary>The config.json <c>model_type</c> the family trains (e.g. "bert", "qwen3"), or null.</summary>
    public virtual string? ModelType => null;

    /// <summary>
    /// The config.json <c>architectures</c> entries of the folders this family saves (e.g. "Qwen3ForSequenceClassification"), or empty.
    /// When several families train one <see cref="ModelType"/>, a folder goes to the family whose architecture it names, else to the
    /// first registered one.
    /// </summary>
    public virtual IReadOnlyList<string> Architectures => [];

    /// <summary>Presets of <see cref="CreateRandomCheckpoint"/>: the first is the tiny one used by defaults and tests.</summary>
    public virtual IReadOnlyList<string> RandomPresets => [];

    /// <summary>The name of the tokenizer bundle a random checkpoint of this family is built with when none is given (the CLI embeds it).</summary>
    public virtual string? DefaultTokenizer => null;

    /// <summary>Writes a randomly initialised checkpoint folder in the Hugging Face format.</summary>
    public virtual void CreateRandomCheckpoint(RandomCheckpointRequest request) =>
        throw new NotSupportedException($"The {Name} family has no random checkpoints.");

    /// <summary>Rebuilds a classifier saved by this family (the folder holds mlnet-classifier.json naming it).</summary>
    internal virtual ITrainableClassifier LoadClassifier(string folder, JsonObject settings, Device device) =>
        throw new NotSupportedException($"The {Name} family saves no classifier folders.");

    /// <summary>
    /// Checks a folder of this family written by an export the way Hugging Face transformers reads it, where that differs from this
    /// library's loader (e.g. a decoder's sequence classifier pools each row of a right-padded batch at its last non-pad token, found from
    /// <c>pad_token_id</c> alone): its class probabilities for <paramref name="texts"/> must equal <paramref name="expected"/> (the exported
    /// model's) within <paramref name="tolerance"/>. Returns a sentence saying what was checked, or null when the family has no such check.
    /// </summary>
    /// <exception cref="InvalidDataException">The folder does not reproduce <paramref name="expected"/>.</exception>
    internal virtual string? VerifyAsTransformersReadsIt(string folder, IReadOnlyList<string> texts, float[][] expected, double tolerance, Device device) => null;

    /// <summary>Opens a Hugging Face folder of <see cref="ModelType"/> for <c>mlnet-llm logits</c>.</summary>
    public virtual ILogitsModel OpenForLogits(string modelFolder, Device device, ScalarType dtype) =>
        throw new NotSupportedException($"The {Name} family has no logits output.");

    /// <summary>
    /// The estimated peak memory of a training step of the model in <paramref name="options"/> (its config.json only is read) at
    /// <paramref name="batchSize"/> rows of <paramref name="sequenceLength"/> tokens, or null when the family has no estimate.
    /// </summary>
    internal virtual Training.MemoryEstimate? EstimateTrainingMemory(object options, int batchSize, int sequenceLength, bool bfloat16, bool cpu) => null;

    /// <summary>Whether <paramref name="name"/> is this family's name or one of its aliases (case-insensitive).</summary>
    public bool IsCalled(string name) =>
        string.Equals(name, Name, StringComparison.OrdinalIgnoreCase) || Aliases.Any(a => string.Equals(a, name, StringComparison.OrdinalIgnoreCase));

    /// <inheritdoc/>
    public override string ToString() => Name;
}

/// <summary>A <see cref="ClassifierFamily"/> with a typed options class: derive from this one.</summary>
/// <typeparam name="TOptions">The family's options class.</typeparam>
public abstract class ClassifierFamily<TOptions> : ClassifierFamily where TOptions : class
{
    /// <inheritdoc/>
    public sealed override Type OptionsType => typeof(TOptions);

    /// <inheritdoc/>
    public sealed override object CreateOptions(string? modelPath, string textColumn, string? text2Column = null) =>
        NewOptions(modelPath, textColumn, text2Column);

    /// <inheritdoc cref="ClassifierFamily.CreateOptions"/>
    public abstract TOptions NewOptions(string? modelPath, string textColumn, string? text2Column = null);

    /// <inheritdoc/>
    public sealed override IEstimator<ITransformer> CreateEstimator(MLContext mlContext, object options) => Estimator(mlContext, Cast(options));

    /// <inheritdoc cref="ClassifierFamily.CreateEstimator"/>
    protected abstract IEstimator<ITransformer> Estimator(MLContext mlContext, TOptions options);

    /// <inheritdoc/>
    public sealed override void ApplyFromScratchPreset(object options, double epochScale) => FromScratch(Cast(options), epochScale);

    /// <inheritdoc cref="ClassifierFamily.ApplyFromScratchPreset"/>
    protected virtual void FromScratch(TOptions options, double epochScale) { }

    /// <inheritdoc/>
    public sealed override void ApplyReferencePreset(object options) => Reference(Cast(options));

    /// <inheritdoc cref="ClassifierFamily.ApplyReferencePreset"/>
    protected virtual void Reference(TOptions options) { }

    /// <summary>The options as <typeparamref name="TOptions"/>; anything else is an error naming both types.</summary>
    protected TOptions Cast(object options) => options as TOptions
        ?? throw new ArgumentException($"The {Name} family takes {typeof(TOptions).FullName}, not {options?.GetType().FullName ?? "null"}.", nameof(options));

    /// <summary>
    /// The part of every from-scratch preset that does not depend on the family: a short warmup, some weight decay, batch 32 without
    /// accumulation, 128 tokens, an evaluation every half epoch, float32 (a tiny model gains nothing from bf16 on a CPU).
    /// </summary>
    protected static void CommonFromScratch(TransformerTrainerOptions o, double learningRate, double epochs)
    {
        o.LearningRate = learningRate;   // random weights need a far higher learning rate than fine-tuning does
        o.NumberOfEpochs = epochs;
        o.WarmupRatio = 0.05;
        o.WeightDecay = 0.01;
        o.BatchSize = 32;
        o.GradientAccumulationSteps = 1;
        o.MaxSequenceLength = 128;
        o.EvaluationInterval = 0.5;
        o.Precision = Precision.Float32;
    }
}

/// <summary>A model opened for <c>mlnet-llm logits</c>: computes named float outputs for one sequence of token ids.</summary>
public interface ILogitsModel : IDisposable
{
    /// <summary>Token ids must lie in [0, VocabSize).</summary>
    int VocabSize { get; }

    /// <summary>The outputs for one JSON line (<paramref name="line"/> may carry extra inputs, e.g. BERT's token_type_ids); errors name <paramref name="where"/>.</summary>
    IEnumerable<(string Name, float[] Values)> Compute(JsonObject line, long[] ids, string where);
}
