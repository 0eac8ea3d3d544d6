using System.Text.Json.Nodes;
using Microsoft.ML;
using MLNetLlmClassifier.Families;
using MLNetLlmClassifier.Training;
using static TorchSharp.torch;

namespace MLNetLlmClassifier.Qwen3;

/// <summary>
/// The Qwen3 sequence-classification family: a Qwen3 checkpoint (<c>model_type</c> "qwen3", causal LM or
/// <c>Qwen3ForSequenceClassification</c>) fine-tuned with a linear head on the last token by <see cref="Qwen3SequenceClassifierTrainer"/>.
/// Its random checkpoints are those of <see cref="PromptedDecoderFamily"/> (plain causal LMs), so that <c>compare</c> trains both heads on
/// the very same tiny backbone.
/// </summary>
public sealed class Qwen3SequenceClassifierFamily : ClassifierFamily<Qwen3SequenceClassifierTrainer.Options>
{
    /// <summary>The registered instance.</summary>
    public static Qwen3SequenceClassifierFamily Instance { get; } = new();

    private Qwen3SequenceClassifierFamily() { }

    /// <inheritdoc/>
    public override string Name => "qwen3-seqcls";

    /// <summary>"qwen3-linear" and "qwen3-sequence-classification".</summary>
    public override IReadOnlyList<string> Aliases { get; } = ["qwen3-linear", "qwen3-sequence-classification"];

    /// <inheritdoc/>
    public override string DisplayName => "Qwen3 + linear head";

    /// <inheritdoc/>
    public override ModelKind Kind => ModelKind.DecoderClassifier;

    /// <inheritdoc/>
    public override Qwen3SequenceClassifierTrainer.Options NewOptions(string? modelPath, string textColumn, string? text2Column = null) =>
        text2Column is null
            ? new() { ModelPath = modelPath, TextColumnName = textColumn }
            : throw new ArgumentException($"The {Name} family reads one text column; a second text column ('{text2Column}') is for BERT sentence pairs.");

    /// <inheritdoc/>
    protected override IEstimator<ITransformer> Estimator(MLContext mlContext, Qwen3SequenceClassifierTrainer.Options options) =>
        mlContext.MulticlassClassification.Trainers.Qwen3SequenceClassifier(options);

    /// <summary>
    /// LearningRate log-uniform [5e-6, 1e-4], BatchSize {8, 16, 32}, GradientAccumulationSteps {1, 2, 4}, NumberOfEpochs integer [1, 3],
    /// WarmupRatio uniform [0, 0.1], WeightDecay log-uniform [1e-6, 0.1], MaxSequenceLength {128, 256, 512}: no prompt takes room, so
    /// shorter inputs are worth trying.
    /// </summary>
    public override IReadOnlyList<SweepRange> DefaultSearchSpace =>
    [
        SweepRange.LogUniform(nameof(TransformerTrainerOptions.LearningRate), 5e-6, 1e-4),
        SweepRange.Choice(nameof(TransformerTrainerOptions.BatchSize), 8, 16, 32),
        SweepRange.Choice(nameof(TransformerTrainerOptions.GradientAccumulationSteps), 1, 2, 4),
        SweepRange.Integer(nameof(TransformerTrainerOptions.NumberOfEpochs), 1, 3),
        SweepRange.Uniform(nameof(TransformerTrainerOptions.WarmupRatio), 0, 0.1),
        SweepRange.LogUniform(nameof(TransformerTrainerOptions.WeightDecay), 1e-6, 0.1),
        SweepRange.Choice(nameof(TransformerTrainerOptions.MaxSequenceLength), 128, 256, 512),
    ];

    /// <summary>
    /// From scratch: learning rate 2e-3, 2 epochs (times the scale), plus the common from-scratch settings. Two epochs, not the prompted
    /// decoder's four: on compare's 1,400 AG News rows the linear head had its best validation macro-F1 after the first epoch of four
    /// (0.746 at step 44 of 176) and only overfitted after it.
    /// </summary>
    protected override void FromScratch(Qwen3SequenceClassifierTrainer.Options o, double epochScale) => CommonFromScratch(o, 2e-3, 2 * epochScale);

    /// <summary>
    /// The reference experiment's recipe for Qwen3-0.6B, as the prompted decoder's (the follow-up that put a linear head on the last token
    /// publishes no settings of its own, so the head is the only difference): lr 1.2e-5, batch 12 × 8, warmup 1%, one epoch, cosine,
    /// no weight decay, 512 tokens, bf16, an evaluation every 0.1 epoch.
    /// </summary>
    protected override void Reference(Qwen3SequenceClassifierTrainer.Options o) => PromptedDecoderFamily.ReferenceRecipe(o);

    /// <inheritdoc/>
    public override long? CountParameters(ITransformer fitted) => (fitted as TextClassifierTransformer)?.ParameterCount;

    /// <inheritdoc/>
    public override bool Owns(ITransformer transformer) => transformer is TextClassifierTransformer t && t.Family == this;

    /// <inheritdoc/>
    public override bool UsesCheckpoint => true;

    /// <inheritdoc/>
    public override string ModelType => "qwen3";

    /// <summary>Qwen3ForSequenceClassification: exported folders go to this family (causal LM folders to the prompted decoder).</summary>
    public override IReadOnlyList<string> Architectures { get; } = [Qwen3ForSequenceClassification.ArchitectureName];

    /// <summary>The prompted decoder's presets (<c>tiny</c>, <c>qwen3-0.6b</c>): plain causal LMs, whose head is made at Fit.</summary>
    public override IReadOnlyList<string> RandomPresets => PromptedDecoderFamily.Instance.RandomPresets;

    /// <inheritdoc/>
    public override string DefaultTokenizer => "qwen3";

    /// <summary>The prompted decoder's random checkpoint (a Qwen3 causal LM with the tokenizer files): the head is created when training starts.</summary>
    public override void CreateRandomCheckpoint(RandomCheckpointRequest request) => PromptedDecoderFamily.Instance.CreateRandomCheckpoint(request);

    internal override ITrainableClassifier LoadClassifier(string folder, JsonObject settings, Device device) =>
        Qwen3SequenceClassifierModel.Load(folder, settings, device);

    /// <summary>
    /// transformers' reading of the folder (<see cref="Qwen3SequenceClassifierModel.VerifyAsTransformersReadsIt"/>): the prompt string of
    /// mlnet-classifier.json (if any) tokenized, rows right-padded with pad_token_id and no attention mask, each pooled at its last
    /// non-pad token; batched and one row at a time.
    /// </summary>
    internal override string? VerifyAsTransformersReadsIt(string folder, IReadOnlyList<string> texts, float[][] expected, double tolerance, Device device) =>
        Qwen3SequenceClassifierModel.VerifyAsTransformersReadsIt(folder, texts, expected, tolerance, device);

    /// <summary><c>"logits"</c> (the head's class logits at the last token) and <c>"hidden"</c> (the final-norm hidden state there).</summary>
    public override ILogitsModel OpenForLogits(string modelFolder, Device device, ScalarType dtype) =>
        new Logits(Qwen3ForSequenceClassification.FromPretrained(modelFolder, device, dtype));

    private sealed class Logits(Qwen3ForSequenceClassification model) : ILogitsModel
    {
        public int VocabSize => model.Config.VocabSize;

        public IEnumerable<(string Name, float[] Values)> Compute(JsonObject line, long[] ids, string where)
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var input = tensor(ids, device: model.Device).unsqueeze(0);
            var hidden = model.HiddenStates(input);                                        // [1,T,D]
            var last = model.LastTokenPositions(input).item<long>();
            return [("logits", LogitsJsonl.Floats(model.call(input, null)[0])), ("hidden", LogitsJsonl.Floats(hidden[0, last]))];
        }

        public void Dispose() => model.Dispose();
    }
}
