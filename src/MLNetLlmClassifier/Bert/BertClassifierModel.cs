using System.Text.Json.Nodes;
using MLNetLlmClassifier.Families;
using MLNetLlmClassifier.MLNet;
using MLNetLlmClassifier.Text;
using MLNetLlmClassifier.Torch;
using MLNetLlmClassifier.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetLlmClassifier.Bert;

/// <summary>
/// BERT for the shared loop: WordPiece tokenisation (<c>[CLS] a [SEP]</c> or <c>[CLS] a [SEP] b [SEP]</c>),
/// dynamic padding to the longest row of the batch, classifier logits over the pooled [CLS] output.
/// </summary>
internal sealed class BertClassifierModel : ITrainableClassifier
{

    private readonly BertForSequenceClassification _net;
    private readonly BertWordPieceTokenizer _tokenizer;
    private readonly string _tokenizerFolder;
    private readonly string[] _classNames;

    private BertClassifierModel(BertForSequenceClassification net, BertWordPieceTokenizer tokenizer, string tokenizerFolder,
        IReadOnlyList<string> classNames, Device device, int maxLength, TruncationSide side)
    {
        _net = net;
        _tokenizer = tokenizer;
        _tokenizerFolder = tokenizerFolder;
        _classNames = classNames.ToArray();
        Device = device;
        MaxLength = Math.Min(maxLength, net.Config.MaxPositionEmbeddings);
        Truncation = side;
    }

    public int MaxLength { get; }
    public TruncationSide Truncation { get; }
    public nn.Module Module => _net;
    public Device Device { get; }
    public int NumClasses => _classNames.Length;
    public ClassifierFamily Family => BertFamily.Instance;

    /// <summary>The classification head (HF's <c>classifier</c>), trained in full under LoRA.</summary>
    public IReadOnlyList<string> HeadModules => ["classifier"];

    /// <summary>Loads a (pre)trained checkpoint and puts a fresh head of <paramref name="classNames"/>.Count outputs on it when needed.</summary>
    public static BertClassifierModel Create(string folder, IReadOnlyList<string> classNames, Device device, ScalarType dtype,
        int seed, int maxLength, TruncationSide side, Action<string>? log)
    {
        var tokenizer = BertWordPieceTokenizer.FromFolder(folder);
        var net = BertForSequenceClassification.FromPretrained(folder, classNames.Count, device, log, seed);
        try
        {
            if (tokenizer.VocabSize > net.Config.VocabSize)
                throw new InvalidDataException($"{folder}: the tokenizer has {tokenizer.VocabSize} tokens but config.json's vocab_size is {net.Config.VocabSize}.");
            if (dtype != ScalarType.Float32) net.to(dtype);
            return new BertClassifierModel(net, tokenizer, folder, classNames, device, maxLength, side);
        }
        catch
        {
            net.Dispose();
            throw;
        }
    }

    /// <summary>Loader for <see cref="ClassifierFamily.LoadClassifier"/>.</summary>
    internal static ITrainableClassifier Load(string folder, JsonObject settings, Device device)
    {
        var names = settings.RequiredStrings("class_names");
        var dtype = ClassifierFamilies.SavedDtype(settings, device, folder);
        return Create(folder, names, device, dtype, seed: 0,
            settings.RequiredInt("max_sequence_length", 1, int.MaxValue), settings.Enum<TruncationSide>("truncation"), log: null);
    }

    public void SaveModelFolder(string folder)
    {
        Directory.CreateDirectory(folder);
        var dtype = _net.parameters().First().dtype;
        _net.SaveToFolder(folder, _net.Config.WithLabels(_classNames));
        TokenizerFolder.CopyTokenizerFiles(_tokenizerFolder, folder);
        ClassifierFamilies.WriteSettings(folder, BertFamily.Instance, new JsonObject
        {
            ["class_names"] = new JsonArray(_classNames.Select(n => (JsonNode)n).ToArray()),
            ["max_sequence_length"] = MaxLength,
            ["truncation"] = Truncation.ToString(),
            ["dtype"] = dtype.ToString(),
        });
    }

    /// <summary>The BERT folder already is a <c>BertForSequenceClassification</c>: <see cref="SaveModelFolder"/>.</summary>
    public void SaveSequenceClassificationFolder(string folder) => SaveModelFolder(folder);

    public EncodedExample Encode(string text, string? text2)
    {
        var e = _tokenizer.Encode(text, text2, MaxLength, Truncation);
        return new EncodedExample(e.InputIds, e.TokenTypeIds, e.Truncated);
    }

    private (Tensor ids, Tensor mask, Tensor types) Collate(IReadOnlyList<EncodedExample> batch)
    {
        using var phase = StepProfiler.Measure("collate");
        int t = batch.Max(e => e.Length);
        var ids = new long[batch.Count * t];
        var mask = new long[batch.Count * t];
        var types = new long[batch.Count * t];
        if (_tokenizer.PadId != 0) Array.Fill(ids, _tokenizer.PadId);
        for (int b = 0; b < batch.Count; b++)
        {
            var e = batch[b];
            for (int i = 0; i < e.Length; i++)
            {
                ids[b * t + i] = e.InputIds[i];
                mask[b * t + i] = 1;
                if (e.TokenTypeIds is not null) types[b * t + i] = e.TokenTypeIds[i];
            }
        }
        var shape = new long[] { batch.Count, t };
        return (tensor(ids, shape, device: Device), tensor(mask, shape, device: Device), tensor(types, shape, device: Device));
    }

    private Tensor Logits(IReadOnlyList<EncodedExample> batch)
    {
        var (ids, mask, types) = Collate(batch);
        return _net.call(ids, mask, types).Logits.to(ScalarType.Float32);
    }

    public Tensor Loss(IReadOnlyList<EncodedExample> batch, long[] labels, LossSettings settings) => settings.CrossEntropy(Logits(batch), labels);

    public Tensor ClassLogProbabilities(IReadOnlyList<EncodedExample> batch) => nn.functional.log_softmax(Logits(batch), 1);

    public void Dispose() => _net.Dispose();
}
