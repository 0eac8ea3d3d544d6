using System.Globalization;
using System.Text.RegularExpressions;
using MLNetLlmClassifier.Checkpoints;
using MLNetLlmClassifier.IO;
using TorchSharp;

namespace MLNetLlmClassifier.Bert;

/// <summary>
/// Turns a BERT-family ONNX model (as <c>torch.onnx.export</c> writes one from transformers' <c>BertModel</c>, e.g. the
/// sentence-transformers MiniLM exports) back into a trainable Hugging Face folder: config.json, model.safetensors, vocab.txt
/// and tokenizer_config.json, which <see cref="BertTextClassificationTrainer"/> and transformers load.
/// </summary>
/// <remarks>
/// <para>The weights are placed by the graph's structure, not by guessing: initializers that carry Hugging Face names
/// (<c>embeddings.word_embeddings.weight</c>, every bias and LayerNorm, <c>pooler.dense.weight</c> of a <c>Gemm</c>) keep them;
/// a Linear weight that the exporter numbered (<c>onnx::MatMul_927</c>, stored <c>[in, out]</c> as the second input of a
/// <c>MatMul</c>) is named after the bias of the <c>Add</c> that consumes the MatMul's output and transposed to <c>[out, in]</c>.</para>
/// <para>The config is read from the shapes (vocabulary, hidden, intermediate and position sizes, layer count) and from the
/// graph: the number of attention heads from the constant shape of the <c>Reshape</c> that splits the first query projection
/// into heads, <c>layer_norm_eps</c> from the LayerNorm (the <c>epsilon</c> of LayerNormalization, or the constant added before
/// <c>Sqrt</c> in the decomposed form), <c>hidden_act</c> from the feed-forward's ops (<c>Erf</c>: exact gelu; <c>Tanh</c>:
/// the tanh approximation; <c>Relu</c>).</para>
/// <para>Weights are read from <c>raw_data</c>, the typed data fields (<c>float_data</c>, float16/bfloat16 in <c>int32_data</c>,
/// <c>double_data</c>) or external data files beside the model, and stored as float32. A graph that ONNX Runtime's optimizer
/// rewrote into fused operators (Attention, SkipLayerNormalization) is not supported: every initializer that could not be placed
/// is named in the error.</para>
/// </remarks>
public static class BertOnnxImport
{
    /// <summary>
    /// Converts <paramref name="onnxPath"/> (and its vocabulary) to a Hugging Face BERT folder at <paramref name="outputFolder"/>,
    /// written atomically (it must not exist or be empty). The folder is loaded back with <see cref="BertForSequenceClassification"/>'s
    /// strict loader before it is moved into place.
    /// </summary>
    /// <param name="onnxPath">The ONNX model; external data files are read from its folder.</param>
    /// <param name="vocabPath">The WordPiece vocab.txt the model was trained with (one token per line, id = line number).</param>
    /// <param name="outputFolder">The folder to create.</param>
    /// <param name="lowercase">Whether the tokenizer lower-cases (an uncased model); null: inferred from the vocabulary (an uncased
    /// vocabulary has almost no token with an upper-case letter).</param>
    /// <param name="log">Receives one line per inference made (heads, epsilon, activation, lower-casing, ignored constants).</param>
    /// <returns>The config written.</returns>
    /// <exception cref="InvalidDataException">The file is not a BERT ONNX model of the supported form; the message names the file and
    /// the initializers or nodes at fault.</exception>
    public static BertConfig Convert(string onnxPath, string vocabPath, string outputFolder, bool? lowercase = null, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(onnxPath);
        ArgumentNullException.ThrowIfNull(vocabPath);
        ArgumentNullException.ThrowIfNull(outputFolder);
        if (!File.Exists(vocabPath)) throw new FileNotFoundException($"Vocabulary '{vocabPath}' does not exist.", vocabPath);
        return Convert(OnnxModel.Load(onnxPath), vocabPath, outputFolder, lowercase, log);
    }

    internal static BertConfig Convert(OnnxModel model, string vocabPath, string outputFolder, bool? lowercase, Action<string>? log)
    {
        var vocab = File.ReadAllLines(vocabPath);
        var weights = BertOnnxGraph.Read(model, vocab, log);
        bool lower = lowercase ?? InferLowercase(vocab, vocabPath, log);
        AtomicFolder.Build(outputFolder, tmp =>
        {
            BertFamily.WriteVocabTokenizer(vocabPath, tmp, lower, weights.Config.MaxPositionEmbeddings);
            var tensors = new List<KeyValuePair<string, torch.Tensor>>();
            try
            {
                foreach (var (name, tensor, transpose) in weights.Tensors)
                {
                    using var t = tensor.ToTorch(model.Directory);
                    tensors.Add(KeyValuePair.Create(name, transpose ? t.t().contiguous() : t.alias()));
                }
                HfModelFolder.SaveWeights(tmp, tensors);
            }
            finally
            {
                foreach (var (_, t) in tensors) t.Dispose();
            }
            var json = weights.Config.ToJson();
            json["architectures"] = new System.Text.Json.Nodes.JsonArray("BertModel");
            HfModelFolder.WriteJson(Path.Combine(tmp, HfModelFolder.ConfigFileName), json);
            // The strict loader checks that every tensor of the architecture is there with its shape.
            try
            {
                using var check = BertForSequenceClassification.FromPretrained(tmp, 2, torch.CPU);
            }
            catch (CheckpointMismatchException e)
            {
                throw new InvalidDataException($"{model.Source}: the weights placed do not make a complete BERT. {e.Message}", e);
            }
        });
        return weights.Config;
    }

    /// <summary>Whether a vocabulary is uncased: fewer than 1% of its tokens (special [..] tokens aside) have an upper-case letter.</summary>
    internal static bool InferLowercase(IReadOnlyList<string> vocab, string source, Action<string>? log)
    {
        int upper = vocab.Count(t => !t.StartsWith('[') && t.Any(char.IsUpper));
        bool lower = upper < vocab.Count / 100;
        log?.Invoke($"{source}: {upper} of {vocab.Count} tokens have an upper-case letter, so the tokenizer {(lower ? "lower-cases (uncased)" : "keeps case (cased)")}.");
        return lower;
    }
}

/// <summary>The BERT weights and config found in an ONNX graph (see <see cref="BertOnnxImport"/> for the rules).</summary>
internal sealed partial class BertOnnxGraph
{
    private readonly OnnxModel _model;
    private readonly Dictionary<string, OnnxTensor> _initializers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, OnnxNode> _producers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<OnnxNode>> _consumers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (OnnxTensor Tensor, bool Transpose, string Origin)> _placed = new(StringComparer.Ordinal);
    // Hugging Face weight name → the node whose output is the Linear's result (the bias Add), to follow the graph from there.
    private readonly Dictionary<string, OnnxNode> _linearOutputs = new(StringComparer.Ordinal);

    private BertOnnxGraph(OnnxModel model)
    {
        _model = model;
        foreach (var t in model.Graph.Initializers) _initializers[t.Name] = t;
        foreach (var node in model.Graph.Nodes)
        {
            foreach (var o in node.Outputs) _producers[o] = node;
            foreach (var i in node.Inputs)
            {
                if (!_consumers.TryGetValue(i, out var list)) _consumers[i] = list = [];
                list.Add(node);
            }
        }
    }

    public BertConfig Config { get; private set; } = null!;

    /// <summary>(Hugging Face name, tensor, whether it is stored [in, out] and must be transposed), sorted by name.</summary>
    public List<(string Name, OnnxTensor Tensor, bool Transpose)> Tensors { get; } = [];

    [GeneratedRegex(@"^(embeddings\.[A-Za-z_]+(\.weight|\.bias)|encoder\.layer\.\d+\.[A-Za-z_.]+\.(weight|bias)|pooler\.dense\.(weight|bias))$")]
    private static partial Regex HfParameterName();

    [GeneratedRegex(@"^encoder\.layer\.(\d+)\.")]
    private static partial Regex LayerIndex();

    internal static BertOnnxGraph Read(OnnxModel model, IReadOnlyList<string> vocab, Action<string>? log)
    {
        var g = new BertOnnxGraph(model);
        g.PlaceNamed();
        g.PlaceLinears();
        g.RequireAllPlaced(log);
        g.Config = g.InferConfig(vocab, log);
        g.Tensors.AddRange(g._placed.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => (p.Key, p.Value.Tensor, p.Value.Transpose)));
        return g;
    }

    private InvalidDataException Error(string problem) => new($"{_model.Source}: {problem}");

    /// <summary>The name without a leading <c>bert.</c> (exports of BertFor* classes carry it).</summary>
    private static string Normalize(string name) => name.StartsWith("bert.", StringComparison.Ordinal) ? name[5..] : name;

    private void Place(string hfName, OnnxTensor tensor, bool transpose, string origin)
    {
        if (_placed.TryGetValue(hfName, out var other) && other.Tensor != tensor)
            throw Error($"two initializers map to {hfName}: '{other.Tensor.Name}' ({other.Origin}) and '{tensor.Name}' ({origin}).");
        _placed[hfName] = (tensor, transpose, origin);
    }

    /// <summary>Floating-point initializers that already carry a Hugging Face BERT parameter name.</summary>
    private void PlaceNamed()
    {
        foreach (var t in _model.Graph.Initializers)
            if (t.IsFloatingPoint && HfParameterName().IsMatch(Normalize(t.Name)))
                Place(Normalize(t.Name), t, transpose: false, "named");
    }

    /// <summary>MatMul + Add (bias) pairs and Gemm nodes: the weight is named after the bias.</summary>
    private void PlaceLinears()
    {
        foreach (var node in _model.Graph.Nodes)
        {
            if (node.OpType == "MatMul" && node.Inputs.Count == 2 && WeightOf(node.Inputs[1]) is var (w, stored) && w.Shape.Length == 2)
            {
                var add = Consumers(node.Outputs[0]).FirstOrDefault(c => c.OpType == "Add" && BiasOf(c, node.Outputs[0]) is not null);
                if (add is null) continue;
                var bias = BiasOf(add, node.Outputs[0])!;
                // Stored [in, out] as MatMul's right operand (x @ W); a Transpose in front means W was stored [out, in].
                long outDim = stored ? w.Shape[1] : w.Shape[0];
                if (bias.Shape.Length != 1 || bias.Shape[0] != outDim)
                    throw Error($"the bias {bias} of {add} does not fit the weight {w} of {node} (expected {outDim} values).");
                string name = WeightName(bias);
                Place(name, w, transpose: stored, $"MatMul {node.Name} + Add {add.Name}");
                _linearOutputs[name] = add;
            }
            else if (node.OpType == "Gemm" && node.Inputs.Count == 3 && WeightOf(node.Inputs[1]) is var (gw, _) && gw.Shape.Length == 2
                     && _initializers.TryGetValue(node.Inputs[2], out var gb) && gb.IsFloatingPoint && gb.Name.EndsWith(".bias", StringComparison.Ordinal))
            {
                bool transB = node.Attributes.TryGetValue("transB", out var a) && a.I == 1;
                string name = WeightName(gb);
                Place(name, gw, transpose: !transB, $"Gemm {node.Name}");
                _linearOutputs[name] = node;
            }
        }
    }

    private static string WeightName(OnnxTensor bias) => Normalize(bias.Name)[..^".bias".Length] + ".weight";

    /// <summary>The initializer behind a MatMul/Gemm operand: (tensor, true) when read directly, (tensor, false) through Transpose [1, 0].</summary>
    private (OnnxTensor, bool)? WeightOf(string value)
    {
        if (_initializers.TryGetValue(value, out var t)) return t.IsFloatingPoint ? (t, true) : null;
        if (_producers.TryGetValue(value, out var p) && p.OpType == "Transpose" && _initializers.TryGetValue(p.Inputs[0], out var tt) && tt.IsFloatingPoint
            && (!p.Attributes.TryGetValue("perm", out var perm) || perm.Ints.SequenceEqual([1L, 0L])))
            return (tt, false);
        return null;
    }

    /// <summary>The other operand of an Add when it is a 1-D floating-point initializer named <c>*.bias</c>.</summary>
    private OnnxTensor? BiasOf(OnnxNode add, string input)
    {
        var other = add.Inputs.FirstOrDefault(i => i != input);
        return other is not null && _initializers.TryGetValue(other, out var t) && t.IsFloatingPoint && t.Shape.Length == 1
               && t.Name.EndsWith(".bias", StringComparison.Ordinal) ? t : null;
    }

    private IEnumerable<OnnxNode> Consumers(string value) => _consumers.TryGetValue(value, out var list) ? list : [];

    /// <summary>Every floating-point initializer with more than one value must have been placed; scalars are graph constants.</summary>
    private void RequireAllPlaced(Action<string>? log)
    {
        var used = _placed.Values.Select(p => p.Tensor).ToHashSet();
        var unplaced = _model.Graph.Initializers.Where(t => t.IsFloatingPoint && t.ElementCount > 1 && !used.Contains(t)).ToList();
        if (unplaced.Count > 0)
            throw Error($"{unplaced.Count} weight initializer(s) could not be placed in a BERT checkpoint (not a Hugging Face name, and not a MatMul/Gemm " +
                 $"weight followed by a named bias; a graph optimised into fused operators is not supported): {string.Join(", ", unplaced)}.");
        int constants = _model.Graph.Initializers.Count(t => !used.Contains(t));
        if (constants > 0)
            log?.Invoke($"{_model.Source}: {used.Count} initializers placed; {constants} graph constants (shapes, indices, scalars) left out.");
    }

    private BertConfig InferConfig(IReadOnlyList<string> vocab, Action<string>? log)
    {
        long[] Shape(string name) => _placed.TryGetValue(name, out var p) ? p.Tensor.Shape is var s && p.Transpose ? [.. Enumerable.Reverse(s)] : s
            : throw new InvalidDataException($"{_model.Source}: no initializer for {name} (the BERT embeddings); is this a BERT model?");
        var word = Shape("embeddings.word_embeddings.weight");
        var position = Shape("embeddings.position_embeddings.weight");
        var type = Shape("embeddings.token_type_embeddings.weight");
        var layers = _placed.Keys.Select(k => LayerIndex().Match(k)).Where(m => m.Success)
            .Select(m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)).DefaultIfEmpty(-1).Max() + 1;
        if (layers == 0) throw Error("no encoder layer weights (encoder.layer.N.*) were found.");
        var intermediate = Shape("encoder.layer.0.intermediate.dense.weight");
        if (word.Length != 2 || position.Length != 2 || type.Length != 2 || intermediate.Length != 2)
            throw Error("the embedding or feed-forward weights are not matrices.");
        if (word[0] < vocab.Count)
            throw Error($"the word embedding has {word[0]} rows but the vocabulary has {vocab.Count} tokens: give the model's own vocab.txt.");
        if (word[0] > vocab.Count)
            log?.Invoke($"{_model.Source}: the word embedding has {word[0]} rows, {word[0] - vocab.Count} more than the vocabulary's tokens (padding rows, kept).");
        int hidden = checked((int)word[1]);
        int heads = InferHeads(hidden, log);
        int pad = vocab.ToList().IndexOf("[PAD]");
        var config = new BertConfig
        {
            VocabSize = checked((int)word[0]),
            HiddenSize = hidden,
            NumHiddenLayers = layers,
            NumAttentionHeads = heads,
            IntermediateSize = checked((int)intermediate[0]),
            MaxPositionEmbeddings = checked((int)position[0]),
            TypeVocabSize = checked((int)type[0]),
            LayerNormEps = InferEpsilon(log),
            HiddenAct = InferActivation(log),
            PadTokenId = pad >= 0 ? pad : null,
            Architectures = ["BertModel"],
        };
        try { config.Validate(); }
        catch (ArgumentException e) { throw Error($"the inferred config is not valid: {e.Message}"); }
        return config;
    }

    /// <summary>Heads from the Reshape that splits the first query projection: its shape is [batch, length, heads, head size].</summary>
    private int InferHeads(int hidden, Action<string>? log)
    {
        const string query = "encoder.layer.0.attention.self.query.weight";
        if (!_linearOutputs.TryGetValue(query, out var linear))
            throw Error($"cannot find the number of attention heads: {query} is not the weight of a MatMul/Gemm followed by its bias.");
        var reshape = Consumers(linear.Outputs[0]).FirstOrDefault(c => c.OpType == "Reshape");
        if (reshape is null || reshape.Inputs.Count < 2)
            throw Error($"cannot find the number of attention heads: the query projection ({linear}) is not followed by a Reshape into heads.");
        var shape = ConstantValues(reshape.Inputs[1]);
        if (shape is not { Count: 4 })
            throw Error($"cannot find the number of attention heads: the shape of {reshape} is not a 4-value constant [batch, length, heads, head size].");
        long? heads = shape[2] is > 0 ? shape[2] : shape[3] is > 0 and var d && hidden % d == 0 ? hidden / d : null;
        if (heads is not { } h || hidden % h != 0)
            throw Error($"cannot find the number of attention heads: the shape of {reshape} is [{string.Join(", ", shape.Select(v => v?.ToString(CultureInfo.InvariantCulture) ?? "?"))}], " +
                             $"which does not split hidden size {hidden} into heads.");
        log?.Invoke($"{_model.Source}: {h} attention heads of {hidden / h} (from {reshape}).");
        return (int)h;
    }

    /// <summary>The values of a constant integer value (initializer, Constant node, or Concat/Unsqueeze of them); unknown entries are null.</summary>
    private List<long?>? ConstantValues(string value, int depth = 0)
    {
        if (depth > 8) return null;
        if (_initializers.TryGetValue(value, out var t))
            return t.IsInteger ? t.ToInt64s(_model.Directory).Select(v => (long?)v).ToList() : null;
        if (!_producers.TryGetValue(value, out var node)) return null;
        switch (node.OpType)
        {
            case "Constant":
                return node.Attributes.TryGetValue("value", out var a) && a.T is { IsInteger: true } ct ? ct.ToInt64s(_model.Directory).Select(v => (long?)v).ToList()
                    : node.Attributes.TryGetValue("value_ints", out var ints) ? ints.Ints.Select(v => (long?)v).ToList()
                    : node.Attributes.TryGetValue("value_int", out var one) && one.I is { } i ? [i] : null;
            case "Concat":
                var all = new List<long?>();
                foreach (var input in node.Inputs)
                {
                    // A dynamic size (Shape → Gather → Unsqueeze) is one unknown value.
                    var part = ConstantValues(input, depth + 1) ?? (_producers.TryGetValue(input, out var p) && p.OpType == "Unsqueeze" ? [null] : null);
                    if (part is null) return null;
                    all.AddRange(part);
                }
                return all;
            case "Unsqueeze" or "Squeeze" or "Cast" or "Identity":
                return ConstantValues(node.Inputs[0], depth + 1);
            default:
                return null;
        }
    }

    /// <summary>layer_norm_eps: LayerNormalization's epsilon, or the scalar added to the variance before Sqrt.</summary>
    private double InferEpsilon(Action<string>? log)
    {
        const string weight = "embeddings.LayerNorm.weight";
        var tensor = _placed[weight].Tensor;
        foreach (var node in Consumers(tensor.Name))
        {
            if (node.OpType == "LayerNormalization")
            {
                double eps = node.Attributes.TryGetValue("epsilon", out var a) && a.F is { } f ? double.Parse(f.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture) : 1e-5;
                log?.Invoke($"{_model.Source}: layer_norm_eps {eps:G3} (from {node}).");
                return eps;
            }
            // Decomposed: Mul(Div(x - mean, Sqrt(Add(var, eps))), weight).
            if (node.OpType == "Mul" && Producer(node.Inputs.First(i => i != tensor.Name)) is { OpType: "Div" } div
                && Producer(div.Inputs[1]) is { OpType: "Sqrt" } sqrt && Producer(sqrt.Inputs[0]) is { OpType: "Add" } add)
            {
                foreach (var input in add.Inputs)
                    if (ScalarFloat(input) is { } eps)
                    {
                        log?.Invoke($"{_model.Source}: layer_norm_eps {eps:G3} (from {add}).");
                        return eps;
                    }
            }
        }
        throw Error($"cannot find layer_norm_eps: {weight} is used neither by LayerNormalization nor by the Mul of a decomposed LayerNorm (Div by Sqrt of Add epsilon).");
    }

    /// <summary>hidden_act from the ops between the first intermediate dense layer and the next MatMul.</summary>
    private string InferActivation(Action<string>? log)
    {
        const string weight = "encoder.layer.0.intermediate.dense.weight";
        if (!_linearOutputs.TryGetValue(weight, out var linear))
            throw Error($"cannot find hidden_act: {weight} is not the weight of a MatMul/Gemm followed by its bias.");
        var seen = new HashSet<OnnxNode>();
        var queue = new Queue<(OnnxNode Node, int Depth)>(Consumers(linear.Outputs[0]).Select(n => (n, 0)));
        string? act = null;
        OnnxNode? evidence = null;
        while (queue.Count > 0 && act is null)
        {
            var (node, depth) = queue.Dequeue();
            if (!seen.Add(node) || node.OpType is "MatMul" or "Gemm" || depth > 8) continue;
            (act, evidence) = node.OpType switch
            {
                "Erf" => ("gelu", node),
                "Gelu" => (node.Attributes.TryGetValue("approximate", out var a) && a.S?.ToStringUtf8() == "tanh" ? "gelu_pytorch_tanh" : "gelu", node),
                "Tanh" => ("gelu_pytorch_tanh", node),
                "Relu" => ("relu", node),
                _ => (null, null),
            };
            foreach (var o in node.Outputs)
                foreach (var c in Consumers(o)) queue.Enqueue((c, depth + 1));
        }
        if (act is null)
            throw Error($"cannot find hidden_act: no Erf, Gelu, Tanh or Relu between {linear} and the next MatMul (supported: gelu, its tanh approximation, relu).");
        log?.Invoke($"{_model.Source}: hidden_act {act} (from {evidence}).");
        return act;
    }

    private OnnxNode? Producer(string value) => _producers.GetValueOrDefault(value);

    private double? ScalarFloat(string value)
    {
        var t = _initializers.GetValueOrDefault(value)
                ?? (Producer(value) is { OpType: "Constant" } c && c.Attributes.TryGetValue("value", out var a) ? a.T : null);
        // Read as float32 and printed back, so that 1e-12 stays 1e-12 rather than 9.99999996e-13.
        return t is { IsFloatingPoint: true, ElementCount: 1 } ? double.Parse(t.ToFloats(_model.Directory)[0].ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture) : null;
    }

}
