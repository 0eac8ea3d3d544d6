using System.Text.Json.Nodes;
using MLNetLlmClassifier.Families;
using MLNetLlmClassifier.Text;
using MLNetLlmClassifier.Torch;
using MLNetLlmClassifier.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetLlmClassifier.Qwen3;

/// <summary>
/// A <see cref="Qwen3ForSequenceClassification"/> for the shared loop: the row's text is tokenised as transformers' tokenizer does it
/// (nothing added around it), batches are right-padded with the config's <c>pad_token_id</c> and an attention mask, and the class logits
/// are the <c>score</c> head's on the last real token of each row; the loss is the cross-entropy over the classes.
/// </summary>
/// <remarks>
/// An empty text is encoded as the single pad token (transformers' rule then reads position 0, as this class does), so every row has a
/// token to classify. A checkpoint whose config.json has no <c>pad_token_id</c> (every Qwen3 causal LM) gets the tokenizer's pad token
/// (<c>&lt;|endoftext|&gt;</c>), which the exported config.json then carries, as transformers needs it for batches.
/// <para>A folder written by the prompted decoder's sequence-classification form (<see cref="ExportForm.SequenceClassification"/>) holds its
/// prompt in mlnet-classifier.json: each text is then encoded as that prompt (<see cref="ChoicePrompt.Encode"/>, which cuts the text, not
/// the prompt), so the loaded model scores raw texts as the prompted decoder did.</para>
/// </remarks>
internal sealed class Qwen3SequenceClassifierModel : ITrainableClassifier
{
    private readonly Qwen3ForSequenceClassification _net;
    private readonly Qwen3Tokenizer _tokenizer;
    private readonly string _tokenizerFolder;
    private readonly string[] _classNames;
    private readonly int _padId;
    private ChoicePrompt? _prompt;

    private Qwen3SequenceClassifierModel(Qwen3ForSequenceClassification net, Qwen3Tokenizer tokenizer, string tokenizerFolder,
        IReadOnlyList<string> classNames, int maxLength, TruncationSide truncation)
    {
        _net = net;
        _tokenizer = tokenizer;
        _tokenizerFolder = tokenizerFolder;
        _classNames = classNames.ToArray();
        _padId = net.Config.PadTokenId ?? tokenizer.PadTokenId;
        MaxLength = maxLength;
        Truncation = truncation;
    }

    /// <summary>Most tokens per row.</summary>
    public int MaxLength { get; }

    /// <summary>Which end of an over-long text is cut.</summary>
    public TruncationSide Truncation { get; }

    /// <summary>The network (tests).</summary>
    internal Qwen3ForSequenceClassification Network => _net;

    /// <summary>The tokenizer.</summary>
    internal Qwen3Tokenizer Tokenizer => _tokenizer;

    /// <summary>The prompt each text is put in (a prompted decoder's sequence-classification export), or null: the text alone.</summary>
    internal ChoicePrompt? Prompt => _prompt;

    public nn.Module Module => _net;
    public Device Device => _net.Device;
    public int NumClasses => _classNames.Length;
    public ClassifierFamily Family => Qwen3SequenceClassifierFamily.Instance;

    /// <summary>The head is new for the task: <c>score</c>.</summary>
    public IReadOnlyList<string> HeadModules { get; } = ["score"];

    /// <summary>
    /// Loads the tokenizer and a Qwen3 checkpoint (causal LM or sequence classifier) with a head of <paramref name="classNames"/>.Count
    /// classes (newly initialised from <paramref name="seed"/> when the checkpoint has none of that size).
    /// </summary>
    public static Qwen3SequenceClassifierModel Create(string folder, IReadOnlyList<string> classNames, Device device, ScalarType dtype,
        int seed, int maxLength, TruncationSide truncation, Action<string>? log)
    {
        var tokenizer = Qwen3Tokenizer.FromFolder(folder);
        // Checked before the weights are read: a tokenizer with ids beyond the embedding would fail at the first batch.
        int vocabSize = Qwen3Config.FromJson(Checkpoints.HfModelFolder.ReadConfig(folder), Path.Combine(folder, Checkpoints.HfModelFolder.ConfigFileName)).VocabSize;
        if (tokenizer.VocabSize > vocabSize)
            throw new InvalidDataException($"{folder}: the tokenizer has {tokenizer.VocabSize} tokens but config.json's vocab_size is {vocabSize}.");
        var net = Qwen3ForSequenceClassification.FromPretrained(folder, device, dtype, classNames, tokenizer.PadTokenId, seed, log);
        return new Qwen3SequenceClassifierModel(net, tokenizer, folder, classNames, maxLength, truncation);
    }

    /// <summary>Loader for <see cref="ClassifierFamily.LoadClassifier"/>: the folder written by <see cref="SaveModelFolder"/>.</summary>
    /// <remarks>As the other families: bfloat16 weights stay bfloat16 where bfloat16 is fast (CUDA), float32 elsewhere (exact conversion).</remarks>
    internal static ITrainableClassifier Load(string folder, JsonObject settings, Device device)
    {
        var names = settings.RequiredStrings("class_names");
        var dtype = ClassifierFamilies.SavedDtype(settings, device, folder);
        var model = Create(folder, names, device, dtype, seed: 0, settings.RequiredInt("max_sequence_length", 1, int.MaxValue),
            settings.Enum<TruncationSide>("truncation"), log: null);
        if (!ChoicePrompt.InSettings(settings)) return model;
        try
        {
            model._prompt = ChoicePrompt.FromSettings(model._tokenizer, settings);
            if (model._prompt.Markers.Count != names.Length)
                throw new SettingsFieldException($"\"option_markers\" has {model._prompt.Markers.Count} markers for {names.Length} classes.");
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Writes the Hugging Face folder (config.json of a Qwen3ForSequenceClassification with id2label/label2id = the class names and
    /// pad_token_id, model.safetensors, tokenizer files) and mlnet-classifier.json (class names, maximum length, truncation side, dtype, and
    /// the prompt when there is one).
    /// </summary>
    public void SaveModelFolder(string folder)
    {
        Directory.CreateDirectory(folder);
        _net.SaveToFolder(folder);
        TokenizerFolder.CopyTokenizerFiles(_tokenizerFolder, folder);
        var settings = new JsonObject
        {
            ["class_names"] = new JsonArray(_classNames.Select(n => (JsonNode)n).ToArray()),
            ["max_sequence_length"] = MaxLength,
            ["truncation"] = Truncation.ToString(),
            ["dtype"] = _net.Dtype.ToString(),
        };
        if (_prompt is not null)
        {
            _prompt.WriteSettings(settings);
            settings["usage"] = PromptedDecoderClassifierModel.SequenceClassificationUsage;
        }
        ClassifierFamilies.WriteSettings(folder, Qwen3SequenceClassifierFamily.Instance, settings);
    }

    /// <summary>The folder already is a <c>Qwen3ForSequenceClassification</c>: <see cref="SaveModelFolder"/>.</summary>
    public void SaveSequenceClassificationFolder(string folder) => SaveModelFolder(folder);

    public EncodedExample Encode(string text, string? text2)
    {
        if (text2 is not null) throw new ArgumentException("The Qwen3 sequence classifier takes a single text column.", nameof(text2));
        if (_prompt is not null)
        {
            var (promptIds, truncated) = _prompt.Encode(text);
            return new EncodedExample(promptIds, null, truncated);
        }
        var ids = _tokenizer.Encode(text);
        if (ids.Length == 0) return new EncodedExample([_padId]);
        if (ids.Length <= MaxLength) return new EncodedExample(ids);
        return new EncodedExample(Truncation == TruncationSide.Left ? ids[^MaxLength..] : ids[..MaxLength], null, Truncated: true);
    }

    /// <summary>Right-padded ids [B,T] (padding = the config's pad_token_id, as transformers' batches) and the attention mask.</summary>
    private (Tensor Ids, Tensor Mask) Collate(IReadOnlyList<EncodedExample> batch)
    {
        using var phase = StepProfiler.Measure("collate");
        int t = batch.Max(e => e.Length);
        var ids = new long[batch.Count * t];
        var mask = new long[batch.Count * t];
        Array.Fill(ids, _padId);
        for (int b = 0; b < batch.Count; b++)
            for (int i = 0; i < batch[b].Length; i++)
            {
                ids[b * t + i] = batch[b].InputIds[i];
                mask[b * t + i] = 1;
            }
        var shape = new long[] { batch.Count, t };
        return (tensor(ids, shape, device: Device), tensor(mask, shape, device: Device));
    }

    private Tensor Logits(IReadOnlyList<EncodedExample> batch)
    {
        var (ids, mask) = Collate(batch);
        return _net.call(ids, mask).to(ScalarType.Float32);
    }

    public Tensor Loss(IReadOnlyList<EncodedExample> batch, long[] labels, LossSettings settings) => settings.CrossEntropy(Logits(batch), labels);

    public Tensor ClassLogProbabilities(IReadOnlyList<EncodedExample> batch) => nn.functional.log_softmax(Logits(batch), 1);

    /// <summary>
    /// Checks a saved folder as transformers' <c>Qwen3ForSequenceClassification</c> reads it: each text's input is the rendered prompt string
    /// of mlnet-classifier.json's <c>"prompt"</c> (<c>{text}</c> replaced), tokenized with nothing added, which must give the ids this
    /// library's encoding gives (texts whose prompt is cut to fit are encoded by the library, as the usage note says to cut them); or, without a
    /// prompt, the text alone. The rows are scored in one batch right-padded with <c>pad_token_id</c> and without an attention mask, so that
    /// each row is read at its rightmost non-pad token as transformers does, and then one row at a time; the softmax of the logits must equal
    /// <paramref name="expected"/> within <paramref name="tolerance"/>.
    /// </summary>
    /// <returns>One sentence saying what was checked and the largest difference.</returns>
    /// <exception cref="InvalidDataException">An id or probability differs; config.json has no pad_token_id.</exception>
    internal static string VerifyAsTransformersReadsIt(string folder, IReadOnlyList<string> texts, float[][] expected, double tolerance, Device device)
    {
        string settingsPath = Path.Combine(folder, ClassifierFamilies.SettingsFile);
        using var model = (Qwen3SequenceClassifierModel)ClassifierFamilies.LoadClassifier(folder, device);
        int pad = model._net.Config.PadTokenId
            ?? throw new InvalidDataException($"{Path.Combine(folder, Checkpoints.HfModelFolder.ConfigFileName)} has no pad_token_id: transformers refuses batches of more than one row.");
        var encoded = texts.Select(t => model.Encode(t, null)).ToArray();
        var settings = Checkpoints.HfModelFolder.ReadJsonObject(settingsPath);
        string? prompt = settings["prompt"] is null ? null : settings.RequiredString("prompt");
        int fromString = 0;
        for (int i = 0; i < texts.Count && prompt is not null; i++)
        {
            if (encoded[i].Truncated) continue;
            int at = prompt.IndexOf(ChoicePrompt.TextPlaceholder, StringComparison.Ordinal);
            if (at < 0) throw new InvalidDataException($"{settingsPath}: \"prompt\" has no {ChoicePrompt.TextPlaceholder} placeholder.");
            var ids = model._tokenizer.Encode(string.Concat(prompt.AsSpan(0, at), texts[i], prompt.AsSpan(at + ChoicePrompt.TextPlaceholder.Length)));
            if (!ids.AsSpan().SequenceEqual(encoded[i].InputIds))
                throw new InvalidDataException($"{settingsPath}: \"prompt\" with text {i} tokenizes to {ids.Length} ids that differ from the model's input ({encoded[i].Length} ids).");
            fromString++;
        }
        var rows = encoded.Select(e => e.InputIds).ToArray();
        double worst = 0;
        using (no_grad())
        {
            worst = Math.Max(worst, WorstDifference(model._net, rows, Enumerable.Range(0, rows.Length).ToArray(), pad, expected));
            for (int i = 0; i < rows.Length; i++) worst = Math.Max(worst, WorstDifference(model._net, rows, [i], pad, expected));
        }
        string what = prompt is null ? "the texts tokenized" : $"the prompt of {ClassifierFamilies.SettingsFile} filled in and tokenized ({fromString} of {texts.Count} from the string, the others cut to fit)";
        string line = string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"As transformers reads it: {what}, right-padded with pad_token_id {pad}, read at the last non-pad token; batched and one at a time, the class probabilities differ by at most {worst:E2}.");
        if (!(worst <= tolerance))
            throw new InvalidDataException(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"The export in {folder} does not reproduce the model as transformers reads it: a class probability differs by {worst:E2} (tolerance {tolerance:E0})."));
        return line;
    }

    // The largest difference between the softmax of the logits of rows[which], right-padded with `pad` and no mask, and `expected`.
    private static double WorstDifference(Qwen3ForSequenceClassification net, int[][] rows, int[] which, int pad, float[][] expected)
    {
        using var scope = NewDisposeScope();
        int t = which.Max(i => rows[i].Length);
        var ids = new long[which.Length * t];
        Array.Fill(ids, pad);
        for (int b = 0; b < which.Length; b++)
            for (int j = 0; j < rows[which[b]].Length; j++) ids[b * t + j] = rows[which[b]][j];
        var probs = net.call(tensor(ids, new long[] { which.Length, t }, device: net.Device), null).to(ScalarType.Float32).softmax(1).cpu();
        double worst = 0;
        for (int b = 0; b < which.Length; b++)
        {
            var p = probs[b].data<float>().ToArray();
            for (int c = 0; c < p.Length; c++) worst = Math.Max(worst, Math.Abs(p[c] - expected[which[b]][c]));
        }
        return worst;
    }

    public void Dispose() => _net.Dispose();
}
