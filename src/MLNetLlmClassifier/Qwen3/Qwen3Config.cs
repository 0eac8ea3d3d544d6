using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp;

namespace MLNetLlmClassifier.Qwen3;

/// <summary>
/// The Hugging Face <c>Qwen3Config</c> (<c>config.json</c> of a <c>Qwen3ForCausalLM</c> checkpoint).
/// Property defaults are those of <c>transformers.Qwen3Config.__init__</c>, i.e. what Hugging Face
/// assumes when a field is absent from <c>config.json</c> (for example <c>head_dim</c> = 128, not
/// hidden_size / num_attention_heads, and <c>tie_word_embeddings</c> = false).
/// </summary>
/// <remarks>
/// Only what this port implements is accepted: SiLU MLPs, full (not sliding-window) attention and
/// plain rotary embeddings (<c>rope_scaling</c> null). Anything else is rejected by <see cref="Validate"/>
/// with an error naming the field, rather than silently computing something else than Hugging Face.
/// Fields this class does not model (<c>transformers_version</c>, <c>use_cache</c>, <c>max_window_layers</c>...)
/// are kept in <see cref="ExtraFields"/> and written back unchanged.
/// </remarks>
public sealed class Qwen3Config
{
    /// <summary><c>vocab_size</c>: rows of the embedding and of the LM head.</summary>
    public int VocabSize { get; set; } = 151936;
    /// <summary><c>hidden_size</c>: width of the residual stream.</summary>
    public int HiddenSize { get; set; } = 4096;
    /// <summary><c>intermediate_size</c>: width of the gated MLP.</summary>
    public int IntermediateSize { get; set; } = 22016;
    /// <summary><c>num_hidden_layers</c>: number of decoder layers.</summary>
    public int NumHiddenLayers { get; set; } = 32;
    /// <summary><c>num_attention_heads</c>: query heads.</summary>
    public int NumAttentionHeads { get; set; } = 32;
    /// <summary><c>num_key_value_heads</c>: key/value heads (grouped-query attention); HF uses num_attention_heads when null.</summary>
    public int NumKeyValueHeads { get; set; } = 32;
    /// <summary><c>head_dim</c>: per-head width. Qwen3 sets it independently of hidden_size / num_attention_heads (0.6B: 1024 / 16 = 64 but head_dim 128).</summary>
    public int HeadDim { get; set; } = 128;
    /// <summary><c>hidden_act</c>: the MLP gate activation; only "silu" (alias "swish") is implemented.</summary>
    public string HiddenAct { get; set; } = "silu";
    /// <summary><c>max_position_embeddings</c>: longest sequence the model was trained for (informational: like Hugging Face, longer inputs are not rejected).</summary>
    public int MaxPositionEmbeddings { get; set; } = 32768;
    /// <summary><c>initializer_range</c>: standard deviation of the normal init of Linear and Embedding weights.</summary>
    public double InitializerRange { get; set; } = 0.02;
    /// <summary><c>rms_norm_eps</c>: epsilon of every RMSNorm.</summary>
    public double RmsNormEps { get; set; } = 1e-6;
    /// <summary><c>rope_theta</c>: base of the rotary embedding frequencies.</summary>
    public double RopeTheta { get; set; } = 10000.0;
    /// <summary><c>tie_word_embeddings</c>: when true the LM head is <c>model.embed_tokens.weight</c> and checkpoints hold no <c>lm_head.weight</c>.</summary>
    public bool TieWordEmbeddings { get; set; }
    /// <summary><c>attention_bias</c>: biases on q/k/v/o projections (false for every released Qwen3).</summary>
    public bool AttentionBias { get; set; }
    /// <summary><c>attention_dropout</c>: dropout on attention probabilities in training mode (0 for Qwen3).</summary>
    public double AttentionDropout { get; set; }
    /// <summary><c>torch_dtype</c> (newer transformers write <c>dtype</c>): the dtype of the stored weights, "float32", "bfloat16" or "float16".</summary>
    public string TorchDtype { get; set; } = "float32";
    /// <summary><c>bos_token_id</c>, or null when absent.</summary>
    public int? BosTokenId { get; set; }
    /// <summary><c>eos_token_id</c> (Hugging Face allows an int or a list), empty when absent.</summary>
    public IReadOnlyList<int> EosTokenIds { get; set; } = [];
    /// <summary><c>pad_token_id</c>, or null when absent (Qwen3 configs have none). When set, HF makes it the embedding's padding_idx (row initialised to zero, no gradient).</summary>
    public int? PadTokenId { get; set; }
    /// <summary><c>model_type</c>; must be "qwen3".</summary>
    public string ModelType { get; set; } = "qwen3";
    /// <summary><c>architectures</c>; this port implements "Qwen3ForCausalLM" and "Qwen3ForSequenceClassification".</summary>
    public IReadOnlyList<string> Architectures { get; set; } = ["Qwen3ForCausalLM"];
    /// <summary>Other fields of <c>config.json</c>, written back unchanged by <see cref="ToJson"/>.</summary>
    public Dictionary<string, JsonNode?> ExtraFields { get; } = new(StringComparer.Ordinal);

    /// <summary>The tiny random model of the parity fixture <c>hf-parity/qwen3-tiny-a</c>: the real vocabulary (151936, so the real
    /// tokenizer works) with hidden 64, 2 layers, 4 heads of 32, 2 key/value heads, MLP 128 and tied embeddings (about 9.8M parameters, 9.7M of them the embedding).</summary>
    public static Qwen3Config Tiny() => new()
    {
        VocabSize = 151936,
        HiddenSize = 64,
        IntermediateSize = 128,
        NumHiddenLayers = 2,
        NumAttentionHeads = 4,
        NumKeyValueHeads = 2,
        HeadDim = 32,
        MaxPositionEmbeddings = 512,
        RopeTheta = 1_000_000,
        RmsNormEps = 1e-6,
        TieWordEmbeddings = true,
        TorchDtype = "float32",
        BosTokenId = 151643,
        EosTokenIds = [151645],
    };

    /// <summary>Exactly the <c>config.json</c> of Qwen/Qwen3-0.6B (596M parameters, bfloat16 weights, tied embeddings).</summary>
    public static Qwen3Config Qwen3_0_6B() => Released(hidden: 1024, intermediate: 3072, layers: 28, heads: 16, tied: true);

    /// <summary>Exactly the <c>config.json</c> of Qwen/Qwen3-1.7B (2.03B parameters, bfloat16 weights, tied embeddings).</summary>
    public static Qwen3Config Qwen3_1_7B() => Released(hidden: 2048, intermediate: 6144, layers: 28, heads: 16, tied: true);

    /// <summary>Exactly the <c>config.json</c> of Qwen/Qwen3-4B (4.02B parameters, bfloat16 weights, tied embeddings).</summary>
    public static Qwen3Config Qwen3_4B() => Released(hidden: 2560, intermediate: 9728, layers: 36, heads: 32, tied: true);

    /// <summary>Exactly the <c>config.json</c> of Qwen/Qwen3-8B (8.19B parameters, bfloat16 weights, separate LM head).</summary>
    public static Qwen3Config Qwen3_8B() => Released(hidden: 4096, intermediate: 12288, layers: 36, heads: 32, tied: false);

    /// <summary>The released Qwen3 shapes by preset name (<c>qwen3-0.6b</c>, <c>qwen3-1.7b</c>, <c>qwen3-4b</c>, <c>qwen3-8b</c>).</summary>
    internal static IReadOnlyDictionary<string, Func<Qwen3Config>> ReleasedPresets { get; } = new Dictionary<string, Func<Qwen3Config>>(StringComparer.OrdinalIgnoreCase)
    {
        ["qwen3-0.6b"] = Qwen3_0_6B,
        ["qwen3-1.7b"] = Qwen3_1_7B,
        ["qwen3-4b"] = Qwen3_4B,
        ["qwen3-8b"] = Qwen3_8B,
    };

    // The dense Qwen3 checkpoints share everything but these (and max_window_layers = num_hidden_layers): 8 key/value heads of 128,
    // 40,960 positions, rope_theta 1e6, bf16, transformers 4.51.0.
    private static Qwen3Config Released(int hidden, int intermediate, int layers, int heads, bool tied)
    {
        var c = new Qwen3Config
        {
            VocabSize = 151936,
            HiddenSize = hidden,
            IntermediateSize = intermediate,
            NumHiddenLayers = layers,
            NumAttentionHeads = heads,
            NumKeyValueHeads = 8,
            HeadDim = 128,
            MaxPositionEmbeddings = 40960,
            RopeTheta = 1_000_000,
            RmsNormEps = 1e-6,
            TieWordEmbeddings = tied,
            TorchDtype = "bfloat16",
            BosTokenId = 151643,
            EosTokenIds = [151645],
            InitializerRange = 0.02,
        };
        c.ExtraFields["max_window_layers"] = layers;
        c.ExtraFields["sliding_window"] = null;
        c.ExtraFields["use_cache"] = true;
        c.ExtraFields["use_sliding_window"] = false;
        c.ExtraFields["transformers_version"] = "4.51.0";
        return c;
    }

    /// <summary>Number of query heads sharing one key/value head.</summary>
    public int KeyValueGroups => NumAttentionHeads / NumKeyValueHeads;

    /// <summary>The TorchSharp dtype named by <see cref="TorchDtype"/>.</summary>
    public torch.ScalarType WeightDtype => ParseDtype(TorchDtype, "torch_dtype");

    /// <summary>Maps a Hugging Face dtype name ("float32", "bfloat16", "float16", also "torch.bfloat16") to a TorchSharp dtype.</summary>
    /// <exception cref="ArgumentException">Any other name.</exception>
    public static torch.ScalarType ParseDtype(string name, string what = "dtype") =>
        (name.StartsWith("torch.", StringComparison.Ordinal) ? name[6..] : name) switch
        {
            "float32" or "float" => torch.ScalarType.Float32,
            "bfloat16" => torch.ScalarType.BFloat16,
            "float16" or "half" => torch.ScalarType.Float16,
            _ => throw new ArgumentException($"{what} = '{name}' is not supported: use float32, bfloat16 or float16.", what),
        };

    /// <summary>The Hugging Face name of a floating dtype ("float32", "bfloat16", "float16").</summary>
    public static string DtypeName(torch.ScalarType dtype) => dtype switch
    {
        torch.ScalarType.Float32 => "float32",
        torch.ScalarType.BFloat16 => "bfloat16",
        torch.ScalarType.Float16 => "float16",
        _ => throw new ArgumentException($"dtype {dtype} is not a supported weight dtype: use Float32, BFloat16 or Float16.", nameof(dtype)),
    };

    /// <summary>Checks that the configuration describes a model this port computes exactly like Hugging Face.</summary>
    /// <param name="source">Named in error messages (usually the config.json path).</param>
    /// <exception cref="InvalidDataException">A field is out of range or asks for an unimplemented feature.</exception>
    public void Validate(string source = "Qwen3Config")
    {
        void Fail(string field, string why) => throw new InvalidDataException($"{source}: {field} {why}");
        void Positive(string field, double v) { if (!(v > 0)) Fail(field, $"= {v.ToString(CultureInfo.InvariantCulture)} must be > 0."); }

        if (ModelType != "qwen3") Fail("model_type", $"= '{ModelType}', expected 'qwen3'.");
        if (Architectures.Count > 0 && !Architectures.Any(a => a is "Qwen3ForCausalLM" or "Qwen3ForSequenceClassification"))
            Fail("architectures", $"= [{string.Join(", ", Architectures)}] includes neither Qwen3ForCausalLM nor Qwen3ForSequenceClassification, the architectures implemented.");
        Positive("vocab_size", VocabSize);
        Positive("hidden_size", HiddenSize);
        Positive("intermediate_size", IntermediateSize);
        Positive("num_hidden_layers", NumHiddenLayers);
        Positive("num_attention_heads", NumAttentionHeads);
        Positive("num_key_value_heads", NumKeyValueHeads);
        Positive("head_dim", HeadDim);
        Positive("max_position_embeddings", MaxPositionEmbeddings);
        Positive("rms_norm_eps", RmsNormEps);
        Positive("rope_theta", RopeTheta);
        Positive("initializer_range", InitializerRange);
        // Upper bounds far above any published Qwen3, so that a corrupt value fails here instead of sizing an allocation.
        void AtMost(string field, int v, int max) { if (v > max) Fail(field, $"= {v} is larger than the limit of {max}."); }
        AtMost("vocab_size", VocabSize, MaxVocabSize);
        AtMost("hidden_size", HiddenSize, MaxHiddenSize);
        AtMost("intermediate_size", IntermediateSize, MaxIntermediateSize);
        AtMost("num_hidden_layers", NumHiddenLayers, MaxLayers);
        AtMost("num_attention_heads", NumAttentionHeads, MaxHeads);
        AtMost("num_key_value_heads", NumKeyValueHeads, MaxHeads);
        AtMost("head_dim", HeadDim, MaxHeadDim);
        AtMost("max_position_embeddings", MaxPositionEmbeddings, MaxPositions);
        if (NumAttentionHeads % NumKeyValueHeads != 0)
            Fail("num_key_value_heads", $"= {NumKeyValueHeads} must divide num_attention_heads = {NumAttentionHeads} (grouped-query attention).");
        if (HeadDim % 2 != 0) Fail("head_dim", $"= {HeadDim} must be even (rotary embeddings rotate pairs).");
        if (HiddenAct is not ("silu" or "swish")) Fail("hidden_act", $"= '{HiddenAct}' is not supported: Qwen3 uses 'silu'.");
        if (!(AttentionDropout >= 0 && AttentionDropout < 1)) Fail("attention_dropout", $"= {AttentionDropout} must be in [0, 1).");
        try { _ = ParseDtype(TorchDtype); }
        catch (ArgumentException) { Fail("torch_dtype", $"= '{TorchDtype}' is not supported: use float32, bfloat16 or float16."); }
        foreach (var (name, id) in new[] { ("bos_token_id", BosTokenId), ("pad_token_id", PadTokenId) }.Concat(EosTokenIds.Select(e => ("eos_token_id", (int?)e))))
            if (id is int v && (v < 0 || v >= VocabSize)) Fail(name, $"= {v} is outside the vocabulary [0, {VocabSize}).");
        if (ExtraFields.TryGetValue("rope_scaling", out var rs) && rs is not null)
            Fail("rope_scaling", $"= {IO.UntrustedText.OneLine(rs.ToJsonString(), 200)} is not supported: only plain rotary embeddings (rope_scaling null) are implemented.");
        if (ExtraFields.TryGetValue("use_sliding_window", out var sw) && sw is JsonValue swv && swv.TryGetValue<bool>(out bool useSw) && useSw)
            Fail("use_sliding_window", "= true is not supported: only full attention is implemented.");
        if (ExtraFields.TryGetValue("layer_types", out var lt) && lt is JsonArray types && types.Any(t => !(t is JsonValue tv && tv.TryGetValue<string>(out var s) && s == "full_attention")))
            Fail("layer_types", $"= {IO.UntrustedText.OneLine(lt.ToJsonString(), 200)} is not supported: every layer must be 'full_attention'.");
    }

    // Bounds checked by Validate.
    internal const int MaxVocabSize = 10_000_000;
    internal const int MaxHiddenSize = 65_536;
    internal const int MaxIntermediateSize = 1_048_576;
    internal const int MaxLayers = 1_000;
    internal const int MaxHeads = 4_096;
    internal const int MaxHeadDim = 4_096;
    internal const int MaxPositions = 1_048_576;

    /// <summary>Tensors whose shapes follow from the config, each dimension with its field (see <see cref="Checkpoints.ModelSizeGuard"/>).</summary>
    internal IReadOnlyList<Checkpoints.ModelSizeGuard.ImpliedTensor> ImpliedTensors()
    {
        var list = new List<Checkpoints.ModelSizeGuard.ImpliedTensor>
        {
            new("model.embed_tokens.weight", [VocabSize, HiddenSize], ["vocab_size", "hidden_size"]),
            new("model.layers.0.self_attn.q_proj.weight", [(long)NumAttentionHeads * HeadDim, HiddenSize], ["num_attention_heads × head_dim", "hidden_size"]),
            new("model.layers.0.self_attn.k_proj.weight", [(long)NumKeyValueHeads * HeadDim, HiddenSize], ["num_key_value_heads × head_dim", "hidden_size"]),
            new("model.layers.0.mlp.gate_proj.weight", [IntermediateSize, HiddenSize], ["intermediate_size", "hidden_size"]),
        };
        if (!TieWordEmbeddings) list.Add(new("lm_head.weight", [VocabSize, HiddenSize], ["vocab_size", "hidden_size"]));
        return list;
    }

    /// <summary>The parameter count, by term (see <see cref="Checkpoints.ModelSizeGuard"/>).</summary>
    internal IReadOnlyList<Checkpoints.ModelSizeGuard.SizeTerm> SizeTerms()
    {
        double h = HiddenSize, q = (double)NumAttentionHeads * HeadDim, kv = (double)NumKeyValueHeads * HeadDim, i = IntermediateSize;
        double bias = AttentionBias ? q + 2 * kv + h : 0;
        return
        [
            new("vocab_size × hidden_size", (double)VocabSize * h * (TieWordEmbeddings ? 1 : 2)),
            new("num_hidden_layers × (attention + 3 hidden_size × intermediate_size)",
                NumHiddenLayers * (h * q + 2 * h * kv + q * h + bias + 2.0 * HeadDim + 2 * h + 3 * h * i)),
            new("hidden_size (final norm)", h),
        ];
    }

    /// <summary>Reads and validates a <c>config.json</c>.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The JSON is malformed, a field has the wrong type, or <see cref="Validate"/> fails; the message names the file and field.</exception>
    public static Qwen3Config Load(string configPath)
    {
        if (!File.Exists(configPath)) throw new FileNotFoundException($"Qwen3 config not found: {configPath}", configPath);
        return FromJson(File.ReadAllText(configPath), configPath);
    }

    /// <summary>Parses and validates the text of a <c>config.json</c>.</summary>
    /// <param name="json">The JSON text.</param>
    /// <param name="source">Named in error messages.</param>
    public static Qwen3Config FromJson(string json, string source = "config.json")
    {
        JsonObject obj;
        obj = IO.UntrustedText.ParseJson(System.Text.Encoding.UTF8.GetBytes(json), source) as JsonObject
            ?? throw new InvalidDataException($"{source}: the root is not a JSON object.");
        return FromJson(obj, source);
    }

    /// <summary>Builds and validates a configuration from a parsed <c>config.json</c> object.</summary>
    public static Qwen3Config FromJson(JsonObject obj, string source = "config.json")
    {
        var c = new Qwen3Config();
        bool kvHeadsNull = false;
        foreach (var (key, node) in obj)
        {
            switch (key)
            {
                case "vocab_size": c.VocabSize = Int(node, key); break;
                case "hidden_size": c.HiddenSize = Int(node, key); break;
                case "intermediate_size": c.IntermediateSize = Int(node, key); break;
                case "num_hidden_layers": c.NumHiddenLayers = Int(node, key); break;
                case "num_attention_heads": c.NumAttentionHeads = Int(node, key); break;
                // HF: null means one key/value head per query head (no grouping); absent means the class default 32.
                case "num_key_value_heads": if (node is null) kvHeadsNull = true; else c.NumKeyValueHeads = Int(node, key); break;
                case "head_dim": if (node is not null) c.HeadDim = Int(node, key); break;
                case "hidden_act": c.HiddenAct = Str(node, key); break;
                case "max_position_embeddings": c.MaxPositionEmbeddings = Int(node, key); break;
                case "initializer_range": c.InitializerRange = Num(node, key); break;
                case "rms_norm_eps": c.RmsNormEps = Num(node, key); break;
                case "rope_theta": c.RopeTheta = Num(node, key); break;
                case "tie_word_embeddings": c.TieWordEmbeddings = Bool(node, key); break;
                case "attention_bias": c.AttentionBias = Bool(node, key); break;
                case "attention_dropout": c.AttentionDropout = Num(node, key); break;
                // transformers >= 4.56 writes "dtype"; older versions "torch_dtype". Either names the stored weights' dtype.
                case "torch_dtype" or "dtype": if (node is not null) c.TorchDtype = Str(node, key); break;
                case "bos_token_id": c.BosTokenId = node is null ? null : Int(node, key); break;
                case "pad_token_id": c.PadTokenId = node is null ? null : Int(node, key); break;
                case "eos_token_id":
                    c.EosTokenIds = node switch
                    {
                        null => [],
                        JsonArray a => a.Select((e, i) => Int(e, $"{key}[{i}]")).ToArray(),
                        _ => [Int(node, key)],
                    };
                    break;
                case "model_type": c.ModelType = Str(node, key); break;
                case "architectures":
                    c.Architectures = node is JsonArray arch ? arch.Select((e, i) => Str(e, $"{key}[{i}]")).ToArray()
                        : node is null ? [] : throw Bad(key, "a list of strings", node);
                    break;
                // transformers 5 folds rope_theta and rope_scaling into rope_parameters; only the default rope type is implemented.
                case "rope_parameters" when node is JsonObject rp:
                    if (rp["rope_type"] is { } rtNode && Str(rtNode, "rope_parameters.rope_type") is var rt && rt != "default")
                        throw new InvalidDataException($"{source}: rope_parameters.rope_type = '{rt}' is not supported: only 'default' rotary embeddings are implemented.");
                    if (rp["rope_theta"] is JsonNode th) c.RopeTheta = Num(th, "rope_parameters.rope_theta");
                    c.ExtraFields[key] = node.DeepClone();
                    break;
                default: c.ExtraFields[key] = node?.DeepClone(); break;
            }
        }
        if (kvHeadsNull) c.NumKeyValueHeads = c.NumAttentionHeads;
        c.Validate(source);
        return c;

        InvalidDataException Bad(string key, string expected, JsonNode? node) =>
            new($"{source}: {key} must be {expected}, found {IO.UntrustedText.OneLine(node?.ToJsonString() ?? "null", 100)}.");
        int Int(JsonNode? node, string key)
        {
            if (node is JsonValue v && v.TryGetValue<double>(out double d) && d == Math.Floor(d) && d >= int.MinValue && d <= int.MaxValue) return (int)d;
            throw Bad(key, "an integer", node);
        }
        double Num(JsonNode? node, string key) =>
            node is JsonValue v && v.TryGetValue<double>(out double d) ? d : throw Bad(key, "a number", node);
        bool Bool(JsonNode? node, string key) =>
            node is JsonValue v && v.TryGetValue<bool>(out bool b) ? b : throw Bad(key, "true or false", node);
        string Str(JsonNode? node, string key) =>
            node is JsonValue v && v.TryGetValue<string>(out var s) ? s : throw Bad(key, "a string", node);
    }

    /// <summary>The Hugging Face <c>config.json</c> text (keys sorted like <c>save_pretrained</c>, 2-space indent).</summary>
    public string ToJson() => ToJsonObject().ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";

    /// <summary>The Hugging Face <c>config.json</c> object, keys sorted like <c>save_pretrained</c>.</summary>
    public JsonObject ToJsonObject()
    {
        var fields = new SortedDictionary<string, JsonNode?>(StringComparer.Ordinal);
        foreach (var (k, v) in ExtraFields) fields[k] = v?.DeepClone();
        fields["architectures"] = new JsonArray(Architectures.Select(a => (JsonNode?)a).ToArray());
        fields["attention_bias"] = AttentionBias;
        fields["attention_dropout"] = AttentionDropout;
        fields["bos_token_id"] = BosTokenId;
        fields["eos_token_id"] = EosTokenIds.Count == 1 ? EosTokenIds[0] : new JsonArray(EosTokenIds.Select(e => (JsonNode?)e).ToArray());
        if (EosTokenIds.Count == 0) fields["eos_token_id"] = null;
        if (PadTokenId is not null) fields["pad_token_id"] = PadTokenId;
        fields["head_dim"] = HeadDim;
        fields["hidden_act"] = HiddenAct;
        fields["hidden_size"] = HiddenSize;
        fields["initializer_range"] = InitializerRange;
        fields["intermediate_size"] = IntermediateSize;
        fields["max_position_embeddings"] = MaxPositionEmbeddings;
        fields["model_type"] = ModelType;
        fields["num_attention_heads"] = NumAttentionHeads;
        fields["num_hidden_layers"] = NumHiddenLayers;
        fields["num_key_value_heads"] = NumKeyValueHeads;
        fields["rms_norm_eps"] = RmsNormEps;
        if (!fields.ContainsKey("rope_parameters")) fields["rope_scaling"] = null;
        fields["rope_theta"] = RopeTheta;
        fields["tie_word_embeddings"] = TieWordEmbeddings;
        fields.Remove("dtype");
        fields["torch_dtype"] = TorchDtype;
        fields["vocab_size"] = VocabSize;
        var root = new JsonObject();
        foreach (var (k, v) in fields) root[k] = v;
        return root;
    }

    /// <summary>A deep copy (the model keeps its own copy of the configuration it was built from).</summary>
    public Qwen3Config Clone() => FromJson(ToJson(), "Qwen3Config.Clone");

    /// <inheritdoc/>
    public override string ToString() =>
        new StringBuilder().Append("Qwen3(vocab ").Append(VocabSize).Append(", hidden ").Append(HiddenSize)
            .Append(", layers ").Append(NumHiddenLayers).Append(", heads ").Append(NumAttentionHeads).Append('/').Append(NumKeyValueHeads)
            .Append(" x ").Append(HeadDim).Append(", mlp ").Append(IntermediateSize).Append(TieWordEmbeddings ? ", tied" : "").Append(')').ToString();
}
