using MLNetLlmClassifier.Checkpoints;
using MLNetLlmClassifier.Torch;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace MLNetLlmClassifier.Bert;

// A port of Hugging Face transformers' BertForSequenceClassification (modeling_bert.py): a post-LayerNorm
// transformer encoder with learned absolute positions, a tanh "pooler" over the [CLS] token and a linear
// classifier. Module field names are the checkpoint keys, so a folder saved by transformers loads as is:
//
//   bert.embeddings.{word_embeddings, position_embeddings, token_type_embeddings, LayerNorm}
//   bert.encoder.layer.N.attention.self.{query, key, value}
//   bert.encoder.layer.N.attention.output.{dense, LayerNorm}
//   bert.encoder.layer.N.intermediate.dense
//   bert.encoder.layer.N.output.{dense, LayerNorm}
//   bert.pooler.dense
//   classifier
//
// HF's "position_ids"/"token_type_ids" buffers are not stored (they are non-persistent there too):
// positions are 0..T-1 and token types default to zeros, built on the fly.

/// <summary>The outputs of <see cref="BertForSequenceClassification"/>; disposing it disposes all three tensors.</summary>
/// <param name="Logits">[B, num_labels] classifier scores (before softmax).</param>
/// <param name="PooledOutput">[B, hidden]: tanh(dense(hidden state of [CLS])), the classifier's input.</param>
/// <param name="LastHiddenState">[B, T, hidden]: the encoder output at every position.</param>
public sealed record BertClassifierOutput(Tensor Logits, Tensor PooledOutput, Tensor LastHiddenState) : IDisposable
{
    /// <summary>Disposes the three tensors.</summary>
    public void Dispose()
    {
        Logits.Dispose();
        PooledOutput.Dispose();
        LastHiddenState.Dispose();
    }
}

/// <summary>
/// BERT encoder + pooler + linear classification head, with Hugging Face semantics and weight names.
/// Forward: <c>input_ids</c> [B, T] int64, <c>attention_mask</c> [B, T] (1/true = real token, 0 = padding;
/// null = all real), <c>token_type_ids</c> [B, T] (null = all segment 0).
/// </summary>
public sealed class BertForSequenceClassification : nn.Module<Tensor, Tensor?, Tensor?, BertClassifierOutput>
{
    private readonly BertModel bert;
    private readonly Dropout dropout;
    private readonly Linear classifier;

    /// <summary>
    /// Builds the model on the CPU with Hugging Face's initialisation, drawn from a generator seeded with
    /// <paramref name="seed"/>: Linear and Embedding weights ~ N(0, initializer_range), biases 0,
    /// LayerNorm weight 1 and bias 0, the word embedding's padding row 0.
    /// </summary>
    /// <param name="config">The architecture; validated.</param>
    /// <param name="numLabels">Classes of the head. If it differs from <c>config.NumLabels</c>, the labels become LABEL_0...</param>
    /// <param name="seed">Seed of the initialisation.</param>
    public BertForSequenceClassification(BertConfig config, int numLabels, long seed) : base(nameof(BertForSequenceClassification))
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentOutOfRangeException.ThrowIfLessThan(numLabels, 1);
        config.Validate();
        ModelSizeGuard.CheckFitsInMemory("BertConfig", config.SizeTerms(numLabels), sizeof(float), "float32");
        Config = config.NumLabels == numLabels ? config.Clone() : config.WithNumLabels(numLabels);
        bert = new BertModel(Config);
        dropout = nn.Dropout(Config.EffectiveClassifierDropout);
        classifier = nn.Linear(Config.HiddenSize, numLabels);
        RegisterComponents();
        InitWeights(seed);
    }

    /// <summary>The configuration (a copy; its labels match <see cref="NumLabels"/>).</summary>
    public BertConfig Config { get; }

    /// <summary>Number of classes of the head.</summary>
    public int NumLabels => Config.NumLabels;

    /// <summary>Runs the model; see the class summary for the inputs.</summary>
    /// <exception cref="ArgumentException">Wrong rank, dtype, shape, token id or sequence length, naming the input.</exception>
    public override BertClassifierOutput forward(Tensor input_ids, Tensor? attention_mask, Tensor? token_type_ids)
    {
        using var scope = NewDisposeScope();
        var (lastHiddenState, pooledOutput) = bert.call(input_ids, attention_mask, token_type_ids);
        var logits = classifier.call(dropout.call(pooledOutput));
        return new BertClassifierOutput(logits.MoveToOuterDisposeScope(), pooledOutput.MoveToOuterDisposeScope(), lastHiddenState.MoveToOuterDisposeScope());
    }

    /// <summary>The load rules for Hugging Face BERT checkpoints, used by <see cref="FromPretrained"/>.</summary>
    /// <remarks>
    /// Keys may come with the <c>bert.</c> prefix (BertFor* classes) or without (a bare BertModel). Old
    /// TensorFlow-converted checkpoints name LayerNorm parameters gamma/beta (transformers renames them too).
    /// Pre-training heads (<c>cls.</c>) and position/token-type id buffers are ignored. The classifier may be
    /// missing (a fresh head for fine-tuning) or of another size (another label count); then it keeps its
    /// initialisation. The pooler may be missing too (checkpoints saved without a pooling layer): transformers
    /// then also leaves it randomly initialised, with a warning; <see cref="FromPretrained"/> logs a note.
    /// </remarks>
    public static StateDictLoadOptions HuggingFaceLoadOptions() => new()
    {
        KeyPrefixes = ["bert."],
        CheckpointSuffixRenames = [("LayerNorm.gamma", "LayerNorm.weight"), ("LayerNorm.beta", "LayerNorm.bias")],
        IgnoreUnexpected = ["cls.", "*embeddings.position_ids", "*embeddings.token_type_ids"],
        AllowMissing = ["classifier.", "bert.pooler."],
        ReinitializeOnShapeMismatch = ["classifier."],
    };

    /// <summary>
    /// Loads a Hugging Face BERT folder (config.json + model.safetensors or shards), strictly
    /// (see <see cref="HuggingFaceLoadOptions"/>), moves it to <paramref name="device"/> and sets eval mode.
    /// </summary>
    /// <param name="folder">The model folder.</param>
    /// <param name="numLabels">Classes of the head; a checkpoint head of another size is replaced by a fresh one.</param>
    /// <param name="device">Where the model runs.</param>
    /// <param name="log">Receives notes: fresh or reinitialised head, missing pooler, ignored tensors.</param>
    /// <param name="seed">Seed of the initialisation of whatever the checkpoint does not provide (a fresh head).</param>
    /// <exception cref="CheckpointMismatchException">The weights do not fit the config.</exception>
    public static BertForSequenceClassification FromPretrained(string folder, int numLabels, Device device, Action<string>? log = null, long seed = 0)
    {
        ArgumentNullException.ThrowIfNull(device);
        var config = BertConfig.Load(folder);
        string configPath = Path.Combine(Path.GetFullPath(folder), HfModelFolder.ConfigFileName);
        if (config.NumLabels != numLabels)
            log?.Invoke($"{folder}: config.json has {config.NumLabels} labels, the model is built with {numLabels} (labels LABEL_0..LABEL_{numLabels - 1}).");
        // The config's sizes are checked against the checkpoint's headers and the memory before anything is allocated.
        using var weights = HfModelFolder.OpenWeights(folder);
        ModelSizeGuard.CheckAgainstCheckpoint(configPath, weights, config.ImpliedTensors(), "num_hidden_layers", config.NumHiddenLayers,
            config.SizeTerms(numLabels), sizeof(float));
        ModelSizeGuard.CheckFitsInMemory(configPath, config.SizeTerms(numLabels), sizeof(float), "float32");
        var model = new BertForSequenceClassification(config, numLabels, seed);
        try
        {
            var report = StateDictLoader.Load(model, weights, HuggingFaceLoadOptions());
            if (log is not null) LogReport(folder, report, seed, log);
            model.to(device);
            model.eval();
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Saves a standard Hugging Face folder that transformers' <c>from_pretrained</c> loads: config.json
    /// (from <paramref name="config"/>, with its id2label/label2id, architectures BertForSequenceClassification)
    /// and model.safetensors with HF key names. Both files are written atomically.
    /// </summary>
    /// <param name="folder">Created if needed.</param>
    /// <param name="config">The config to write; it must describe this model (same shapes and label count).</param>
    /// <exception cref="ArgumentException">The config does not describe this model.</exception>
    public void SaveToFolder(string folder, BertConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        string? difference = Config.ArchitectureDifference(config);
        if (difference is not null)
            throw new ArgumentException($"The config does not describe this model: {difference}.", nameof(config));
        if (config.NumLabels != NumLabels)
            throw new ArgumentException($"The config has {config.NumLabels} labels but the model's head has {NumLabels}.", nameof(config));
        var json = config.ToJson();
        json["architectures"] = new System.Text.Json.Nodes.JsonArray(nameof(BertForSequenceClassification));
        HfModelFolder.SaveWeights(folder, StateDictLoader.Export(this));
        HfModelFolder.WriteJson(Path.Combine(folder, HfModelFolder.ConfigFileName), json);
    }

    /// <summary>Saves with this model's own <see cref="Config"/>.</summary>
    public void SaveToFolder(string folder) => SaveToFolder(folder, Config);

    /// <summary>
    /// Writes config.json + model.safetensors of a randomly initialised model (HF init, <paramref name="seed"/>),
    /// with <c>config.NumLabels</c> classes. The caller adds the tokenizer files.
    /// </summary>
    public static void CreateRandomCheckpoint(BertConfig config, string outFolder, int seed)
    {
        using var model = new BertForSequenceClassification(config, config.NumLabels, seed);
        model.SaveToFolder(outFolder, config);
    }

    private static void LogReport(string folder, StateDictLoadReport report, long seed, Action<string> log)
    {
        // One line for everything the checkpoint lacked, as transformers' "Some weights of ... are newly initialized: [...]".
        if (report.MissingKeptInitialized.Count > 0)
            log($"{folder}: some weights of {nameof(BertForSequenceClassification)} are not in the checkpoint and are newly initialised (seed {seed}): " +
                $"{string.Join(", ", report.MissingKeptInitialized)}; they are trained with the rest of the model" +
                (report.MissingKeptInitialized.Any(k => k.StartsWith("bert.pooler.", StringComparison.Ordinal)) ? " (a checkpoint saved without its pooling layer)." : "."));
        foreach (var m in report.Reinitialized)
            log($"{folder}: {m.ModelKey} has another shape in the checkpoint ({SafeTensorInfo.ShapeToText(m.Found)}, model {SafeTensorInfo.ShapeToText(m.Expected)}): reinitialised (seed {seed}).");
        if (report.IgnoredUnexpected.Count > 0)
            log($"{folder}: ignored {report.IgnoredUnexpected.Count} checkpoint tensors the classifier does not use (e.g. {report.IgnoredUnexpected[0]}).");
    }

    /// <summary>Hugging Face's BertPreTrainedModel._init_weights, with an explicit generator.</summary>
    private void InitWeights(long seed)
    {
        using var noGrad = no_grad();
        using var generator = new Generator(unchecked((ulong)seed));
        double std = Config.InitializerRange;
        // Sorted by name so the random stream does not depend on reflection order. Tensor.normal_ is used because
        // TorchSharp 0.107's nn.init.normal_ ignores its generator argument (not reproducible).
        foreach (var (name, module) in named_modules().OrderBy(m => m.name, StringComparer.Ordinal))
        {
            switch (module)
            {
                case Linear linear:
                    linear.weight!.normal_(0, std, generator);
                    if (linear.bias is { } bias) nn.init.zeros_(bias);
                    break;
                case Embedding embedding:
                    embedding.weight!.normal_(0, std, generator);
                    if (name == "bert.embeddings.word_embeddings" && Config.PadTokenId is { } pad)
                        embedding.weight![pad].zero_();
                    break;
                case TorchSharp.Modules.LayerNorm norm:
                    nn.init.ones_(norm.weight!);
                    nn.init.zeros_(norm.bias!);
                    break;
            }
        }
    }

    /// <summary>The feed-forward activation named by config.json's <c>hidden_act</c>.</summary>
    internal static Func<Tensor, Tensor> Activation(string hiddenAct) => hiddenAct switch
    {
        "gelu" => x => F.gelu(x),                                                       // exact: x * Φ(x), with erf
        "gelu_new" or "gelu_pytorch_tanh" => x => F.gelu(x, GELU.Approximate.tanh),     // both the tanh formula
        "relu" => x => F.relu(x),
        _ => throw new ArgumentException($"hidden_act '{hiddenAct}' is not supported (use gelu, gelu_new, gelu_pytorch_tanh or relu)."),
    };

    /// <summary>Embeddings + encoder + pooler; returns (last hidden state, pooled output).</summary>
    private sealed class BertModel : nn.Module<Tensor, Tensor?, Tensor?, (Tensor, Tensor)>
    {
        private readonly BertEmbeddings embeddings;
        private readonly BertEncoder encoder;
        private readonly BertPooler pooler;
        private readonly BertConfig _config;

        internal BertModel(BertConfig config) : base(nameof(BertModel))
        {
            _config = config;
            embeddings = new BertEmbeddings(config);
            encoder = new BertEncoder(config);
            pooler = new BertPooler(config);
            RegisterComponents();
        }

        public override (Tensor, Tensor) forward(Tensor input_ids, Tensor? attention_mask, Tensor? token_type_ids)
        {
            CheckInputs(input_ids, attention_mask, token_type_ids);
            using var scope = NewDisposeScope();
            var hidden = embeddings.call(input_ids, token_type_ids);
            // Key-padding mask, added to the attention scores: 0 where the key is a real token, the dtype's
            // lowest value where it is padding (HF's extended attention mask). Shape [B, 1, 1, T] broadcasts over
            // heads and query positions. Padded query rows still attend to real keys, so nothing becomes NaN,
            // and real rows see exactly the same keys as the sequence alone.
            Tensor? additiveMask = null;
            if (attention_mask is not null)
            {
                var keep = attention_mask.dtype == ScalarType.Bool ? attention_mask : attention_mask.ne(0);
                additiveMask = zeros(keep.shape, hidden.dtype, hidden.device)
                    .masked_fill(keep.logical_not(), finfo(hidden.dtype).min)
                    .view(keep.shape[0], 1, 1, keep.shape[1]);
            }
            var lastHiddenState = encoder.call(hidden, additiveMask);
            return (lastHiddenState.MoveToOuterDisposeScope(), pooler.call(lastHiddenState).MoveToOuterDisposeScope());
        }

        private void CheckInputs(Tensor input_ids, Tensor? attention_mask, Tensor? token_type_ids)
        {
            if (input_ids.dim() != 2 || input_ids.dtype is not (ScalarType.Int64 or ScalarType.Int32))
                throw new ArgumentException($"input_ids must be a [batch, length] int64 tensor, got {input_ids.dtype} {SafeTensorInfo.ShapeToText(input_ids.shape)}.", nameof(input_ids));
            long length = input_ids.shape[1];
            if (length > _config.MaxPositionEmbeddings)
                throw new ArgumentException($"input_ids has length {length}, longer than max_position_embeddings = {_config.MaxPositionEmbeddings}: truncate the input.", nameof(input_ids));
            CheckRange(input_ids, _config.VocabSize, "input_ids", "vocab_size");
            foreach (var (tensor, name) in new[] { (attention_mask, nameof(attention_mask)), (token_type_ids, nameof(token_type_ids)) })
                if (tensor is not null && !tensor.shape.SequenceEqual(input_ids.shape))
                    throw new ArgumentException($"{name} has shape {SafeTensorInfo.ShapeToText(tensor.shape)}, input_ids {SafeTensorInfo.ShapeToText(input_ids.shape)}: they must match.", name);
            if (token_type_ids is not null)
                CheckRange(token_type_ids, _config.TypeVocabSize, "token_type_ids", "type_vocab_size");
        }

        /// <summary>Ids out of range would fail deep inside the embedding (on CUDA as a device-side assert): check up front.</summary>
        private static void CheckRange(Tensor ids, long size, string name, string field)
        {
            if (ids.numel() == 0) return;
            using var scope = NewDisposeScope();
            if (!ids.lt(0).logical_or(ids.ge(size)).any().item<bool>()) return; // one device sync
            long min = ids.min().item<long>(), max = ids.max().item<long>();
            throw new ArgumentException($"{name} holds values in [{min}, {max}] but {field} = {size}: every id must be in [0, {size}).", name);
        }
    }

    /// <summary>word + token type + position embeddings, then LayerNorm and dropout.</summary>
    private sealed class BertEmbeddings : nn.Module<Tensor, Tensor?, Tensor>
    {
        private readonly Embedding word_embeddings;
        private readonly Embedding position_embeddings;
        private readonly Embedding token_type_embeddings;
        private readonly TorchSharp.Modules.LayerNorm LayerNorm; // HF's capitalised name (from the TF checkpoints)
        private readonly Dropout dropout;

        internal BertEmbeddings(BertConfig c) : base(nameof(BertEmbeddings))
        {
            word_embeddings = nn.Embedding(c.VocabSize, c.HiddenSize, padding_idx: c.PadTokenId);
            position_embeddings = nn.Embedding(c.MaxPositionEmbeddings, c.HiddenSize);
            token_type_embeddings = nn.Embedding(c.TypeVocabSize, c.HiddenSize);
            LayerNorm = nn.LayerNorm(c.HiddenSize, c.LayerNormEps);
            dropout = nn.Dropout(c.HiddenDropoutProb);
            RegisterComponents();
        }

        public override Tensor forward(Tensor input_ids, Tensor? token_type_ids)
        {
            using var phase = StepProfiler.Measure("embedding (+ LayerNorm)");
            using var scope = NewDisposeScope();
            var positions = arange(input_ids.shape[1], ScalarType.Int64, input_ids.device).unsqueeze(0);
            token_type_ids ??= zeros_like(input_ids);
            // Same summation order as HF: (words + token types) + positions.
            var x = word_embeddings.call(input_ids) + token_type_embeddings.call(token_type_ids);
            x = x + position_embeddings.call(positions);
            return dropout.call(LayerNorm.call(x)).MoveToOuterDisposeScope();
        }
    }

    private sealed class BertEncoder : nn.Module<Tensor, Tensor?, Tensor>, ICheckpointableModule
    {
        private readonly ModuleList<BertLayer> layer;
        private readonly bool _dropout;

        internal BertEncoder(BertConfig c) : base(nameof(BertEncoder))
        {
            layer = nn.ModuleList(Enumerable.Range(0, c.NumHiddenLayers).Select(_ => new BertLayer(c)).ToArray());
            _dropout = c.HiddenDropoutProb > 0 || c.AttentionProbsDropoutProb > 0;
            RegisterComponents();
        }

        public bool GradientCheckpointing { get; set; }

        public override Tensor forward(Tensor hidden, Tensor? additiveMask)
        {
            // Each layer disposes its own intermediates; only the hidden states between layers live until the caller's scope ends.
            // With checkpointing (training with gradients only) not even those: each layer is recomputed in backward from its input.
            bool checkpoint = GradientCheckpointing && training && is_grad_enabled();
            foreach (var l in layer)
                hidden = checkpoint ? ActivationCheckpoint.Run(l, (x, c) => l.call(x, c[0]), hidden, _dropout, additiveMask) : l.call(hidden, additiveMask);
            return hidden;
        }
    }

    /// <summary>Post-LN transformer block: x = LN(x + attn(x)); x = LN(x + ffn(x)).</summary>
    private sealed class BertLayer : nn.Module<Tensor, Tensor?, Tensor>
    {
        private readonly BertAttention attention;
        private readonly BertIntermediate intermediate;
        private readonly BertOutput output;

        internal BertLayer(BertConfig c) : base(nameof(BertLayer))
        {
            attention = new BertAttention(c);
            intermediate = new BertIntermediate(c);
            output = new BertOutput(c.IntermediateSize, c);
            RegisterComponents();
        }

        public override Tensor forward(Tensor hidden, Tensor? additiveMask)
        {
            using var scope = NewDisposeScope();
            var attended = attention.call(hidden, additiveMask);
            return output.call(intermediate.call(attended), attended).MoveToOuterDisposeScope();
        }
    }

    private sealed class BertAttention : nn.Module<Tensor, Tensor?, Tensor>
    {
        private readonly BertSelfAttention @self; // checkpoint key "attention.self"
        private readonly BertOutput output;        // HF's BertSelfOutput: same structure as BertOutput

        internal BertAttention(BertConfig c) : base(nameof(BertAttention))
        {
            @self = new BertSelfAttention(c);
            output = new BertOutput(c.HiddenSize, c);
            RegisterComponents();
        }

        public override Tensor forward(Tensor hidden, Tensor? additiveMask) =>
            output.call(@self.call(hidden, additiveMask), hidden);
    }

    /// <summary>Multi-head scaled dot-product attention (scale 1/sqrt(head_dim)), no output projection (that is in BertOutput).</summary>
    private sealed class BertSelfAttention : nn.Module<Tensor, Tensor?, Tensor>
    {
        private readonly Linear query;
        private readonly Linear key;
        private readonly Linear value;
        private readonly int _heads;
        private readonly int _headDim;
        private readonly double _dropout;

        internal BertSelfAttention(BertConfig c) : base(nameof(BertSelfAttention))
        {
            query = nn.Linear(c.HiddenSize, c.HiddenSize);
            key = nn.Linear(c.HiddenSize, c.HiddenSize);
            value = nn.Linear(c.HiddenSize, c.HiddenSize);
            _heads = c.NumAttentionHeads;
            _headDim = c.HeadDim;
            _dropout = c.AttentionProbsDropoutProb;
            RegisterComponents();
        }

        public override Tensor forward(Tensor hidden, Tensor? additiveMask)
        {
            using var phase = StepProfiler.Measure("attention (q/k/v projections, SDPA)");
            using var scope = NewDisposeScope();
            long batch = hidden.shape[0], length = hidden.shape[1];
            // [B, T, hidden] -> [B, heads, T, head_dim]
            Tensor Heads(Linear projection) => projection.call(hidden).view(batch, length, _heads, _headDim).transpose(1, 2);
            var context = F.scaled_dot_product_attention(Heads(query), Heads(key), Heads(value), additiveMask, training ? _dropout : 0.0);
            return context.transpose(1, 2).reshape(batch, length, _heads * _headDim).MoveToOuterDisposeScope();
        }
    }

    /// <summary>HF's BertIntermediate: dense to intermediate_size, then the activation.</summary>
    private sealed class BertIntermediate : nn.Module<Tensor, Tensor>
    {
        private readonly Linear dense;
        private readonly Func<Tensor, Tensor> _activation;

        internal BertIntermediate(BertConfig c) : base(nameof(BertIntermediate))
        {
            dense = nn.Linear(c.HiddenSize, c.IntermediateSize);
            _activation = Activation(c.HiddenAct);
            RegisterComponents();
        }

        public override Tensor forward(Tensor hidden)
        {
            using var phase = StepProfiler.Measure("mlp (intermediate dense, activation)");
            using var scope = NewDisposeScope();
            return _activation(dense.call(hidden)).MoveToOuterDisposeScope();
        }
    }

    /// <summary>dense, dropout, then LayerNorm of (result + residual). HF's BertOutput and BertSelfOutput.</summary>
    private sealed class BertOutput : nn.Module<Tensor, Tensor, Tensor>
    {
        private readonly Linear dense;
        private readonly TorchSharp.Modules.LayerNorm LayerNorm;
        private readonly Dropout dropout;

        internal BertOutput(int inputSize, BertConfig c) : base(nameof(BertOutput))
        {
            dense = nn.Linear(inputSize, c.HiddenSize);
            LayerNorm = nn.LayerNorm(c.HiddenSize, c.LayerNormEps);
            dropout = nn.Dropout(c.HiddenDropoutProb);
            RegisterComponents();
        }

        public override Tensor forward(Tensor hidden, Tensor residual)
        {
            using var phase = StepProfiler.Measure("output dense + residual LayerNorm");
            using var scope = NewDisposeScope();
            return LayerNorm.call(dropout.call(dense.call(hidden)) + residual).MoveToOuterDisposeScope();
        }
    }

    /// <summary>tanh(dense(hidden state of the first token, [CLS])).</summary>
    private sealed class BertPooler : nn.Module<Tensor, Tensor>
    {
        private readonly Linear dense;

        internal BertPooler(BertConfig c) : base(nameof(BertPooler))
        {
            dense = nn.Linear(c.HiddenSize, c.HiddenSize);
            RegisterComponents();
        }

        public override Tensor forward(Tensor hidden)
        {
            using var phase = StepProfiler.Measure("pooler + classifier");
            using var scope = NewDisposeScope();
            return F.tanh(dense.call(hidden.select(1, 0))).MoveToOuterDisposeScope();
        }
    }
}
