using MLNetLlmClassifier.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetLlmClassifier.Tests.Training;

/// <summary>A bag-of-tokens classifier (embedding, mean over tokens, linear) to test the shared loop without a transformer.</summary>
internal sealed class ToyClassifier : ITrainableClassifier
{
    private sealed class Net : nn.Module<Tensor, Tensor, Tensor>
    {
        public readonly TorchSharp.Modules.Embedding embed;
        public readonly TorchSharp.Modules.Linear head;
        public Net(int vocab, int dim, int classes) : base("toy")
        {
            embed = nn.Embedding(vocab, dim);
            head = nn.Linear(dim, classes);
            RegisterComponents();
        }
        public override Tensor forward(Tensor ids, Tensor mask)
        {
            var m = mask.unsqueeze(-1).to(ScalarType.Float32);
            var pooled = (embed.forward(ids) * m).sum(1) / m.sum(1).clamp_min(1);
            return head.forward(pooled);
        }
    }

    private readonly Net _net;
    public Func<float>? LossOverride;

    public ToyClassifier(int vocab, int classes, int seed, int dim = 16)
    {
        torch.manual_seed(seed);
        _net = new Net(vocab, dim, classes);
        NumClasses = classes;
    }

    public nn.Module Module => _net;
    public Device Device => CPU;
    public int NumClasses { get; }

    public EncodedExample Encode(string text, string? text2) =>
        new(text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray());

    private (Tensor ids, Tensor mask) Collate(IReadOnlyList<EncodedExample> batch)
    {
        int t = Math.Max(1, batch.Max(e => e.Length));
        var ids = new long[batch.Count * t];
        var mask = new long[batch.Count * t];
        for (int b = 0; b < batch.Count; b++)
            for (int i = 0; i < batch[b].Length; i++) { ids[b * t + i] = batch[b].InputIds[i]; mask[b * t + i] = 1; }
        return (tensor(ids, new long[] { batch.Count, t }), tensor(mask, new long[] { batch.Count, t }));
    }

    public Tensor Loss(IReadOnlyList<EncodedExample> batch, long[] labels, LossSettings settings)
    {
        var (ids, mask) = Collate(batch);
        var logits = _net.forward(ids, mask);
        var loss = nn.functional.cross_entropy(logits, tensor(labels), settings.ClassWeights, label_smoothing: settings.LabelSmoothing);
        if (LossOverride is not null) loss = loss * 0 + LossOverride();
        return loss;
    }

    public Tensor ClassLogProbabilities(IReadOnlyList<EncodedExample> batch)
    {
        var (ids, mask) = Collate(batch);
        return nn.functional.log_softmax(_net.forward(ids, mask), 1);
    }

    public MLNetLlmClassifier.Families.ClassifierFamily Family => throw new NotSupportedException("The toy classifier belongs to no registered family.");

    public void SaveModelFolder(string folder) => throw new NotSupportedException("The toy classifier is not saved.");

    public void Dispose() => _net.Dispose();

    /// <summary>Rows whose class c is marked by tokens drawn from [c*10, c*10+10), mixed with shared noise tokens.</summary>
    public static (List<EncodedExample> rows, long[] labels) Synthetic(int n, int classes, int seed, double noise = 0.0)
    {
        var rng = new Random(seed);
        var rows = new List<EncodedExample>();
        var labels = new long[n];
        for (int i = 0; i < n; i++)
        {
            int c = rng.Next(classes);
            labels[i] = c;
            int len = rng.Next(3, 12);
            var ids = new int[len];
            for (int k = 0; k < len; k++)
                ids[k] = rng.NextDouble() < 0.5 ? 100 + rng.Next(20) : c * 10 + rng.Next(10);
            if (rng.NextDouble() < noise) labels[i] = rng.Next(classes);
            rows.Add(new EncodedExample(ids));
        }
        return (rows, labels);
    }
}
