using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using MLNetLlmClassifier.Checkpoints;

namespace MLNetLlmClassifier.Bert;

/// <summary>
/// The configuration of a BERT encoder, with the field names and defaults of Hugging Face's <c>BertConfig</c>
/// (<c>config.json</c>). Defaults are those of transformers, i.e. bert-base-uncased.
/// </summary>
public sealed class BertConfig
{
    /// <summary>The <c>model_type</c> this class reads and writes.</summary>
    public const string ModelType = "bert";

    /// <summary><c>vocab_size</c>: rows of the word embedding (30522 for bert-base-uncased).</summary>
    public int VocabSize { get; set; } = 30522;
    /// <summary><c>hidden_size</c>: width of every token vector.</summary>
    public int HiddenSize { get; set; } = 768;
    /// <summary><c>num_hidden_layers</c>: encoder layers.</summary>
    public int NumHiddenLayers { get; set; } = 12;
    /// <summary><c>num_attention_heads</c>: must divide <see cref="HiddenSize"/>.</summary>
    public int NumAttentionHeads { get; set; } = 12;
    /// <summary><c>intermediate_size</c>: width of the feed-forward layer (4 × hidden in BERT).</summary>
    public int IntermediateSize { get; set; } = 3072;
    /// <summary><c>hidden_act</c>: "gelu" (exact, erf), "gelu_new" or "gelu_pytorch_tanh" (tanh approximation), or "relu".</summary>
    public string HiddenAct { get; set; } = "gelu";
    /// <summary><c>hidden_dropout_prob</c>: dropout after embeddings and each sub-layer (training only).</summary>
    public double HiddenDropoutProb { get; set; } = 0.1;
    /// <summary><c>attention_probs_dropout_prob</c>: dropout on attention weights (training only).</summary>
    public double AttentionProbsDropoutProb { get; set; } = 0.1;
    /// <summary><c>max_position_embeddings</c>: longest sequence (learned absolute positions).</summary>
    public int MaxPositionEmbeddings { get; set; } = 512;
    /// <summary><c>type_vocab_size</c>: number of segment (token type) ids, 2 for sentence pairs.</summary>
    public int TypeVocabSize { get; set; } = 2;
    /// <summary><c>layer_norm_eps</c>: epsilon of every LayerNorm (1e-12 in BERT, much smaller than PyTorch's default).</summary>
    public double LayerNormEps { get; set; } = 1e-12;
    /// <summary><c>initializer_range</c>: standard deviation of the normal init of Linear and Embedding weights.</summary>
    public double InitializerRange { get; set; } = 0.02;
    /// <summary><c>pad_token_id</c>: the word embedding's padding row (zero-initialised, no gradient); null for none.</summary>
    public int? PadTokenId { get; set; } = 0;
    /// <summary><c>classifier_dropout</c>: dropout before the classifier; null means <see cref="HiddenDropoutProb"/>.</summary>
    public double? ClassifierDropout { get; set; }
    /// <summary><c>position_embedding_type</c>: only "absolute" is implemented.</summary>
    public string PositionEmbeddingType { get; set; } = "absolute";
    /// <summary><c>architectures</c>: the class names transformers should build.</summary>
    public List<string> Architectures { get; set; } = ["BertForSequenceClassification"];
    /// <summary><c>id2label</c>: class index → label name; its size is the number of labels (transformers' default: 2).</summary>
    public IReadOnlyList<string> Labels { get; private set; } = DefaultLabels(2);

    /// <summary>Fields of config.json this class does not model (e.g. <c>transformers_version</c>), kept for writing back.</summary>
    public JsonObject ExtraFields { get; private set; } = [];

    /// <summary>Number of labels of the classification head (<c>len(id2label)</c>).</summary>
    public int NumLabels => Labels.Count;

    /// <summary>Head size: <see cref="HiddenSize"/> / <see cref="NumAttentionHeads"/>.</summary>
    public int HeadDim => HiddenSize / NumAttentionHeads;

    /// <summary>The dropout actually used before the classifier.</summary>
    public double EffectiveClassifierDropout => ClassifierDropout ?? HiddenDropoutProb;

    /// <summary>Sets the labels (class index i gets <c>labels[i]</c>).</summary>
    /// <exception cref="ArgumentException">No label, or a duplicate (label2id must be a map).</exception>
    public BertConfig WithLabels(IReadOnlyList<string> labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        var copy = Clone();
        copy.Labels = labels.ToArray();
        copy.Validate();
        return copy;
    }

    /// <summary>Sets <paramref name="numLabels"/> labels named like transformers' defaults, <c>LABEL_0</c>, <c>LABEL_1</c>, ...</summary>
    public BertConfig WithNumLabels(int numLabels) =>
        numLabels > 0 ? WithLabels(DefaultLabels(numLabels)) : throw new ArgumentOutOfRangeException(nameof(numLabels), numLabels, "At least one label is needed.");

    /// <summary>A deep copy.</summary>
    public BertConfig Clone()
    {
        var copy = (BertConfig)MemberwiseClone();
        copy.Architectures = [.. Architectures];
        copy.ExtraFields = (JsonObject)ExtraFields.DeepClone();
        return copy;
    }

    /// <summary>A tiny BERT for tests: hidden 64, 2 layers, 4 heads, intermediate 128, 512 positions.</summary>
    public static BertConfig Tiny(int vocabSize) => new()
    {
        VocabSize = vocabSize,
        HiddenSize = 64,
        NumHiddenLayers = 2,
        NumAttentionHeads = 4,
        IntermediateSize = 128,
        MaxPositionEmbeddings = 512,
    };

    /// <summary>bert-base: hidden 768, 12 layers, 12 heads, intermediate 3072, 512 positions.</summary>
    public static BertConfig BertBase(int vocabSize = 30522) => new() { VocabSize = vocabSize };

    /// <summary>Reads config.json from a model folder.</summary>
    public static BertConfig Load(string folder) =>
        FromJson(HfModelFolder.ReadConfig(folder), Path.Combine(Path.GetFullPath(folder), HfModelFolder.ConfigFileName));

    /// <summary>Parses a Hugging Face BERT config.json object and validates it.</summary>
    /// <param name="json">The object.</param>
    /// <param name="source">Where it came from, for error messages.</param>
    /// <exception cref="InvalidDataException">A field has the wrong type, an unsupported value, or the whole is inconsistent.</exception>
    public static BertConfig FromJson(JsonObject json, string source = "config.json")
    {
        ArgumentNullException.ThrowIfNull(json);
        var reader = new FieldReader(json, source);
        string modelType = reader.String("model_type", ModelType);
        if (modelType != ModelType)
            throw new InvalidDataException($"{source}: model_type is '{modelType}', not 'bert' (other BERT-like families such as roberta or distilbert differ in weights and positions).");
        var c = new BertConfig
        {
            VocabSize = reader.Int("vocab_size", 30522),
            HiddenSize = reader.Int("hidden_size", 768),
            NumHiddenLayers = reader.Int("num_hidden_layers", 12),
            NumAttentionHeads = reader.Int("num_attention_heads", 12),
            IntermediateSize = reader.Int("intermediate_size", 3072),
            HiddenAct = reader.String("hidden_act", "gelu"),
            HiddenDropoutProb = reader.Double("hidden_dropout_prob", 0.1),
            AttentionProbsDropoutProb = reader.Double("attention_probs_dropout_prob", 0.1),
            MaxPositionEmbeddings = reader.Int("max_position_embeddings", 512),
            TypeVocabSize = reader.Int("type_vocab_size", 2),
            LayerNormEps = reader.Double("layer_norm_eps", 1e-12),
            InitializerRange = reader.Double("initializer_range", 0.02),
            PadTokenId = reader.NullableInt("pad_token_id", 0),
            ClassifierDropout = reader.NullableDouble("classifier_dropout", null),
            PositionEmbeddingType = reader.String("position_embedding_type", "absolute"),
            Architectures = reader.Strings("architectures") ?? [],
            Labels = reader.Labels(),
        };
        c.ExtraFields = reader.Rest();
        try
        {
            c.Validate();
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"{source}: {e.Message}", e);
        }
        return c;
    }

    /// <summary>
    /// The config as transformers writes it (keys sorted): all modelled fields, <c>id2label</c>/<c>label2id</c>,
    /// <c>model_type</c> "bert", and the preserved <see cref="ExtraFields"/>.
    /// </summary>
    public JsonObject ToJson()
    {
        Validate();
        var fields = new SortedDictionary<string, JsonNode?>(StringComparer.Ordinal);
        foreach (var (key, value) in ExtraFields) fields[key] = value?.DeepClone();
        fields["architectures"] = new JsonArray(Architectures.Select(a => (JsonNode?)JsonValue.Create(a)).ToArray());
        fields["attention_probs_dropout_prob"] = AttentionProbsDropoutProb;
        fields["classifier_dropout"] = ClassifierDropout is { } cd ? JsonValue.Create(cd) : null;
        fields["hidden_act"] = HiddenAct;
        fields["hidden_dropout_prob"] = HiddenDropoutProb;
        fields["hidden_size"] = HiddenSize;
        fields["id2label"] = HfConfigLabels.Id2Label(Labels);
        fields["initializer_range"] = InitializerRange;
        fields["intermediate_size"] = IntermediateSize;
        fields["label2id"] = HfConfigLabels.Label2Id(Labels);
        fields["layer_norm_eps"] = LayerNormEps;
        fields["max_position_embeddings"] = MaxPositionEmbeddings;
        fields["model_type"] = ModelType;
        fields["num_attention_heads"] = NumAttentionHeads;
        fields["num_hidden_layers"] = NumHiddenLayers;
        fields["pad_token_id"] = PadTokenId is { } p ? JsonValue.Create(p) : null;
        fields["position_embedding_type"] = PositionEmbeddingType;
        fields["type_vocab_size"] = TypeVocabSize;
        fields["vocab_size"] = VocabSize;
        return new JsonObject(fields);
    }

    /// <summary>Checks that the values make a model this library can build.</summary>
    /// <exception cref="ArgumentException">The first problem found, naming the config.json field.</exception>
    public void Validate()
    {
        static void Require(bool ok, string field, object? value, string what)
        {
            if (!ok) throw new ArgumentException($"{field} = {value ?? "null"}: {what}.", field);
        }
        Require(VocabSize > 0, "vocab_size", VocabSize, "must be positive");
        Require(HiddenSize > 0, "hidden_size", HiddenSize, "must be positive");
        Require(NumHiddenLayers > 0, "num_hidden_layers", NumHiddenLayers, "must be positive");
        Require(NumAttentionHeads > 0, "num_attention_heads", NumAttentionHeads, "must be positive");
        Require(HiddenSize % NumAttentionHeads == 0, "hidden_size", HiddenSize, $"must be divisible by num_attention_heads = {NumAttentionHeads}");
        Require(IntermediateSize > 0, "intermediate_size", IntermediateSize, "must be positive");
        // Upper bounds far above any published BERT, so that a corrupt value fails here instead of sizing an allocation.
        Require(VocabSize <= MaxVocabSize, "vocab_size", VocabSize, $"is larger than the limit of {MaxVocabSize}");
        Require(HiddenSize <= MaxHiddenSize, "hidden_size", HiddenSize, $"is larger than the limit of {MaxHiddenSize}");
        Require(NumHiddenLayers <= MaxLayers, "num_hidden_layers", NumHiddenLayers, $"is larger than the limit of {MaxLayers}");
        Require(IntermediateSize <= MaxIntermediateSize, "intermediate_size", IntermediateSize, $"is larger than the limit of {MaxIntermediateSize}");
        Require(MaxPositionEmbeddings <= MaxPositions, "max_position_embeddings", MaxPositionEmbeddings, $"is larger than the limit of {MaxPositions}");
        Require(TypeVocabSize <= MaxTypeVocabSize, "type_vocab_size", TypeVocabSize, $"is larger than the limit of {MaxTypeVocabSize}");
        Require(Labels.Count <= MaxLabels, "id2label", Labels.Count, $"has more labels than the limit of {MaxLabels}");
        Require(HiddenAct is "gelu" or "gelu_new" or "gelu_pytorch_tanh" or "relu", "hidden_act", HiddenAct,
            "is not supported (use gelu, gelu_new, gelu_pytorch_tanh or relu)");
        Require(HiddenDropoutProb is >= 0 and < 1, "hidden_dropout_prob", HiddenDropoutProb, "must be in [0, 1)");
        Require(AttentionProbsDropoutProb is >= 0 and < 1, "attention_probs_dropout_prob", AttentionProbsDropoutProb, "must be in [0, 1)");
        Require(ClassifierDropout is null or (>= 0 and < 1), "classifier_dropout", ClassifierDropout, "must be null or in [0, 1)");
        Require(MaxPositionEmbeddings > 0, "max_position_embeddings", MaxPositionEmbeddings, "must be positive");
        Require(TypeVocabSize > 0, "type_vocab_size", TypeVocabSize, "must be positive");
        Require(LayerNormEps > 0 && double.IsFinite(LayerNormEps), "layer_norm_eps", LayerNormEps, "must be positive");
        Require(InitializerRange > 0 && double.IsFinite(InitializerRange), "initializer_range", InitializerRange, "must be positive");
        Require(PadTokenId is null || (PadTokenId >= 0 && PadTokenId < VocabSize), "pad_token_id", PadTokenId, $"must be null or in [0, vocab_size = {VocabSize})");
        Require(PositionEmbeddingType == "absolute", "position_embedding_type", PositionEmbeddingType,
            "is not supported: only 'absolute' (learned position embeddings, as in bert-base) is implemented");
        Require(Labels.Count > 0, "id2label", Labels.Count, "needs at least one label");
        var duplicate = Labels.GroupBy(l => l, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1)?.Key;
        Require(duplicate is null, "id2label", duplicate, "appears twice (label2id must map each label to one index)");
    }

    /// <summary>
    /// The first difference between two configs that would change the weights' shapes or the forward pass
    /// (dropout rates and labels do not count), or null when they describe the same network.
    /// </summary>
    public string? ArchitectureDifference(BertConfig other)
    {
        ArgumentNullException.ThrowIfNull(other);
        (string Field, object A, object B)[] fields =
        [
            ("vocab_size", VocabSize, other.VocabSize), ("hidden_size", HiddenSize, other.HiddenSize),
            ("num_hidden_layers", NumHiddenLayers, other.NumHiddenLayers), ("num_attention_heads", NumAttentionHeads, other.NumAttentionHeads),
            ("intermediate_size", IntermediateSize, other.IntermediateSize), ("hidden_act", HiddenAct, other.HiddenAct),
            ("max_position_embeddings", MaxPositionEmbeddings, other.MaxPositionEmbeddings), ("type_vocab_size", TypeVocabSize, other.TypeVocabSize),
            ("layer_norm_eps", LayerNormEps, other.LayerNormEps), ("position_embedding_type", PositionEmbeddingType, other.PositionEmbeddingType),
        ];
        var diff = fields.FirstOrDefault(f => !Equals(f.A, f.B));
        return diff.Field is null ? null : $"{diff.Field} is {diff.A} in one and {diff.B} in the other";
    }

    // Bounds checked by Validate (see the comment there).
    internal const int MaxVocabSize = 10_000_000;
    internal const int MaxHiddenSize = 65_536;
    internal const int MaxLayers = 1_000;
    internal const int MaxIntermediateSize = 1_048_576;
    internal const int MaxPositions = 1_048_576;
    internal const int MaxTypeVocabSize = 1_024;
    internal const int MaxLabels = 1_000_000;

    /// <summary>Tensors whose shapes follow from the config, each dimension with its field (see <see cref="ModelSizeGuard"/>).</summary>
    internal IReadOnlyList<ModelSizeGuard.ImpliedTensor> ImpliedTensors() =>
    [
        new("embeddings.word_embeddings.weight", [VocabSize, HiddenSize], ["vocab_size", "hidden_size"]),
        new("embeddings.position_embeddings.weight", [MaxPositionEmbeddings, HiddenSize], ["max_position_embeddings", "hidden_size"]),
        new("embeddings.token_type_embeddings.weight", [TypeVocabSize, HiddenSize], ["type_vocab_size", "hidden_size"]),
        new("encoder.layer.0.attention.self.query.weight", [HiddenSize, HiddenSize], ["hidden_size", "hidden_size"]),
        new("encoder.layer.0.intermediate.dense.weight", [IntermediateSize, HiddenSize], ["intermediate_size", "hidden_size"]),
    ];

    /// <summary>The parameter count of a classifier with <paramref name="numLabels"/> classes, by term (float32 on construction).</summary>
    internal IReadOnlyList<ModelSizeGuard.SizeTerm> SizeTerms(int numLabels)
    {
        double h = HiddenSize, i = IntermediateSize;
        return
        [
            new("vocab_size × hidden_size", (double)VocabSize * h),
            new("max_position_embeddings × hidden_size", (double)MaxPositionEmbeddings * h + MaxPositionEmbeddings * 2.0), // + the int64 position ids
            new("type_vocab_size × hidden_size", (double)TypeVocabSize * h + 2 * h),
            new("num_hidden_layers × (4 hidden_size² + 2 hidden_size × intermediate_size)",
                (double)NumHiddenLayers * (4 * (h * h + h) + 2 * h * i + i + h + 4 * h)),
            new("hidden_size² (pooler)", h * h + h),
            new("id2label × hidden_size", (double)numLabels * (h + 1)),
        ];
    }

    private static string[] DefaultLabels(int n) => HfConfigLabels.Default(n);

    /// <summary>Typed reads of config.json fields with errors naming the file and field; remembers which fields it read.</summary>
    private sealed class FieldReader(JsonObject json, string source)
    {
        private readonly HashSet<string> _read = new(StringComparer.Ordinal);

        internal int Int(string field, int fallback) => NullableInt(field, fallback) ?? throw Bad(field, "must not be null");

        internal int? NullableInt(string field, int? fallback) => Number(field, fallback, "a 32-bit integer");

        internal double Double(string field, double fallback) => NullableDouble(field, fallback) ?? throw Bad(field, "must not be null");

        internal double? NullableDouble(string field, double? fallback) => Number(field, fallback, "a number");

        private T? Number<T>(string field, T? fallback, string what) where T : struct =>
            Get(field, out var node) ? node is null ? null
                : node is JsonValue v && v.GetValueKind() == JsonValueKind.Number && v.TryGetValue<T>(out T x) ? x
                : throw Bad(field, $"is {node.ToJsonString()}, not {what}")
            : fallback;

        internal string String(string field, string fallback) =>
            Get(field, out var node)
                ? node is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : throw Bad(field, $"is {node?.ToJsonString() ?? "null"}, not a string")
                : fallback;

        internal List<string>? Strings(string field)
        {
            if (!Get(field, out var node) || node is null) return null;
            if (node is not JsonArray array || array.Any(n => n is not JsonValue v || v.GetValueKind() != JsonValueKind.String))
                throw Bad(field, $"is {node.ToJsonString()}, not an array of strings");
            return array.Select(n => n!.GetValue<string>()).ToList();
        }

        /// <summary>id2label (keys "0".."n-1"), else num_labels, else transformers' default of 2; label2id is derived.</summary>
        internal IReadOnlyList<string> Labels()
        {
            _read.Add("label2id");
            int? numLabels = NullableInt("num_labels", null);
            Get("id2label", out var node);
            return HfConfigLabels.Parse(node, numLabels, Bad);
        }

        /// <summary>The fields not read, deep-copied.</summary>
        internal JsonObject Rest() =>
            new(json.Where(kv => !_read.Contains(kv.Key) && kv.Key != "num_labels").Select(kv => KeyValuePair.Create(kv.Key, kv.Value?.DeepClone())));

        private bool Get(string field, out JsonNode? node)
        {
            _read.Add(field);
            return json.TryGetPropertyValue(field, out node);
        }

        private InvalidDataException Bad(string field, string problem) => new($"{source}: {field} {problem}.");
    }
}
