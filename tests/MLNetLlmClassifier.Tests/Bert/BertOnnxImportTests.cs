using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using MLNetLlmClassifier.Bert;
using static TorchSharp.torch;

namespace MLNetLlmClassifier.Tests.Bert;

[TestClass]
public sealed class BertOnnxImportTests
{
    /// <summary>Token ids, attention mask and token types of a padded batch, as [B, T] arrays.</summary>
    private static (long[] Ids, long[] Mask, long[] Types, int Batch, int Length) Batch(BertWordPieceTokenizer tokenizer, params string[] texts)
    {
        var encodings = texts.Select(t => tokenizer.Encode(t, null, 64)).ToArray();
        int length = encodings.Max(e => e.Length);
        var ids = new long[texts.Length * length];
        var mask = new long[texts.Length * length];
        for (int b = 0; b < texts.Length; b++)
            for (int i = 0; i < encodings[b].Length; i++)
            {
                ids[(b * length) + i] = encodings[b].InputIds[i];
                mask[(b * length) + i] = 1;
            }
        return (ids, mask, new long[ids.Length], texts.Length, length);
    }

    /// <summary>ONNX Runtime's output of the original model.</summary>
    private static float[] RunOnnx(string onnx, string output, (long[] Ids, long[] Mask, long[] Types, int Batch, int Length) x)
    {
        using var session = new InferenceSession(onnx);
        int[] dims = [x.Batch, x.Length];
        var inputs = new List<NamedOnnxValue>
        {
            NamedOnnxValue.CreateFromTensor("input_ids", new DenseTensor<long>(x.Ids, dims)),
            NamedOnnxValue.CreateFromTensor("attention_mask", new DenseTensor<long>(x.Mask, dims)),
            NamedOnnxValue.CreateFromTensor("token_type_ids", new DenseTensor<long>(x.Types, dims)),
        }.Where(i => session.InputMetadata.ContainsKey(i.Name)).ToList();
        using var results = session.Run(inputs);
        return results.First(r => r.Name == output).AsEnumerable<float>().ToArray();
    }

    /// <summary>Our BERT's last hidden state on the same inputs.</summary>
    private static float[] RunOurs(string folder, (long[] Ids, long[] Mask, long[] Types, int Batch, int Length) x)
    {
        using var model = BertForSequenceClassification.FromPretrained(folder, 2, CPU);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        long[] shape = [x.Batch, x.Length];
        var o = model.call(tensor(x.Ids, shape), tensor(x.Mask, shape), tensor(x.Types, shape));
        return o.LastHiddenState.contiguous().data<float>().ToArray();
    }

    private static double MaxAbsDiff(float[] a, float[] b)
    {
        Assert.HasCount(a.Length, b);
        return a.Zip(b, (p, q) => Math.Abs((double)p - q)).Max();
    }

    [TestMethod]
    public void PretrainedMiniLmConvertsToHiddenStatesEqualToOnnxRuntimes()
    {
        var config = BertConfig.Load(PretrainedMiniLm.Folder);
        Assert.AreEqual((6, 384, 12, 1536, 30522, "gelu", 1e-12), (config.NumHiddenLayers, config.HiddenSize, config.NumAttentionHeads,
            config.IntermediateSize, config.VocabSize, config.HiddenAct, config.LayerNormEps));
        var tokenizer = BertWordPieceTokenizer.FromFolder(PretrainedMiniLm.Folder);
        Assert.IsTrue(tokenizer.DoLowerCase, "the MiniLM vocabulary is uncased");
        // Two lengths, so that padding and the attention mask take part.
        var x = Batch(tokenizer, "Stocks fell sharply on Wall Street after the central bank raised interest rates.", "The match ended in a draw.");
        var expected = RunOnnx(PretrainedMiniLm.OnnxFile, "last_hidden_state", x);
        var actual = RunOurs(PretrainedMiniLm.Folder, x);
        double diff = MaxAbsDiff(expected, actual);
        Console.WriteLine($"all-MiniLM-L6-v2: max |ONNX Runtime - ours| over the last hidden state [{x.Batch}, {x.Length}, 384] = {diff:E2}");
        Assert.IsLessThan(1e-4, diff);
    }

    [TestMethod]
    public void LoadingACheckpointWithoutClassifierReportsTheNewlyInitialisedTensorsInOneLine()
    {
        var lines = new List<string>();
        using var model = BertForSequenceClassification.FromPretrained(PretrainedMiniLm.Folder, 4, CPU, lines.Add, seed: 3);
        var fresh = lines.Where(l => l.Contains("newly initialised", StringComparison.Ordinal)).ToList();
        Assert.HasCount(1, fresh, string.Join("\n", lines));
        StringAssert.Contains(fresh[0], "(seed 3): classifier.bias, classifier.weight;");
        Assert.DoesNotContain("pooler", fresh[0], "the MiniLM export has its pooler");
    }
}
