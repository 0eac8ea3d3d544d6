using System.Text.Json.Nodes;
using Microsoft.ML;
using MLNetLlmClassifier.Checkpoints;
using MLNetLlmClassifier.Families;
using MLNetLlmClassifier.IO;
using MLNetLlmClassifier.Text;
using MLNetLlmClassifier.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetLlmClassifier.Bert;

/// <summary>
/// The BERT family: any Hugging Face BERT checkpoint (<c>model_type</c> "bert") fine-tuned with a linear head on the pooled [CLS]
/// output by <see cref="BertTextClassificationTrainer"/>.
/// </summary>
public sealed class BertFamily : ClassifierFamily<BertTextClassificationTrainer.Options>
{
    /// <summary>The registered instance.</summary>
    public static BertFamily Instance { get; } = new();

    private BertFamily() { }

    /// <inheritdoc/>
    public override string Name => "bert";

    /// <inheritdoc/>
    public override string DisplayName => "BERT";

    /// <inheritdoc/>
    public override ModelKind Kind => ModelKind.EncoderClassifier;

    /// <inheritdoc/>
    public override BertTextClassificationTrainer.Options NewOptions(string? modelPath, string textColumn, string? text2Column = null) => new()
    {
        ModelPath = modelPath,
        Sentence1ColumnName = textColumn,
        Sentence2ColumnName = text2Column,
    };

    /// <inheritdoc/>
    protected override IEstimator<ITransformer> Estimator(MLContext mlContext, BertTextClassificationTrainer.Options options) =>
        mlContext.MulticlassClassification.Trainers.BertTextClassification(options);

    /// <summary>
    /// BERT encoder fine-tuning: LearningRate log-uniform [1e-5, 2e-4], BatchSize {16, 32, 64}, NumberOfEpochs integer [1, 4],
    /// WarmupRatio uniform [0, 0.2], WeightDecay log-uniform [1e-6, 0.1], MaxSequenceLength {128, 256, 512} (BERT paper appendix
    /// A.3, widened a little because pruning makes wide ranges cheap). GradientAccumulationSteps stays as given.
    /// </summary>
    public override IReadOnlyList<SweepRange> DefaultSearchSpace =>
    [
        SweepRange.LogUniform(nameof(TransformerTrainerOptions.LearningRate), 1e-5, 2e-4),
        SweepRange.Choice(nameof(TransformerTrainerOptions.BatchSize), 16, 32, 64),
        SweepRange.Integer(nameof(TransformerTrainerOptions.NumberOfEpochs), 1, 4),
        SweepRange.Uniform(nameof(TransformerTrainerOptions.WarmupRatio), 0, 0.2),
        SweepRange.LogUniform(nameof(TransformerTrainerOptions.WeightDecay), 1e-6, 0.1),
        SweepRange.Choice(nameof(TransformerTrainerOptions.MaxSequenceLength), 128, 256, 512),
    ];

    /// <summary>From scratch: learning rate 1e-3, 5 epochs (times the scale), plus the common from-scratch settings.</summary>
    protected override void FromScratch(BertTextClassificationTrainer.Options o, double epochScale) => CommonFromScratch(o, 1e-3, 5 * epochScale);

    /// <summary>The reference experiment for bert-base-cased: lr 1e-5, cosine, batch 64, 5 epochs, weight decay 1e-6, evaluation every 0.1 epoch.</summary>
    protected override void Reference(BertTextClassificationTrainer.Options o)
    {
        o.Schedule = LearningRateSchedule.Cosine;
        o.EvaluationInterval = 0.1;
        o.LearningRate = 1e-5;
        o.BatchSize = 64;
        o.NumberOfEpochs = 5;
        o.WeightDecay = 1e-6;
        o.WarmupRatio = 0;
        o.GradientAccumulationSteps = 1;
        o.MaxSequenceLength = 512;
    }

    /// <inheritdoc/>
    public override long? CountParameters(ITransformer fitted) => (fitted as TextClassifierTransformer)?.ParameterCount;

    /// <inheritdoc/>
    public override bool Owns(ITransformer transformer) => transformer is TextClassifierTransformer t && t.Family == this;

    /// <inheritdoc/>
    public override bool UsesCheckpoint => true;

    /// <inheritdoc/>
    public override string ModelType => "bert";

    /// <summary><c>tiny</c> (hidden 64, 2 layers) and <c>bert-base</c> (the bert-base shape, 110M parameters).</summary>
    public override IReadOnlyList<string> RandomPresets { get; } = ["tiny", "bert-base"];

    /// <inheritdoc/>
    public override string DefaultTokenizer => "bert-base-uncased";

    /// <summary>
    /// Writes a random BERT checkpoint with its tokenizer. <see cref="RandomCheckpointRequest.Tokenizer"/> is a vocab.txt file (then
    /// <see cref="RandomCheckpointRequest.Lowercase"/> says whether it is an uncased vocabulary) or a tokenizer folder.
    /// </summary>
    public override void CreateRandomCheckpoint(RandomCheckpointRequest request)
    {
        var (preset, vocab) = (request.Preset, request.Tokenizer);
        if (!RandomPresets.Contains(preset))
            throw new ArgumentException($"Preset '{preset}' is not a BERT preset: use {string.Join(" or ", RandomPresets)}.", nameof(request));
        AtomicFolder.Build(request.OutputFolder, tmp =>
        {
            if (Directory.Exists(vocab)) TokenizerFolder.CopyTokenizerFiles(vocab, tmp);
            else if (File.Exists(vocab)) WriteVocabTokenizer(vocab, tmp, request.Lowercase, 512);
            else throw new FileNotFoundException($"Vocabulary '{vocab}' is neither a file nor a folder.", vocab);
            var tokenizer = BertWordPieceTokenizer.FromFolder(tmp);
            var config = preset == "tiny" ? BertConfig.Tiny(tokenizer.VocabSize) : BertConfig.BertBase(tokenizer.VocabSize);
            BertForSequenceClassification.CreateRandomCheckpoint(config, tmp, request.Seed);
            HfModelFolder.MarkRandomWeights(tmp);
        });
    }

    /// <summary>Copies a WordPiece vocab.txt into <paramref name="folder"/> with the tokenizer_config.json of HF's BertTokenizer.</summary>
    internal static void WriteVocabTokenizer(string vocabFile, string folder, bool lowercase, int modelMaxLength)
    {
        File.Copy(vocabFile, Path.Combine(folder, "vocab.txt"));
        HfModelFolder.WriteJson(Path.Combine(folder, "tokenizer_config.json"), new JsonObject
        {
            ["tokenizer_class"] = "BertTokenizer",
            ["do_lower_case"] = lowercase,
            ["model_max_length"] = modelMaxLength,
        });
    }

    internal override ITrainableClassifier LoadClassifier(string folder, JsonObject settings, Device device) =>
        BertClassifierModel.Load(folder, settings, device);

    /// <summary>
    /// <c>"logits"</c> (classifier), <c>"pooled"</c> (pooler output) and <c>"hidden"</c> (last hidden state at position 0); a line may
    /// give <c>"token_type_ids"</c>.
    /// </summary>
    public override ILogitsModel OpenForLogits(string modelFolder, Device device, ScalarType dtype) => new Logits(modelFolder, device, dtype);

    private sealed class Logits : ILogitsModel
    {
        private readonly BertConfig _config;
        private readonly BertForSequenceClassification _model;
        private readonly Device _device;

        public Logits(string folder, Device device, ScalarType dtype)
        {
            _config = BertConfig.Load(folder);
            _model = BertForSequenceClassification.FromPretrained(folder, _config.NumLabels, device);
            if (dtype != ScalarType.Float32) _model.to(dtype);
            _device = device;
        }

        public int VocabSize => _config.VocabSize;

        public IEnumerable<(string Name, float[] Values)> Compute(JsonObject line, long[] ids, string where)
        {
            var types = LogitsJsonl.IntArray(line, "token_type_ids", where, _config.TypeVocabSize);
            if (types is not null && types.Length != ids.Length)
                throw new InvalidDataException($"{where}: \"token_type_ids\" has {types.Length} entries but \"ids\" has {ids.Length}.");
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var o = _model.call(tensor(ids, device: _device).unsqueeze(0), null,
                types is null ? null : tensor(types, device: _device).unsqueeze(0));
            return [("logits", LogitsJsonl.Floats(o.Logits[0])), ("pooled", LogitsJsonl.Floats(o.PooledOutput[0])), ("hidden", LogitsJsonl.Floats(o.LastHiddenState[0, 0]))];
        }

        public void Dispose() => _model.Dispose();
    }
}
