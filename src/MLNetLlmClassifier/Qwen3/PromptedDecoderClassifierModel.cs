using System.Text.Json.Nodes;
using MLNetLlmClassifier.Families;
using MLNetLlmClassifier.MLNet;
using MLNetLlmClassifier.Text;
using MLNetLlmClassifier.Torch;
using MLNetLlmClassifier.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetLlmClassifier.Qwen3;

/// <summary>
/// A Qwen3 causal LM as a classifier for the shared loop: each row becomes a multiple-choice prompt (<see cref="ChoicePrompt"/>),
/// training is supervised fine-tuning on the answer tokens only, and a class's score is its answer's likelihood at the answer
/// position, read in one forward pass without generation.
/// </summary>
/// <remarks>
/// <para><b>Batches</b> are right-padded to the longest row, with the attention mask and each row's real length; the answer
/// position of a row is its own last prompt token, so a padded batch scores each row as it would be scored alone.</para>
/// <para><b>Loss</b> of a row with class c: the mean of the cross-entropies, over the whole vocabulary, of the answer tokens
/// (c's marker tokens, then <c>&lt;|im_end|&gt;</c>) given the prompt and the answer so far; prompt tokens carry no loss. Logits are
/// computed only at the answer positions (<see cref="Qwen3ForCausalLM.LogitsAt"/>). The batch loss is the mean over rows, weighted by
/// the class weights when given (Σ wᵢ·lossᵢ / Σ wᵢ, as PyTorch's weighted cross-entropy). With <see cref="AnswerLoss.Options"/> the loss is instead a C-way
/// cross-entropy over the options' first-token logits at the answer position (the scores classification reads). Label smoothing ε replaces the target of
/// the first answer token (the token that decides the class) by (1 − ε)·one-hot + ε/C on each of the C option tokens: it is
/// spread over the options, not over the vocabulary, as a C-class classifier would.</para>
/// <para><b>Scores</b>: log-probabilities of the options renormalised over the options. With single-token markers that is the
/// softmax over the option tokens' logits at the answer position (only those C rows of the LM head are multiplied). With
/// multi-token markers, an option's log-likelihood is the sum of its tokens' log-probabilities under teacher forcing: one extra
/// row per (input row, multi-token option) holds prompt + the marker's first tokens, so scoring costs up to 1 + C forward passes
/// per row instead of 1.</para>
/// <para><b>Shared prefix</b> (<see cref="PromptedDecoderClassifierTrainer.Options.ReusePromptPrefix"/>, on by default): the tokens all
/// rows of a batch start with (the chat header and the instruction before the text) run once, for one row, and the rows run only
/// their own tokens, attending to the prefix's keys and values (<see cref="Qwen3ForCausalLM.HiddenStatesAfter"/>); hidden states and
/// answer positions are then offset by the prefix length. Once the weights are final (<see cref="WeightsFinal"/>) the prompt's own
/// beginning is computed once and kept across scoring calls (<see cref="PromptPrefixCache"/>), so one-row scoring gains too.</para>
/// </remarks>
internal sealed class PromptedDecoderClassifierModel : ITrainableClassifier
{

    private readonly Qwen3ForCausalLM _net;
    private readonly Qwen3Tokenizer _tokenizer;
    private readonly string _tokenizerFolder;
    private readonly string[] _classNames;
    private readonly Tensor _firstTokens;   // [C] int64 on the device
    private readonly AnswerLoss _answerLoss;
    private readonly bool _reusePromptPrefix;
    private readonly PromptPrefixCache _prefixCache = new();
    private bool _weightsFinal;

    /// <summary>The fewest tokens a batch's rows must share for <see cref="PromptedDecoderClassifierTrainer.Options.ReusePromptPrefix"/> to
    /// compute them once: below that the prefix pass's own cost and the longer attention masks outweigh what it saves.</summary>
    internal const int MinSharedPrefix = 8;

    private PromptedDecoderClassifierModel(Qwen3ForCausalLM net, Qwen3Tokenizer tokenizer, string tokenizerFolder,
        IReadOnlyList<string> classNames, ChoicePrompt prompt, AnswerLoss answerLoss, bool reusePromptPrefix)
    {
        _answerLoss = answerLoss;
        _reusePromptPrefix = reusePromptPrefix;
        _net = net;
        _tokenizer = tokenizer;
        _tokenizerFolder = tokenizerFolder;
        _classNames = classNames.ToArray();
        Prompt = prompt;
        _firstTokens = tensor(prompt.FirstTokenIds.Select(i => (long)i).ToArray(), device: net.Device).DetachFromDisposeScope();
    }

    /// <summary>The prompt, markers and lengths.</summary>
    public ChoicePrompt Prompt { get; }
    public nn.Module Module => _net;
    public Device Device => _net.Device;
    public int NumClasses => _classNames.Length;
    public ClassifierFamily Family => PromptedDecoderFamily.Instance;

    /// <summary>Whether the tokens every row starts with are computed once per batch (see <see cref="PromptedDecoderClassifierTrainer.Options.ReusePromptPrefix"/>).</summary>
    public bool ReusePromptPrefix => _reusePromptPrefix;

    /// <summary>How many leading tokens the rows of the last forward pass shared and ran once (0: the rows ran whole). For tests and logs.</summary>
    internal int LastSharedPrefix { get; private set; }

    /// <summary>The cache of the prompt's beginning (see <see cref="WeightsFinal"/>).</summary>
    internal PromptPrefixCache PrefixCache => _prefixCache;

    /// <summary>While true (set by the transformer that owns the model), the keys and values of the prompt's fixed beginning are
    /// kept across scoring calls; setting false frees them.</summary>
    public bool WeightsFinal
    {
        get => _weightsFinal;
        set
        {
            if (!value) _prefixCache.Clear();
            _weightsFinal = value;
        }
    }

    /// <summary>No new head: the answer is read from the pretrained lm_head, which LoRA leaves frozen (and all-linear leaves out).</summary>
    public IReadOnlyList<string> HeadModules => [];

    /// <summary>
    /// Loads the tokenizer, builds and checks the prompt (before the weights are read, so prompt errors come fast),
    /// then loads the checkpoint in <paramref name="dtype"/> on <paramref name="device"/>.
    /// </summary>
    /// <param name="folder">Hugging Face Qwen3 folder with tokenizer files.</param>
    /// <param name="classNames">Class names in key order.</param>
    /// <param name="userTemplate">User message template with {text} and {options}.</param>
    /// <param name="markers">Marker per class, or null for <see cref="ChoicePrompt.DefaultMarkers"/>.</param>
    /// <param name="displayNames">Name shown per class in the options block.</param>
    /// <param name="device">Where the model lives.</param>
    /// <param name="dtype">Parameter dtype.</param>
    /// <param name="maxLength">Maximum tokens of prompt plus answer.</param>
    /// <param name="truncation">Which end of an over-long text is cut.</param>
    /// <param name="log">Receives progress messages (optional).</param>
    /// <param name="answerLoss">The training objective (see <see cref="PromptedDecoderClassifierTrainer.Options.AnswerLoss"/>).</param>
    /// <param name="reusePromptPrefix">See <see cref="PromptedDecoderClassifierTrainer.Options.ReusePromptPrefix"/>.</param>
    public static PromptedDecoderClassifierModel Create(string folder, IReadOnlyList<string> classNames, string userTemplate,
        IReadOnlyList<string>? markers, IReadOnlyList<string> displayNames, Device device, ScalarType dtype, int maxLength,
        TruncationSide truncation, Action<string>? log, AnswerLoss answerLoss = AnswerLoss.FullVocabulary, bool reusePromptPrefix = true)
    {
        var tokenizer = Qwen3Tokenizer.FromFolder(folder);
        if (markers is not null && markers.Count < classNames.Count)
            throw new ArgumentOutOfRangeException("OptionMarkers", markers.Count, $"Option OptionMarkers has {markers.Count} markers but the label column has {classNames.Count} classes.");
        var prompt = ChoicePrompt.Create(tokenizer, userTemplate,
            markers?.Take(classNames.Count).ToArray() ?? ChoicePrompt.DefaultMarkers(classNames.Count, tokenizer),
            displayNames, maxLength, truncation);
        log?.Invoke($"Prompted decoder: {prompt}. Prompt:\n{prompt.Render("{text}")}");

        var net = Qwen3ForCausalLM.FromPretrained(folder, device, dtype, log);
        try
        {
            if (tokenizer.VocabSize > net.Config.VocabSize)
                throw new InvalidDataException($"{folder}: the tokenizer has {tokenizer.VocabSize} tokens but config.json's vocab_size is {net.Config.VocabSize}.");
            return new PromptedDecoderClassifierModel(net, tokenizer, folder, classNames, prompt, answerLoss, reusePromptPrefix);
        }
        catch
        {
            net.Dispose();
            throw;
        }
    }

    /// <summary>Loader for <see cref="ClassifierFamily.LoadClassifier"/>: the folder written by <see cref="SaveModelFolder"/>.</summary>
    /// <remarks>A model saved in bfloat16 is loaded in bfloat16 where bfloat16 is fast (CUDA), and in float32 elsewhere
    /// (the weights convert exactly; CPU bfloat16 matrix products are slow).</remarks>
    internal static ITrainableClassifier Load(string folder, JsonObject settings, Device device)
    {
        var names = settings.RequiredStrings("class_names");
        var dtype = ClassifierFamilies.SavedDtype(settings, device, folder);
        var (template, markers, displayNames, maxLength, truncation) = ChoicePrompt.ReadSettings(settings);
        return Create(folder, names, template, markers, displayNames, device, dtype, maxLength, truncation, log: null,
            reusePromptPrefix: settings.OptionalBool("reuse_prompt_prefix", true));
    }

    // How both export forms' input is made from mlnet-classifier.json's "prompt".
    private const string PromptInput =
        "Input: \"prompt\" with {text} replaced by the text (cut the text, not the prompt, to max_prompt_tokens tokens on the \"truncation\" side), " +
        "tokenized as is (the chat tokens are in the string; add no special tokens)";

    /// <summary>What mlnet-classifier.json's "usage" says about the causal LM form.</summary>
    internal const string CausalLmUsage = PromptInput + ". Class scores: at the last prompt position, the " +
        "log-probabilities of each option's tokens (option_token_ids, teacher-forced after the first), renormalised over the options; with " +
        "one-token markers, the softmax of the logits of the options' tokens.";

    /// <summary>
    /// Writes the Hugging Face folder (config.json, model.safetensors in the parameters' dtype, tokenizer files, which hold the
    /// chat template) and mlnet-classifier.json with the class names, the prompt (<see cref="ChoicePrompt.WriteSettings"/>: user template,
    /// markers and their token ids, display names, the rendered prompt with a {text} placeholder, maximum length, truncation side), how
    /// to use it, and the dtype.
    /// </summary>
    public void SaveModelFolder(string folder)
    {
        Directory.CreateDirectory(folder);
        _net.SaveToFolder(folder);
        TokenizerFolder.CopyTokenizerFiles(_tokenizerFolder, folder);
        var settings = Settings(CausalLmUsage);
        settings["reuse_prompt_prefix"] = _reusePromptPrefix;
        ClassifierFamilies.WriteSettings(folder, PromptedDecoderFamily.Instance, settings);
    }

    // The settings file of both forms: class names, the prompt, how to use it, dtype; the answer the model was trained to give.
    private JsonObject Settings(string usage)
    {
        var settings = new JsonObject { ["class_names"] = new JsonArray(_classNames.Select(n => (JsonNode)n).ToArray()) };
        Prompt.WriteSettings(settings);
        settings["answer"] = "marker followed by " + ChoicePrompt.EndOfTurn;
        settings["usage"] = usage;
        settings["dtype"] = _net.Dtype.ToString();
        return settings;
    }

    /// <summary>What mlnet-classifier.json's "usage" says about the sequence-classification form.</summary>
    internal const string SequenceClassificationUsage = PromptInput + "; batches right-padded with pad_token_id. " +
        "Output: the Qwen3ForSequenceClassification logits at the last non-pad token are the class scores in id2label order; their " +
        "softmax is the class probabilities.";

    /// <summary>
    /// Writes the fine-tuned decoder as a Hugging Face <c>Qwen3ForSequenceClassification</c> (<see cref="ExportForm.SequenceClassification"/>):
    /// the backbone's weights unchanged (embed_tokens included; no lm_head), and <c>score.weight</c> [C, hidden] = the rows of the LM head
    /// (the embedding when tied) at the options' tokens, in class order. Fed the rendered prompt, its logits at the last token are exactly
    /// the option-token logits that <see cref="ClassLogProbabilities"/> softmaxes. config.json: architectures
    /// <c>["Qwen3ForSequenceClassification"]</c>, id2label/label2id = the class names, problem_type single_label_classification,
    /// pad_token_id = the tokenizer's pad token (transformers pools at each row's last non-pad token). mlnet-classifier.json names the
    /// <see cref="Qwen3SequenceClassifierFamily"/> and holds the prompt, which that family's loader applies to each text.
    /// </summary>
    /// <exception cref="InvalidOperationException">A marker of more than one token (its score is several next-token probabilities, which
    /// one linear head cannot give); the message names the option.</exception>
    public void SaveSequenceClassificationFolder(string folder)
    {
        int multi = Array.FindIndex(Prompt.MarkerIds, m => m.Length > 1);
        if (multi >= 0)
            throw new InvalidOperationException(
                $"The sequence-classification form needs one-token option markers, but OptionMarkers[{multi}] = '{Prompt.Markers[multi]}' (class " +
                $"'{_classNames[multi]}') is {Prompt.MarkerIds[multi].Length} tokens: export the causal LM form (--form native) or train with one-token markers.");
        var config = Qwen3ForSequenceClassification.WithLabels(_net.Config, _classNames, _tokenizer.PadTokenId);
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            var score = _net.LmHeadWeight.index_select(0, _firstTokens);                                              // [C, D]
            var weights = Checkpoints.StateDictLoader.Export(_net).Where(kv => !kv.Key.StartsWith("lm_head.", StringComparison.Ordinal))
                .Append(new KeyValuePair<string, Tensor>("score.weight", score)).OrderBy(kv => kv.Key, StringComparer.Ordinal);
            Qwen3ForCausalLM.SaveFolder(weights, config, _net.Dtype, folder);
        }
        TokenizerFolder.CopyTokenizerFiles(_tokenizerFolder, folder);
        var settings = Settings(SequenceClassificationUsage);
        settings.Remove("answer");
        ClassifierFamilies.WriteSettings(folder, Qwen3SequenceClassifierFamily.Instance, settings);
    }

    public EncodedExample Encode(string text, string? text2)
    {
        if (text2 is not null) throw new ArgumentException("The prompted decoder classifier takes a single text column.", nameof(text2));
        var (ids, truncated) = Prompt.Encode(text);
        return new EncodedExample(ids, null, truncated);
    }

    /// <summary>Right-padded ids [B,T] and the mask (null when no row is padded, so attention takes the plain causal path).</summary>
    private (Tensor Ids, Tensor? Mask) Collate(IReadOnlyList<int[]> rows)
    {
        using var phase = StepProfiler.Measure("collate");
        int t = rows.Max(r => r.Length);
        var ids = new long[rows.Count * t];
        var mask = new long[rows.Count * t];
        Array.Fill(ids, _tokenizer.PadTokenId);
        for (int b = 0; b < rows.Count; b++)
            for (int i = 0; i < rows[b].Length; i++)
            {
                ids[b * t + i] = rows[b][i];
                mask[b * t + i] = 1;
            }
        var shape = new long[] { rows.Count, t };
        bool padded = rows.Any(r => r.Length != t);
        return (tensor(ids, shape, device: Device), padded ? tensor(mask, shape, device: Device) : null);
    }

    public Tensor Loss(IReadOnlyList<EncodedExample> batch, long[] labels, LossSettings settings)
    {
        WeightsFinal = false; // a training loss: the weights are about to change
        if (_answerLoss == AnswerLoss.Options) return OptionsLoss(batch, labels, settings);
        // Input: prompt + the label's marker. Targets at positions P-1 .. P+L-1: the marker's tokens, then <|im_end|>.
        var inputs = new int[batch.Count][];
        int k = Prompt.AnswerLength;
        var positions = new long[batch.Count * k];
        var targets = new long[batch.Count * k];
        var valid = new float[batch.Count * k];
        for (int b = 0; b < batch.Count; b++)
        {
            var marker = Prompt.MarkerIds[labels[b]];
            int p = batch[b].Length;
            inputs[b] = [.. batch[b].InputIds, .. marker];
            for (int j = 0; j < k; j++)
            {
                bool real = j <= marker.Length;
                positions[b * k + j] = p - 1 + (real ? j : 0);
                targets[b * k + j] = !real ? 0 : j < marker.Length ? marker[j] : Prompt.EndOfTurnId;
                valid[b * k + j] = real ? 1 : 0;
            }
        }
        var (hidden, offset) = States(inputs, batch.Min(e => e.Length) - 1);
        var shape = new long[] { batch.Count, k };
        var logits = _net.LogitsAt(hidden, tensor(positions, shape, device: Device) - offset);
        using var lossPhase = StepProfiler.Measure("loss (log_softmax, gather)");
        var logp = nn.functional.log_softmax(logits.to(ScalarType.Float32), -1);                                                         // [B,K,V]
        var nll = -logp.gather(2, tensor(targets, shape, device: Device).unsqueeze(2)).squeeze(2);                                        // [B,K]
        if (settings.LabelSmoothing > 0)
        {
            // Smoothing over the options at the deciding (first) answer token: ε/C on each option token, 1-ε on the target.
            var optionNll = -logp.select(1, 0).index_select(1, _firstTokens).mean([1]);                                                   // [B]
            var first = nll.select(1, 0) * (1 - settings.LabelSmoothing) + optionNll * settings.LabelSmoothing;
            nll = torch.cat([first.unsqueeze(1), nll.narrow(1, 1, k - 1)], 1);
        }
        var m = tensor(valid, shape, device: Device);
        var rowLoss = (nll * m).sum(1) / m.sum(1);                                                                                        // [B]
        if (settings.ClassWeights is null) return rowLoss.mean();
        var w = settings.ClassWeights.to(ScalarType.Float32).index_select(0, tensor(labels, device: Device));
        return (rowLoss * w).sum() / w.sum().clamp_min(1e-12);
    }

    // A C-way cross-entropy over the options' first-token logits at the answer position (the last prompt token): the scores that
    // classification reads. Class weights and label smoothing (spread over the C options) as PyTorch's cross_entropy.
    private Tensor OptionsLoss(IReadOnlyList<EncodedExample> batch, long[] labels, LossSettings settings)
    {
        var (hidden, last) = PromptStates(batch);
        return settings.CrossEntropy(_net.LogitsAt(hidden, last, _firstTokens), labels);                    // logits [B,C]
    }

    // The final hidden states of the prompts alone and each row's answer position (its last prompt token) in them.
    private (Tensor Hidden, Tensor Last) PromptStates(IReadOnlyList<EncodedExample> batch)
    {
        var (hidden, offset) = States(batch.Select(e => e.InputIds).ToArray(), batch.Min(e => e.Length) - 1);
        var last = tensor(batch.Select(e => (long)e.Length - 1 - offset).ToArray(), device: Device);
        return (hidden, last);
    }

    /// <summary>
    /// Final hidden states of <paramref name="rows"/> (right-padded) and the offset of their positions: when the rows start with the
    /// same P ≤ <paramref name="maxPrefix"/> tokens (P ≥ <see cref="MinSharedPrefix"/>), the prefix's keys and values are computed
    /// once (or taken from the cache) and only the rest of each row runs, so hidden[b, i] is position P + i of row b and the offset
    /// is P; otherwise the whole rows run and the offset is 0.
    /// </summary>
    private (Tensor Hidden, int Offset) States(int[][] rows, int maxPrefix)
    {
        var prefix = SharedPrefix(rows, maxPrefix);
        LastSharedPrefix = prefix?.Length ?? 0;
        if (prefix is null)
        {
            var (ids, mask) = Collate(rows);
            return (_net.HiddenStates(ids, mask), 0);
        }
        int p = prefix.Length;
        var (rest, restMask) = Collate(rows.Select(r => r[p..]).ToArray());
        return (_net.HiddenStatesAfter(prefix, rest, restMask), p);
    }

    // The keys and values of what every row starts with (at most maxPrefix tokens), or null to run the rows whole. While the weights are
    // final and no gradient is wanted, the prompt's own prefix comes from the cache, narrowed to what the rows share with it (a row's text
    // may merge with the prefix's last token); otherwise the rows' longest common prefix is computed for this batch alone.
    private PrefixKeysValues? SharedPrefix(int[][] rows, int maxPrefix)
    {
        if (!_reusePromptPrefix) return null;
        bool recomputesLayers = ((ICheckpointableModule)_net.model).GradientCheckpointing && _net.training && is_grad_enabled();
        if (recomputesLayers) return null; // gradient checkpointing recomputes whole layers in backward: keep its path
        if (_weightsFinal && !is_grad_enabled())
        {
            int shared = Math.Min(maxPrefix, rows.Min(r => CommonLength(r, Prompt.PrefixIds)));
            if (shared >= MinSharedPrefix) return _prefixCache.Get(_net, Prompt.PrefixIds).Narrow(shared);
        }
        if (rows.Length < 2) return null;
        int common = Math.Min(maxPrefix, rows.Skip(1).Min(r => CommonLength(r, rows[0])));
        return common < MinSharedPrefix ? null : _net.PrefixKeysValues(rows[0][..common]);
    }

    private static int CommonLength(IReadOnlyList<int> a, IReadOnlyList<int> b)
    {
        int n = 0, end = Math.Min(a.Count, b.Count);
        while (n < end && a[n] == b[n]) n++;
        return n;
    }

    public Tensor ClassLogProbabilities(IReadOnlyList<EncodedExample> batch)
    {
        var prompts = batch.Select(e => e.InputIds).ToArray();
        var (hidden, last) = PromptStates(batch);
        if (Prompt.SingleTokenMarkers)
            return nn.functional.log_softmax(_net.LogitsAt(hidden, last, _firstTokens).to(ScalarType.Float32), 1);

        // First tokens: full-vocabulary log-probabilities at the answer position (the continuations below are too).
        var scores = nn.functional.log_softmax(_net.LogitsAt(hidden, last).to(ScalarType.Float32), 1).index_select(1, _firstTokens); // [B,C]
        // Continuations, teacher-forced: one row per (row, multi-token option) = prompt + the marker but its last token.
        var pairs = (from b in Enumerable.Range(0, batch.Count)
                     from c in Enumerable.Range(0, NumClasses)
                     where Prompt.MarkerIds[c].Length > 1
                     select (b, c)).ToArray();
        var extra = new float[batch.Count * NumClasses];
        for (int start = 0; start < pairs.Length; start += batch.Count)
        {
            using var scope = NewDisposeScope();
            var chunk = pairs.AsSpan(start, Math.Min(batch.Count, pairs.Length - start)).ToArray();
            int k = chunk.Max(x => Prompt.MarkerIds[x.c].Length) - 1;
            var positions = new long[chunk.Length * k];
            var targets = new long[chunk.Length * k];
            var valid = new float[chunk.Length * k];
            var rows = new int[chunk.Length][];
            for (int i = 0; i < chunk.Length; i++)
            {
                var (b, c) = chunk[i];
                var marker = Prompt.MarkerIds[c];
                int p = prompts[b].Length;
                rows[i] = [.. prompts[b], .. marker.AsSpan(0, marker.Length - 1)];
                for (int j = 0; j < k; j++)
                {
                    bool real = j + 1 < marker.Length;
                    positions[i * k + j] = real ? p + j : p - 1;
                    targets[i * k + j] = real ? marker[j + 1] : 0;
                    valid[i * k + j] = real ? 1 : 0;
                }
            }
            var shape = new long[] { chunk.Length, k };
            var (continued, offset) = States(rows, chunk.Min(x => prompts[x.b].Length) - 1);
            var logp = nn.functional.log_softmax(_net.LogitsAt(continued, tensor(positions, shape, device: Device) - offset).to(ScalarType.Float32), -1);
            var sum = (logp.gather(2, tensor(targets, shape, device: Device).unsqueeze(2)).squeeze(2) * tensor(valid, shape, device: Device)).sum(1);
            var values = sum.cpu().data<float>().ToArray();
            for (int i = 0; i < chunk.Length; i++) extra[chunk[i].b * NumClasses + chunk[i].c] = values[i];
        }
        var total = scores + tensor(extra, new long[] { batch.Count, NumClasses }, device: Device);
        return nn.functional.log_softmax(total, 1);
    }

    public void Dispose()
    {
        _prefixCache.Dispose();
        _firstTokens.Dispose();
        _net.Dispose();
    }
}
