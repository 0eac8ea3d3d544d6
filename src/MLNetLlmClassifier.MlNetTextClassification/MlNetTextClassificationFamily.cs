using Microsoft.ML;
using Microsoft.ML.TorchSharp;
using Microsoft.ML.TorchSharp.NasBert;
using MLNetLlmClassifier.Configuration;
using MLNetLlmClassifier.Families;

namespace MLNetLlmClassifier.MlNetTextClassification;

/// <summary>
/// ML.NET's own <c>mlContext.MulticlassClassification.Trainers.TextClassification</c> (Microsoft.ML.TorchSharp: a NAS-BERT encoder
/// pre-trained by Microsoft, RoBERTa BPE tokenizer, a classification head) as a model family, so that it is a column of
/// <c>compare</c>, a candidate of sweeps and a <c>--trainer</c> of the CLI like this library's own trainers. Where its behaviour is poor,
/// this family corrects it at the boundary: it seeds torch before Fit (ML.NET initialises the head before it seeds, so two runs with
/// the same MLContext seed differ), it fails fast with one line when the weights cannot be downloaded (ML.NET retries for about
/// 70 s), it can train from a random stand-in with the exact shapes (offline machines, tests), and <see cref="ScoresAreLogits"/>
/// tells evaluation that its Score column holds raw logits (ML.NET's log-loss on them is meaningless), so <c>compare</c> turns
/// them into probabilities first. Register it with <c>ClassifierFamilies.Register(MlNetTextClassificationFamily.Instance)</c>.
/// </summary>
public sealed class MlNetTextClassificationFamily : ClassifierFamily<MlNetTextClassificationFamily.Options>
{
    /// <summary>Options of ML.NET's TextClassification as this family exposes them; defaults are ML.NET's.</summary>
    public sealed class Options
    {
        /// <summary>Label column: a key type (use MapValueToKey). Default "Label".</summary>
        public string LabelColumnName { get; set; } = "Label";

        /// <summary>The text column (ML.NET's Sentence1ColumnName). Default "Text".</summary>
        public string TextColumnName { get; set; } = "Text";

        /// <summary>An optional second text column for sentence pairs (ML.NET's Sentence2ColumnName). Default null.</summary>
        public string? Text2ColumnName { get; set; }

        /// <summary>Rows per training step. Default 32 (ML.NET's).</summary>
        [CommandLineAlias("--batch-size")]
        public int BatchSize { get; set; } = 32;

        /// <summary>Passes over the training data (ML.NET's MaxEpoch). Default 10 (ML.NET's).</summary>
        [CommandLineAlias("--epochs")]
        public int NumberOfEpochs { get; set; } = 10;

        /// <summary>Peak learning rate of the one-cycle schedule. Default 1e-4 (ML.NET's).</summary>
        [CommandLineAlias("--lr")]
        public double LearningRate { get; set; } = 1e-4;

        /// <summary>Fraction of the steps spent warming the learning rate up. Default 0.06 (ML.NET's).</summary>
        [CommandLineAlias("--warmup-ratio")]
        public double WarmupRatio { get; set; } = 0.06;

        /// <summary>Adam weight decay. Default 0 (ML.NET's).</summary>
        [CommandLineAlias("--weight-decay")]
        public double WeightDecay { get; set; }

        /// <summary>Gradient clipping norm. Default 5 (ML.NET's).</summary>
        [CommandLineAlias("--max-grad-norm")]
        public double ClipNorm { get; set; } = 5.0;

        /// <summary>Dropout of the encoder. Default 0.1 (ML.NET's).</summary>
        public double Dropout { get; set; } = 0.1;

        /// <summary>Keep the pre-trained encoder frozen and train the head only. Default false.</summary>
        public bool FreezeEncoder { get; set; }

        /// <summary>Optional validation data; ML.NET logs its accuracy (on the last batch only) during training. Default null.</summary>
        public IDataView? ValidationSet { get; set; }

        /// <summary>Seed of torch before Fit (weights of the head, dropout, shuffling); null draws one from the MLContext's seed. Default null.</summary>
        [CommandLineAlias("--seed")]
        public int? Seed { get; set; }

        /// <summary>
        /// auto (CUDA when available, else CPU), cpu, cuda or cuda:N; set through MLContext.GpuDeviceId and FallbackToCpu, the way
        /// ML.NET's TorchSharp trainers choose their device. Default "auto".
        /// </summary>
        [CommandLineAlias("--device")]
        public string Device { get; set; } = "auto";

        /// <summary>A local NasBert2000000.tsm to start from instead of ML.NET's download. Default null.</summary>
        public string? WeightsPath { get; set; }

        /// <summary>
        /// Start from a random stand-in with the exact shapes of NasBert2000000.tsm instead of the pre-trained weights (machines without
        /// network, tests). It is kept in its own folder, never where ML.NET keeps the real file. Default false.
        /// </summary>
        public bool RandomWeights { get; set; }
    }

    /// <summary>The registered instance.</summary>
    public static MlNetTextClassificationFamily Instance { get; } = new();

    private MlNetTextClassificationFamily() { }

    /// <inheritdoc/>
    public override string Name => "mlnet-textclassification";

    /// <summary>"textclassification" and "nasbert".</summary>
    public override IReadOnlyList<string> Aliases { get; } = ["textclassification", "nasbert"];

    /// <inheritdoc/>
    public override string DisplayName => "ML.NET TextClassification (NAS-BERT)";

    /// <inheritdoc/>
    public override ModelKind Kind => ModelKind.EncoderClassifier;

    /// <inheritdoc/>
    public override Options NewOptions(string? modelPath, string textColumn, string? text2Column = null) =>
        new() { TextColumnName = textColumn, Text2ColumnName = text2Column, WeightsPath = modelPath };

    /// <inheritdoc/>
    protected override IEstimator<ITransformer> Estimator(MLContext mlContext, Options options) => new MlNetTextClassificationEstimator(mlContext, options);

    /// <summary>LearningRate log-uniform [1e-5, 1e-3], BatchSize {16, 32}, NumberOfEpochs integer [1, 10], WarmupRatio uniform [0, 0.2].</summary>
    public override IReadOnlyList<SweepRange> DefaultSearchSpace =>
    [
        SweepRange.LogUniform(nameof(Options.LearningRate), 1e-5, 1e-3),
        SweepRange.Choice(nameof(Options.BatchSize), 16, 32),
        SweepRange.Integer(nameof(Options.NumberOfEpochs), 1, 10),
        SweepRange.Uniform(nameof(Options.WarmupRatio), 0, 0.2),
    ];

    /// <summary>
    /// From scratch (compare's embedded default, no network): the random stand-in weights with the encoder frozen (a random 24-layer
    /// encoder learns nothing in the one epoch a short CPU run affords, and freezing it makes the epoch about 1.6 times faster), the
    /// head trained at learning rate 1e-3, batch 32, one epoch.
    /// </summary>
    protected override void FromScratch(Options o, double epochScale)
    {
        o.RandomWeights = true;
        o.FreezeEncoder = true;
        o.LearningRate = 1e-3;
        o.BatchSize = 32;
        o.NumberOfEpochs = 1;
    }

    /// <summary>The reference recipe has no NAS-BERT run; ML.NET's defaults (10 epochs, learning rate 1e-4) are kept.</summary>
    protected override void Reference(Options o) { }

    /// <summary>ML.NET's TextClassification writes raw logits into Score.</summary>
    public override bool ScoresAreLogits => true;

    /// <inheritdoc/>
    public override bool Owns(ITransformer transformer) => transformer is TextClassificationTransformer;

    /// <summary>The weights come from a file (NasBert2000000.tsm): downloaded by ML.NET, given, or (from scratch) a random stand-in.</summary>
    public override bool TakesWeights => true;

    /// <inheritdoc/>
    public override bool StartsFromScratch(object options) => Cast(options).RandomWeights;

    /// <inheritdoc/>
    public override string? WeightsDescription(object options) =>
        Cast(options) is { RandomWeights: true } ? "random stand-in with the shapes of NasBert2000000.tsm, trained from scratch"
        : Cast(options).WeightsPath ?? "NasBert2000000.tsm (pre-trained by Microsoft, ML.NET's download)";
}
