using System.Text.Json.Nodes;
using MLNetLlmClassifier.Checkpoints;
using MLNetLlmClassifier.Torch;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetLlmClassifier.Qwen3;

/// <summary>
/// Hugging Face's <c>Qwen3ForSequenceClassification</c> (transformers 4.57: <c>GenericForSequenceClassification</c> over
/// <c>Qwen3Model</c>): the Qwen3 backbone <see cref="model"/> shared with <see cref="Qwen3ForCausalLM"/>, and a linear head
/// <see cref="score"/> [num_labels, hidden_size] without bias on the final-norm hidden state of each row's last token.
/// State dict keys are those of the Hugging Face class: <c>model.embed_tokens.weight</c>, <c>model.layers.N.self_attn.q_proj.weight</c>,
/// …, <c>model.norm.weight</c>, <c>score.weight</c>.
/// </summary>
/// <remarks>
/// <para><b>Which token.</b> transformers computes the head's logits at every position and keeps, per row, those of the rightmost
/// token whose id is not <c>pad_token_id</c> (<c>(arange(T) * (input_ids != pad_token_id)).argmax(-1)</c>), so it handles right and
/// left padding; without a <c>pad_token_id</c> it takes the last position and refuses batches of more than one row. This class applies
/// the head to the chosen position only (the same numbers, without the [B,T,num_labels] product) and chooses it as follows:</para>
/// <list type="bullet">
/// <item>with an attention mask: the rightmost position whose mask is 1, i.e. the last real token of each row;</item>
/// <item>without one: transformers' rule above on the ids (or the last position for a single row when there is no <c>pad_token_id</c>;
/// several rows without either are an error naming config.json's <c>pad_token_id</c>).</item>
/// </list>
/// <para>The two agree except where a row's own last real tokens are the pad id itself (e.g. a text ending in
/// <c>&lt;|endoftext|&gt;</c> when that is the pad token): transformers then skips them and reads an earlier token, this class with a
/// mask reads the row's real last token. A pad id inside a text (not at its end) changes nothing in either. A row of nothing but pad ids
/// gives position 0 in transformers and the last masked-in position here (position 0 for a one-token row).</para>
/// <para>Positions are 0..len-1 for the real tokens of a right-padded row, as in transformers, so right-padded batches give each row the
/// logits it gets alone there.</para>
/// </remarks>
public sealed class Qwen3ForSequenceClassification : nn.Module<Tensor, Tensor?, Tensor>
{
    /// <summary>The architecture name written to config.json.</summary>
    public const string ArchitectureName = "Qwen3ForSequenceClassification";

    /// <summary>transformers' <c>problem_type</c> for one label per row (cross-entropy over the classes).</summary>
    public const string SingleLabelProblemType = "single_label_classification";

    public Qwen3Model model;
    public Linear score;

    /// <summary>
    /// The configuration (a copy): architectures <c>["Qwen3ForSequenceClassification"]</c>, <c>id2label</c>/<c>label2id</c> of
    /// <see cref="Labels"/>, <c>problem_type</c> single_label_classification, and the <c>pad_token_id</c> that marks padding.
    /// </summary>
    public Qwen3Config Config { get; }

    /// <summary>The class names, by class index (<c>id2label</c>).</summary>
    public IReadOnlyList<string> Labels { get; }

    /// <summary>Number of classes (rows of <see cref="score"/>).</summary>
    public int NumLabels => Labels.Count;

    /// <summary>Builds a model with Hugging Face's initialisation drawn from <paramref name="seed"/> (the backbone gets the same weights as a
    /// <see cref="Qwen3ForCausalLM"/> of a tied config with that seed; the head is drawn after it).</summary>
    /// <param name="config">The architecture and its labels (<see cref="LabelsOf"/>; transformers' default of 2 labels when it has none).</param>
    /// <param name="seed">Seed of the weight initialisation.</param>
    /// <param name="device">Where the parameters live (default CPU).</param>
    /// <param name="dtype">Parameter dtype: Float32 (default), BFloat16 or Float16.</param>
    public Qwen3ForSequenceClassification(Qwen3Config config, int seed, Device? device = null, ScalarType dtype = ScalarType.Float32)
        : this(config, device, dtype)
    {
        Qwen3Model.InitializeWeights(this, Config, seed);
    }

    // Leaves TorchSharp's default initialisation in place: for callers that load the parameters right after.
    private Qwen3ForSequenceClassification(Qwen3Config config, Device? device, ScalarType dtype) : base(nameof(Qwen3ForSequenceClassification))
    {
        config.Validate();
        _ = Qwen3Config.DtypeName(dtype);
        var labels = LabelsOf(config);
        if (device is null || device.type == DeviceType.CPU)
            Qwen3ForCausalLM.CheckFitsInMemory(WithoutLmHead(config), dtype, "Qwen3Config");
        Config = WithLabels(config, labels, config.PadTokenId);
        Labels = labels.ToArray();
        model = new Qwen3Model(Config, device, dtype);
        score = nn.Linear(Config.HiddenSize, labels.Count, hasBias: false, device: device, dtype: dtype);
        RegisterComponents();
    }

    /// <summary>The device of the parameters.</summary>
    public Device Device => model.embed_tokens.weight!.device;

    /// <summary>The dtype of the parameters.</summary>
    public ScalarType Dtype => model.embed_tokens.weight!.dtype;

    /// <summary>
    /// The labels of a configuration: its <c>id2label</c> (with <c>num_labels</c>, if present, agreeing), <c>num_labels</c> default
    /// names <c>LABEL_i</c>, or transformers' default of two labels.
    /// </summary>
    /// <exception cref="InvalidDataException">A malformed id2label or a disagreeing num_labels (the message names the field).</exception>
    public static IReadOnlyList<string> LabelsOf(Qwen3Config config, string source = "config.json")
    {
        ArgumentNullException.ThrowIfNull(config);
        int? numLabels = null;
        if (config.ExtraFields.TryGetValue("num_labels", out var n) && n is not null)
            numLabels = n is JsonValue v && v.TryGetValue<int>(out int k) && k is >= 1 and <= MaxLabels ? k
                : throw new InvalidDataException($"{source}: num_labels = {IO.UntrustedText.OneLine(n.ToJsonString(), 80)} must be a whole number from 1 to {MaxLabels}.");
        var labels = HfConfigLabels.Parse(config.ExtraFields.GetValueOrDefault("id2label"), numLabels, (field, problem) => new InvalidDataException($"{source}: {field} {problem}."));
        if (labels.Count is < 1 or > MaxLabels) throw new InvalidDataException($"{source}: id2label has {labels.Count} labels; 1 to {MaxLabels} are supported.");
        var repeated = labels.GroupBy(l => l, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (repeated is not null) throw new InvalidDataException($"{source}: id2label names '{IO.UntrustedText.OneLine(repeated.Key, 80)}' twice (label2id must map each label to one index).");
        return labels;
    }

    /// <summary>Most classes a head may have (far above any text classification task; a corrupt count fails here instead of sizing an allocation).</summary>
    internal const int MaxLabels = 1_000_000;

    /// <summary>
    /// A copy of <paramref name="config"/> as transformers' <c>save_pretrained</c> writes a <c>Qwen3ForSequenceClassification</c>:
    /// architectures <c>["Qwen3ForSequenceClassification"]</c>, <c>id2label</c>/<c>label2id</c> of <paramref name="labels"/>,
    /// <c>problem_type</c> "single_label_classification", <c>pad_token_id</c> = <paramref name="padTokenId"/> (no <c>num_labels</c>:
    /// transformers derives it from id2label).
    /// </summary>
    public static Qwen3Config WithLabels(Qwen3Config config, IReadOnlyList<string> labels, int? padTokenId)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(labels);
        if (labels.Count == 0) throw new ArgumentException("A classification head needs at least one label.", nameof(labels));
        var copy = config.Clone();
        copy.Architectures = [ArchitectureName];
        copy.PadTokenId = padTokenId;
        copy.ExtraFields.Remove("num_labels");
        copy.ExtraFields["id2label"] = HfConfigLabels.Id2Label(labels);
        copy.ExtraFields["label2id"] = HfConfigLabels.Label2Id(labels);
        copy.ExtraFields["problem_type"] = SingleLabelProblemType;
        copy.Validate();
        _ = LabelsOf(copy);
        return copy;
    }

    // The sequence classifier has no LM head, tied or not: size checks count the embedding once.
    private static Qwen3Config WithoutLmHead(Qwen3Config config)
    {
        var c = config.Clone();
        c.TieWordEmbeddings = true;
        return c;
    }

    /// <summary>Final-norm hidden states [B,T,D] (see <see cref="Qwen3ForCausalLM.HiddenStates"/>).</summary>
    public Tensor HiddenStates(Tensor inputIds, Tensor? attentionMask = null) => model.HiddenStates(inputIds, attentionMask);

    /// <summary>
    /// The position whose hidden state each row is classified by, [B] int64 (see the class remarks): with <paramref name="attentionMask"/>
    /// the rightmost position whose mask is 1; without, transformers' rule on <paramref name="inputIds"/> (the rightmost id that is not
    /// <c>pad_token_id</c>), or the last position of a single row when the config has no <c>pad_token_id</c>.
    /// </summary>
    /// <exception cref="ArgumentException">Several rows, no attention mask and no <c>pad_token_id</c> in the config.</exception>
    public Tensor LastTokenPositions(Tensor inputIds, Tensor? attentionMask = null)
    {
        using var scope = NewDisposeScope();
        if (inputIds.dim() != 2) throw new ArgumentException($"inputIds must be [batch, time], got [{string.Join(", ", inputIds.shape)}].", nameof(inputIds));
        long b = inputIds.shape[0], t = inputIds.shape[1];
        var device = Device;
        var index = torch.arange(t, dtype: ScalarType.Int64, device: device);
        Tensor keep;
        if (attentionMask is not null)
        {
            if (!attentionMask.shape.SequenceEqual(inputIds.shape))
                throw new ArgumentException($"attentionMask shape [{string.Join(", ", attentionMask.shape)}] differs from inputIds shape [{string.Join(", ", inputIds.shape)}].", nameof(attentionMask));
            keep = attentionMask.to(device).ne(0);
        }
        else if (Config.PadTokenId is int pad)
        {
            keep = inputIds.to(device).ne(pad);
        }
        else if (b == 1)
        {
            return torch.full(1, t - 1, dtype: ScalarType.Int64, device: device).MoveToOuterDisposeScope();
        }
        else
        {
            throw new ArgumentException(
                $"{ArchitectureName}: config.json has no pad_token_id, so the last real token of each of the {b} rows cannot be told from padding " +
                "(transformers refuses such batches too): set pad_token_id in config.json (Qwen3's pad token <|endoftext|> is 151643) or pass an attention mask.",
                nameof(inputIds));
        }
        return (index * keep.to(ScalarType.Int64)).argmax(-1).MoveToOuterDisposeScope();
    }

    /// <summary>Class logits [B, num_labels] in the model's dtype, read at each row's <see cref="LastTokenPositions"/>.</summary>
    /// <param name="inputIds">[B,T] token ids (int64 or int32).</param>
    /// <param name="attentionMask">[B,T], 1 on real tokens and 0 on padding, or null (then <c>pad_token_id</c> marks padding).</param>
    public override Tensor forward(Tensor inputIds, Tensor? attentionMask)
    {
        using var scope = NewDisposeScope();
        var last = LastTokenPositions(inputIds, attentionMask);                        // [B]
        var hidden = HiddenStates(inputIds, attentionMask);                            // [B,T,D]
        long b = hidden.shape[0], d = hidden.shape[2];
        var pooled = hidden.gather(1, last.view(b, 1, 1).expand(b, 1, d)).squeeze(1); // [B,D]
        using var phase = StepProfiler.Measure("classification head");
        return score.call(pooled).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Loads a Hugging Face Qwen3 folder: a <c>Qwen3ForSequenceClassification</c> checkpoint (<c>score.weight</c> loaded) or a plain
    /// <c>Qwen3ForCausalLM</c> one (its <c>lm_head.weight</c>, if any, unused; <c>score.weight</c> newly initialised from
    /// N(0, initializer_range) with <paramref name="seed"/>, reported in one line through <paramref name="log"/>, as transformers'
    /// "Some weights … are newly initialized"). Every backbone tensor must be present with its shape.
    /// </summary>
    /// <param name="folder">The model folder.</param>
    /// <param name="device">Where the model lives.</param>
    /// <param name="dtype">Parameter dtype, whatever the stored one.</param>
    /// <param name="labels">The classes of the head, or null for the folder's id2label. A stored head of another size is replaced by a new one.</param>
    /// <param name="padTokenId">The pad id when config.json has none (null: leave it unset).</param>
    /// <param name="seed">Seed of a newly initialised head.</param>
    /// <param name="log">Receives one-line notes (optional).</param>
    /// <returns>The model, in eval mode.</returns>
    /// <exception cref="InvalidDataException">config.json is invalid or describes an unsupported model.</exception>
    /// <exception cref="CheckpointMismatchException">Missing, unexpected or mis-shaped backbone tensors.</exception>
    public static Qwen3ForSequenceClassification FromPretrained(string folder, Device device, ScalarType dtype,
        IReadOnlyList<string>? labels = null, int? padTokenId = null, int seed = 0, Action<string>? log = null)
    {
        string configPath = Path.Combine(folder, HfModelFolder.ConfigFileName);
        var stored = Qwen3Config.FromJson(HfModelFolder.ReadConfig(folder), configPath);
        var storedLabels = LabelsOf(stored, configPath);
        var config = WithLabels(stored, labels ?? storedLabels, stored.PadTokenId ?? padTokenId);
        var sizes = WithoutLmHead(config);
        using var weights = HfModelFolder.OpenWeights(folder);
        ModelSizeGuard.CheckAgainstCheckpoint(configPath, weights, sizes.ImpliedTensors(), "num_hidden_layers", config.NumHiddenLayers,
            sizes.SizeTerms(), dtype == ScalarType.Float32 ? 4 : 2);
        log?.Invoke($"{ArchitectureName}: building {config} with {config.ExtraFields["id2label"]!.AsObject().Count} labels in {Qwen3Config.DtypeName(dtype)} on {device}");
        var net = new Qwen3ForSequenceClassification(config, device, dtype);
        try
        {
            net.InitializeScore(seed);
            var report = StateDictLoader.Load(net, weights, new StateDictLoadOptions
            {
                IgnoreUnexpected = ["lm_head."],
                AllowMissing = ["score."],
                ReinitializeOnShapeMismatch = ["score."],
            });
            if (log is not null)
            {
                if (report.MissingKeptInitialized.Count > 0)
                    log($"{folder}: some weights of {ArchitectureName} are not in the checkpoint and are newly initialised (seed {seed}): " +
                        $"{string.Join(", ", report.MissingKeptInitialized)}; they are trained with the rest of the model.");
                foreach (var m in report.Reinitialized)
                    log($"{folder}: {m.ModelKey} has another shape in the checkpoint ({SafeTensorInfo.ShapeToText(m.Found)}, model {SafeTensorInfo.ShapeToText(m.Expected)}): reinitialised (seed {seed}).");
                if (report.IgnoredUnexpected.Count > 0)
                    log($"{folder}: ignored {string.Join(", ", report.IgnoredUnexpected)} (the causal LM head; the classifier does not use it).");
            }
            net.eval();
            return net;
        }
        catch
        {
            net.Dispose();
            throw;
        }
    }

    // HF _init_weights for the head: N(0, initializer_range), drawn in float32 on the CPU from its own generator.
    private void InitializeScore(int seed)
    {
        using var noGrad = torch.no_grad();
        using var generator = new Generator((ulong)seed);
        using var values = torch.empty(score.weight!.shape, dtype: ScalarType.Float32).normal_(0.0, Config.InitializerRange, generator);
        score.weight!.copy_(values);
    }

    /// <summary>
    /// Writes a folder that transformers' <c>AutoModelForSequenceClassification.from_pretrained</c> loads: <c>model.safetensors</c>
    /// (Hugging Face key names, the parameters' dtype) then <c>config.json</c> (<see cref="Config"/> with <c>torch_dtype</c> set to that
    /// dtype). Each file is written atomically. Tokenizer files are not written: copy them yourself.
    /// </summary>
    public void SaveToFolder(string folder) => Qwen3ForCausalLM.SaveFolder(this, Config, Dtype, folder);
}
