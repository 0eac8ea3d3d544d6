using System.Text.Json.Nodes;
using Microsoft.ML;
using MLNetLlmClassifier.Checkpoints;
using MLNetLlmClassifier.Families;
using MLNetLlmClassifier.IO;
using MLNetLlmClassifier.Text;
using MLNetLlmClassifier.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetLlmClassifier.Qwen3;

/// <summary>
/// The prompted decoder family: a Qwen3 causal language model (<c>model_type</c> "qwen3") fine-tuned by
/// <see cref="PromptedDecoderClassifierTrainer"/> to answer a multiple-choice prompt with the marker of a class.
/// </summary>
public sealed class PromptedDecoderFamily : ClassifierFamily<PromptedDecoderClassifierTrainer.Options>
{
    /// <summary>The registered instance.</summary>
    public static PromptedDecoderFamily Instance { get; } = new();

    private PromptedDecoderFamily() { }

    /// <inheritdoc/>
    public override string Name => "qwen3-prompted";

    /// <summary>"qwen3" (the CLI's shorthand until now), "decoder" and "prompted-decoder" (sweep files until now).</summary>
    public override IReadOnlyList<string> Aliases { get; } = ["qwen3", "decoder", "prompted-decoder"];

    /// <inheritdoc/>
    public override string DisplayName => "Qwen3 prompted";

    /// <inheritdoc/>
    public override ModelKind Kind => ModelKind.DecoderPrompted;

    /// <inheritdoc/>
    public override PromptedDecoderClassifierTrainer.Options NewOptions(string? modelPath, string textColumn, string? text2Column = null) =>
        text2Column is null
            ? new() { ModelPath = modelPath, TextColumnName = textColumn }
            : throw new ArgumentException($"The {Name} family reads one text column; a second text column ('{text2Column}') is for BERT sentence pairs.");

    /// <inheritdoc/>
    protected override IEstimator<ITransformer> Estimator(MLContext mlContext, PromptedDecoderClassifierTrainer.Options options) =>
        mlContext.MulticlassClassification.Trainers.PromptedDecoderClassifier(options);

    /// <summary>
    /// LearningRate log-uniform [3e-6, 1e-4], BatchSize {4, 8, 12, 16}, GradientAccumulationSteps {1, 2, 4, 8}, NumberOfEpochs
    /// integer [1, 2], WarmupRatio uniform [0, 0.1], WeightDecay log-uniform [1e-6, 0.1]. Prompts and display names are swept by
    /// adding choices of <c>PromptTemplate</c> and <c>LabelDisplayNames</c>.
    /// </summary>
    public override IReadOnlyList<SweepRange> DefaultSearchSpace =>
    [
        SweepRange.LogUniform(nameof(TransformerTrainerOptions.LearningRate), 3e-6, 1e-4),
        SweepRange.Choice(nameof(TransformerTrainerOptions.BatchSize), 4, 8, 12, 16),
        SweepRange.Choice(nameof(TransformerTrainerOptions.GradientAccumulationSteps), 1, 2, 4, 8),
        SweepRange.Integer(nameof(TransformerTrainerOptions.NumberOfEpochs), 1, 2),
        SweepRange.Uniform(nameof(TransformerTrainerOptions.WarmupRatio), 0, 0.1),
        SweepRange.LogUniform(nameof(TransformerTrainerOptions.WeightDecay), 1e-6, 0.1),
    ];

    /// <summary>The lean prompt of from-scratch runs: the text, the options and the answer format, nothing else.</summary>
    public const string FromScratchPrompt = "{text}\n\n{options}\n\nAnswer:/no_think";

    /// <summary>
    /// From scratch: learning rate 5e-3, 4 epochs (times the scale), the common from-scratch settings and
    /// <see cref="FromScratchPrompt"/>: a random decoder understands no instruction, so the reference prompt's ~70 tokens of
    /// instructions would only cost compute; and <see cref="AnswerLoss.Options"/>, the loss over the option scores that classification
    /// reads, since a random decoder has no language to keep.
    /// </summary>
    protected override void FromScratch(PromptedDecoderClassifierTrainer.Options o, double epochScale)
    {
        CommonFromScratch(o, 5e-3, 4 * epochScale);
        o.PromptTemplate = FromScratchPrompt;
        // A random decoder has no language to keep: train on the option scores that classification reads, not the full 151,936-token
        // vocabulary (that projection and its softmax were most of a tiny Qwen3's training step).
        o.AnswerLoss = AnswerLoss.Options;
    }

    /// <summary>The reference experiment for Qwen3-0.6B: lr 1.2e-5, batch 12 × 8, warmup 1%, one epoch, cosine, bf16, 512 tokens.</summary>
    protected override void Reference(PromptedDecoderClassifierTrainer.Options o) => ReferenceRecipe(o);

    /// <summary>The settings of <see cref="Reference"/>, for any Qwen3 trainer (the sequence classifier trains the same way).</summary>
    internal static void ReferenceRecipe(TransformerTrainerOptions o)
    {
        o.Schedule = LearningRateSchedule.Cosine;
        o.EvaluationInterval = 0.1;
        o.LearningRate = 1.2e-5;
        o.BatchSize = 12;
        o.GradientAccumulationSteps = 8;
        o.WarmupRatio = 0.01;
        o.NumberOfEpochs = 1;
        o.WeightDecay = 0;
        o.MaxSequenceLength = 512;
        o.Precision = Precision.BFloat16;
    }

    /// <inheritdoc/>
    public override long? CountParameters(ITransformer fitted) => (fitted as TextClassifierTransformer)?.ParameterCount;

    /// <inheritdoc/>
    public override bool Owns(ITransformer transformer) => transformer is TextClassifierTransformer t && t.Family == this;

    /// <inheritdoc/>
    public override bool UsesCheckpoint => true;

    /// <inheritdoc/>
    public override string ModelType => "qwen3";

    /// <summary><c>tiny</c> (hidden 64, 2 layers, the real 151,936-token vocabulary, fp32) and the released shapes in bf16: <c>qwen3-0.6b</c>,
    /// <c>qwen3-1.7b</c>, <c>qwen3-4b</c> and <c>qwen3-8b</c> (<c>estimate-memory</c> sizes them without creating them); a config.json file path
    /// instead of a name creates that shape.</summary>
    public override IReadOnlyList<string> RandomPresets { get; } = ["tiny", .. Qwen3Config.ReleasedPresets.Keys];

    /// <inheritdoc/>
    public override string DefaultTokenizer => "qwen3";

    /// <summary>
    /// Writes a random Qwen3 checkpoint with the tokenizer files of <see cref="RandomCheckpointRequest.Tokenizer"/> (tokenizer.json,
    /// tokenizer_config.json), in the dtype of the preset's config (bf16 for qwen3-0.6b, as the published checkpoint).
    /// </summary>
    public override void CreateRandomCheckpoint(RandomCheckpointRequest request)
    {
        var config = PresetConfig(request.Preset)
            ?? throw new ArgumentException($"Preset '{request.Preset}' is not a Qwen3 preset: use {string.Join(" or ", RandomPresets)}.", nameof(request));
        AtomicFolder.Build(request.OutputFolder, tmp =>
        {
            TokenizerFolder.CopyTokenizerFiles(request.Tokenizer, tmp);
            var tokenizer = Qwen3Tokenizer.FromFolder(tmp);
            if (tokenizer.VocabSize > config.VocabSize)
                throw new ArgumentException($"The tokenizer in '{request.Tokenizer}' has {tokenizer.VocabSize} tokens, more than the preset's vocab_size {config.VocabSize}.");
            Qwen3ForCausalLM.CreateRandomCheckpoint(config, tmp, request.Seed, config.WeightDtype);
            HfModelFolder.MarkRandomWeights(tmp);
        });
    }

    /// <summary>The configuration of a <see cref="RandomPresets"/> name, of a config.json file given instead (any Qwen3 shape), or null.</summary>
    internal static Qwen3Config? PresetConfig(string preset) =>
        preset == "tiny" ? Qwen3Config.Tiny()
        : Qwen3Config.ReleasedPresets.TryGetValue(preset, out var make) ? make()
        : preset.EndsWith(".json", StringComparison.OrdinalIgnoreCase) && File.Exists(preset) ? Qwen3Config.Load(preset)
        : null;

    /// <summary>The full-fine-tuning estimate of the options' model (<see cref="MemoryEstimate"/>): answer logits at 2 positions over the
    /// vocabulary (one-token markers and the end of turn) or over the 4 options of AG News with <see cref="AnswerLoss.Options"/>.</summary>
    internal override MemoryEstimate? EstimateTrainingMemory(object options, int batchSize, int sequenceLength, bool bfloat16, bool cpu)
    {
        var o = (PromptedDecoderClassifierTrainer.Options)options;
        var config = Qwen3Config.Load(Path.Combine(o.ModelPath!, HfModelFolder.ConfigFileName));
        bool optionsLoss = o.AnswerLoss == AnswerLoss.Options;
        return MemoryEstimate.For(new MemoryPlan(config, batchSize, sequenceLength, bfloat16, TrainedParameters.Full, 0, [], o.GradientCheckpointing,
            optionsLoss ? 1 : 2, optionsLoss ? 4 : config.VocabSize, FusedCpuOptimizer: cpu, GradientAccumulationSteps: o.GradientAccumulationSteps));
    }

    internal override ITrainableClassifier LoadClassifier(string folder, JsonObject settings, Device device) =>
        PromptedDecoderClassifierModel.Load(folder, settings, device);

    /// <summary><c>"logits"</c> (the whole vocabulary row at the last position) and <c>"hidden"</c> (the final-norm hidden state there).</summary>
    public override ILogitsModel OpenForLogits(string modelFolder, Device device, ScalarType dtype) =>
        new Logits(Qwen3ForCausalLM.FromPretrained(modelFolder, device, dtype));

    private sealed class Logits(Qwen3ForCausalLM model) : ILogitsModel
    {
        public int VocabSize => model.Config.VocabSize;

        public IEnumerable<(string Name, float[] Values)> Compute(JsonObject line, long[] ids, string where)
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var hidden = model.HiddenStates(tensor(ids, device: model.Device).unsqueeze(0));                    // [1,T,D]
            var logits = model.LogitsAt(hidden, tensor(new long[] { ids.Length - 1 }, device: model.Device));   // [1,V]
            return [("logits", LogitsJsonl.Floats(logits[0])), ("hidden", LogitsJsonl.Floats(hidden[0, ids.Length - 1]))];
        }

        public void Dispose() => model.Dispose();
    }
}
