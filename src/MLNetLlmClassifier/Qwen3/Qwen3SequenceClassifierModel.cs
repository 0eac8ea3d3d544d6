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
/// </remarks>
internal sealed class Qwen3SequenceClassifierModel : ITrainableClassifier
{
    private readonly Qwen3ForSequenceClassification _net;
    private readonly Qwen3Tokenizer _tokenizer;
    private readonly string _tokenizerFolder;
    private readonly string[] _classNames;
    private readonly int _padId;

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
        return Create(folder, names, device, dtype, seed: 0, settings.RequiredInt("max_sequence_length", 1, int.MaxValue),
            settings.Enum<TruncationSide>("truncation"), log: null);
    }

    /// <summary>
    /// Writes the Hugging Face folder (config.json of a Qwen3ForSequenceClassification with id2label/label2id = the class names and
    /// pad_token_id, model.safetensors, tokenizer files) and mlnet-classifier.json (class names, maximum length, truncation side, dtype).
    /// </summary>
    public void SaveModelFolder(string folder)
    {
        Directory.CreateDirectory(folder);
        _net.SaveToFolder(folder);
        TokenizerFolder.CopyTokenizerFiles(_tokenizerFolder, folder);
        ClassifierFamilies.WriteSettings(folder, Qwen3SequenceClassifierFamily.Instance, new JsonObject
        {
            ["class_names"] = new JsonArray(_classNames.Select(n => (JsonNode)n).ToArray()),
            ["max_sequence_length"] = MaxLength,
            ["truncation"] = Truncation.ToString(),
            ["dtype"] = _net.Dtype.ToString(),
        });
    }

    public EncodedExample Encode(string text, string? text2)
    {
        if (text2 is not null) throw new ArgumentException("The Qwen3 sequence classifier takes a single text column.", nameof(text2));
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

    public void Dispose() => _net.Dispose();
}
