using Microsoft.ML;
using MLNetLlmClassifier.MLNet;
using MLNetLlmClassifier.Qwen3;
using MLNetLlmClassifier.Text;
using MLNetLlmClassifier.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetLlmClassifier.Tests.Qwen3;

/// <summary>
/// <see cref="PromptedDecoderClassifierTrainer.Options.ReusePromptPrefix"/>: the tokens every prompt starts with run once and the
/// rows attend to their keys and values. Held to the plain forward of the whole rows (a second model with the same weights and
/// the option off) within 1e-5 in float32, on a tiny random Qwen3 with the reference prompt.
/// </summary>
[TestClass]
public class PromptPrefixReuseTests
{
    private static TinyQwen3Folder _folder = null!;
    private static PromptedDecoderClassifierModel _reuse = null!, _plain = null!;

    private static readonly string[] Classes = ["World", "Sports", "Business", "Sci/Tech"];
    private static readonly string[] Texts =
    [
        "Stocks rose on Monday after the central bank kept interest rates unchanged.",
        "The home team won the final in extra time.",
        "",
        "NASA said the probe reached orbit around the moon late on Friday, ending a journey of four months.",
    ];

    [ClassInitialize]
    public static void Load(TestContext _)
    {
        _folder = new TinyQwen3Folder(seed: 4);
        _reuse = Create(AnswerLoss.FullVocabulary, reuse: true);
        _plain = Create(AnswerLoss.FullVocabulary, reuse: false);
    }

    [ClassCleanup]
    public static void Cleanup()
    {
        _reuse?.Dispose();
        _plain?.Dispose();
        _folder?.Dispose();
    }

    private static PromptedDecoderClassifierModel Create(AnswerLoss loss, bool reuse) =>
        PromptedDecoderClassifierModel.Create(_folder.Path, Classes, PromptedDecoderClassifierTrainer.Options.DefaultTemplate, null, Classes,
            CPU, ScalarType.Float32, 256, TruncationSide.Right, null, loss, reuse);

    private static EncodedExample[] Rows(params string[] texts) => texts.Select(t => _plain.Encode(t, null)).ToArray();

    private static void AssertClose(Tensor expected, Tensor actual, double tolerance, string what)
    {
        CollectionAssert.AreEqual(expected.shape, actual.shape, what);
        double diff = (expected - actual).abs().max().item<float>();
        Assert.IsLessThan(tolerance, diff, $"{what}: largest difference {diff}");
    }

    private static void AssertScoresEqualThePlainForward(EncodedExample[] rows, string what) =>
        AssertClose(_plain.ClassLogProbabilities(rows), _reuse.ClassLogProbabilities(rows), 1e-5, what);

    [TestMethod]
    public void HiddenStatesAfterAPrefixAreThoseOfTheWholeRows()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var net = (Qwen3ForCausalLM)_plain.Module;
        int[] prefix = [9707, 11, 1879, 0, 33, 2810, 4532, 17, 5, 1414, 13, 3555];
        int[][] rests = [[40, 41, 42, 43, 44], [50, 51, 52, 53, 54, 55, 56, 57, 58], [60]];
        var kv = net.PrefixKeysValues(prefix);
        Assert.AreEqual(prefix.Length, kv.Length);
        foreach (bool padded in new[] { true, false })
        {
            var rows = padded ? rests : rests.Select(r => r.Take(1).ToArray()).ToArray();
            int s = rows.Max(r => r.Length), t = prefix.Length + s;
            var (whole, wholeMask) = Batch(rows.Select(r => prefix.Concat(r).ToArray()).ToArray(), t);
            var (rest, restMask) = Batch(rows, s);
            var expected = net.HiddenStates(whole, padded ? wholeMask : null);
            var actual = net.HiddenStatesAfter(kv, rest, padded ? restMask : null);
            for (int b = 0; b < rows.Length; b++)
                AssertClose(expected[b].narrow(0, prefix.Length, rows[b].Length), actual[b].narrow(0, 0, rows[b].Length), 1e-5,
                    $"row {b} ({(padded ? "right-padded" : "no padding")})");
        }

        static (Tensor Ids, Tensor Mask) Batch(int[][] rows, int t)
        {
            var ids = new long[rows.Length, t];
            var mask = new long[rows.Length, t];
            for (int b = 0; b < rows.Length; b++)
                for (int i = 0; i < rows[b].Length; i++) (ids[b, i], mask[b, i]) = (rows[b][i], 1);
            return (tensor(ids), tensor(mask));
        }
    }

    [TestMethod]
    public void ABatchOfDifferentLengthsScoresAsTheWholePrompts()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var rows = Rows(Texts);
        Assert.IsGreaterThan(1, rows.Select(r => r.Length).Distinct().Count(), "rows of different lengths (right-padded)");
        AssertScoresEqualThePlainForward(rows, "padded batch");
        // 19 of the prefix's 20 tokens: the empty text merges "Article:\n" with the "\n\n" after it.
        Assert.IsGreaterThanOrEqualTo(_reuse.Prompt.PrefixIds.Count - 1, _reuse.LastSharedPrefix, "the chat header and the instruction ran once");
        Assert.AreEqual(0, _plain.LastSharedPrefix, "with the option off the rows run whole");
    }

    [TestMethod]
    public void ATextThatMergesWithThePrefixsLastTokenIsScoredExactly()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        // "Article:\n" ends the prompt's beginning; a text starting with a newline merges with it into another token.
        var rows = Rows("\nBreaking: markets fell sharply.", Texts[0], Texts[1]);
        var prefixIds = _reuse.Prompt.PrefixIds;
        Assert.IsFalse(rows[0].InputIds.Take(prefixIds.Count).SequenceEqual(prefixIds), "the first row does not start with the prefix's own tokens");
        Assert.IsTrue(rows[1].InputIds.Take(prefixIds.Count).SequenceEqual(prefixIds));
        foreach (bool final in new[] { false, true })
        {
            _reuse.WeightsFinal = final;
            try
            {
                AssertScoresEqualThePlainForward(rows, final ? "from the cache, narrowed" : "the batch's common prefix");
                Assert.IsTrue(_reuse.LastSharedPrefix is >= PromptedDecoderClassifierModel.MinSharedPrefix && _reuse.LastSharedPrefix < prefixIds.Count,
                    $"shared {_reuse.LastSharedPrefix} of the prefix's {prefixIds.Count} tokens");
            }
            finally { _reuse.WeightsFinal = false; }
        }
    }

    [TestMethod]
    public void OneRowUsesTheCachedPrefixOnceTheWeightsAreFinal()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var row = Rows(Texts[3]);
        AssertScoresEqualThePlainForward(row, "one row, nothing to share");
        Assert.AreEqual(0, _reuse.LastSharedPrefix, "a lone row has nobody to share its prefix with");
        _reuse.WeightsFinal = true;
        try
        {
            AssertScoresEqualThePlainForward(row, "one row, cached prefix");
            Assert.AreEqual(_reuse.Prompt.PrefixIds.Count, _reuse.LastSharedPrefix);
        }
        finally { _reuse.WeightsFinal = false; }
    }

    [TestMethod]
    public void ASecondBatchHitsTheCacheUntilTheWeightsChange()
    {
        using var reuse = Create(AnswerLoss.FullVocabulary, reuse: true);
        using var plain = Create(AnswerLoss.FullVocabulary, reuse: false);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        reuse.WeightsFinal = true;
        foreach (var batch in new[] { Rows(Texts[0], Texts[1]), Rows(Texts[2], Texts[3], Texts[0]) })
            AssertClose(plain.ClassLogProbabilities(batch), reuse.ClassLogProbabilities(batch), 1e-5, "cache hit");
        Assert.AreEqual(1, reuse.PrefixCache.Computations, "the second batch reused the first one's keys and values");

        // Changing the weights in place: whoever does it clears WeightsFinal first, which drops the cache.
        reuse.WeightsFinal = false;
        foreach (var model in new[] { reuse, plain })
            ((Qwen3ForCausalLM)model.Module).model.layers[0].self_attn.k_proj.weight!.mul_(1.5);
        reuse.WeightsFinal = true;
        var rows = Rows(Texts[1], Texts[3]);
        AssertClose(plain.ClassLogProbabilities(rows), reuse.ClassLogProbabilities(rows), 1e-5, "after the weights changed");
        Assert.AreEqual(2, reuse.PrefixCache.Computations);

        reuse.Loss(rows, [0, 1], new LossSettings(null, 0));
        Assert.IsFalse(reuse.WeightsFinal, "a training loss means the weights are about to change");
    }

    [TestMethod]
    public void MultiTokenMarkersShareThePrefixInTheirContinuations()
    {
        string[] markers = ["Yes please", "No thanks", "Maybe", "Other"];
        using var reuse = PromptedDecoderClassifierModel.Create(_folder.Path, Classes, PromptedDecoderClassifierTrainer.Options.DefaultTemplate, markers,
            Classes, CPU, ScalarType.Float32, 256, TruncationSide.Right, null);
        using var plain = PromptedDecoderClassifierModel.Create(_folder.Path, Classes, PromptedDecoderClassifierTrainer.Options.DefaultTemplate, markers,
            Classes, CPU, ScalarType.Float32, 256, TruncationSide.Right, null, reusePromptPrefix: false);
        Assert.IsFalse(reuse.Prompt.SingleTokenMarkers);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var rows = Texts.Select(t => plain.Encode(t, null)).ToArray();
        AssertClose(plain.ClassLogProbabilities(rows), reuse.ClassLogProbabilities(rows), 1e-5, "multi-token markers");
        Assert.IsGreaterThanOrEqualTo(reuse.Prompt.PrefixIds.Count - 1, reuse.LastSharedPrefix, "the continuation rows shared the prefix too");
    }

    [TestMethod]
    public void TrainingLossesAndGradientsEqualThePlainPath()
    {
        foreach (var loss in new[] { AnswerLoss.FullVocabulary, AnswerLoss.Options })
        {
            using var reuse = Create(loss, reuse: true);
            using var plain = Create(loss, reuse: false);
            using var scope = NewDisposeScope();
            var rows = Rows(Texts);
            long[] labels = [2, 1, 0, 3];
            var settings = new LossSettings(null, 0.1);
            var (lossReuse, lossPlain) = (reuse.Loss(rows, labels, settings), plain.Loss(rows, labels, settings));
            Assert.IsGreaterThanOrEqualTo(reuse.Prompt.PrefixIds.Count - 1, reuse.LastSharedPrefix, $"{loss}: the prefix ran once in training");
            Assert.AreEqual(lossPlain.item<float>(), lossReuse.item<float>(), 1e-5, $"{loss}: loss");
            lossReuse.backward();
            lossPlain.backward();
            var plainGrads = plain.Module.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad);
            foreach (var (name, p) in reuse.Module.named_parameters())
            {
                var expected = plainGrads[name]!;
                double scale = Math.Max(1e-3, expected.abs().max().item<float>());
                AssertClose(expected / scale, p.grad! / scale, 1e-4, $"{loss}: gradient of {name} (relative to its largest entry {scale:G3})");
            }
        }
    }

    [TestMethod]
    public void APredictionEngineScoresEachRowFromOneComputationOfThePrefix()
    {
        var env = new MLContext(seed: 1);
        var model = Create(AnswerLoss.FullVocabulary, reuse: true);
        using var transformer = new TextClassifierTransformer(env, model, new ClassifierColumns("Text", null, "Score", "PredictedLabel"), Classes, 8, null);
        Assert.IsTrue(model.WeightsFinal, "a fitted or loaded transformer's weights are final");
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        foreach (var text in Texts)
        {
            var expected = _plain.ClassLogProbabilities(Rows(text)).exp();
            AssertClose(expected[0], tensor(transformer.Predict([text])[0]), 1e-5, $"'{text}' scored alone");
        }
        Assert.AreEqual(1, model.PrefixCache.Computations);
    }

    [TestMethod]
    public void TheOptionIsSavedWithTheModel()
    {
        using var temp = new TempFolder();
        _plain.SaveModelFolder(temp.Path);
        using var reloaded = (PromptedDecoderClassifierModel)MLNetLlmClassifier.Families.ClassifierFamilies.LoadClassifier(temp.Path, CPU);
        Assert.IsFalse(reloaded.ReusePromptPrefix);
        Assert.IsTrue(new PromptedDecoderClassifierTrainer.Options().ReusePromptPrefix, "on by default");
    }
}
