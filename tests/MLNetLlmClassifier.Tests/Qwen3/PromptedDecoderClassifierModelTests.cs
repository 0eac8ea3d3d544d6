using MLNetLlmClassifier.Qwen3;
using MLNetLlmClassifier.Text;
using MLNetLlmClassifier.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetLlmClassifier.Tests.Qwen3;

/// <summary>
/// The loss and the scores of <see cref="PromptedDecoderClassifierModel"/> against an independent computation from the
/// full-vocabulary logits of the whole sequence (<see cref="Qwen3ForCausalLM.Logits"/>), on a tiny random Qwen3.
/// </summary>
[TestClass]
public class PromptedDecoderClassifierModelTests
{
    private static TinyQwen3Folder _folder = null!;
    private static PromptedDecoderClassifierModel _single = null!;
    private static PromptedDecoderClassifierModel _multi = null!;

    private const string Template = "{text}\n{options}\nAnswer:";
    private static readonly string[] Texts = ["a rocket in orbit", "", "the bank said today that stocks and profit rose in the city this week"];

    [ClassInitialize]
    public static void Load(TestContext _)
    {
        _folder = new TinyQwen3Folder(seed: 3);
        _single = PromptedDecoderClassifierModel.Create(_folder.Path, ["w", "x", "y", "z"], Template, null, ["w", "x", "y", "z"],
            CPU, ScalarType.Float32, 128, TruncationSide.Right, null);
        _multi = PromptedDecoderClassifierModel.Create(_folder.Path, ["yes", "no", "maybe"], Template, ["Yes please", "No thanks", "Maybe"],
            ["yes", "no", "maybe"], CPU, ScalarType.Float32, 128, TruncationSide.Right, null);
    }

    [ClassCleanup]
    public static void Cleanup()
    {
        _single?.Dispose();
        _multi?.Dispose();
        _folder?.Dispose();
    }

    /// <summary>
    /// Full-vocabulary log-probabilities [count,V] at positions from..from+count-1 of a single unpadded sequence: the final hidden
    /// states times the whole LM head, without padding, masks or <see cref="Qwen3ForCausalLM.LogitsAt"/>.
    /// </summary>
    private static Tensor LogProbs(PromptedDecoderClassifierModel model, int[] ids, int from, int count)
    {
        var net = (Qwen3ForCausalLM)model.Module;
        var hidden = net.HiddenStates(tensor(ids.Select(i => (long)i).ToArray()).unsqueeze(0))[0].narrow(0, from, count);
        return nn.functional.log_softmax(nn.functional.linear(hidden, net.LmHeadWeight), -1);
    }

    /// <summary>Per-token answer NLLs (marker tokens, then &lt;|im_end|&gt;) of one row, and the log-probabilities at the answer position.</summary>
    private static (double[] Nll, float[] First) AnswerNll(PromptedDecoderClassifierModel model, EncodedExample row, int label)
    {
        var marker = model.Prompt.MarkerIds[label];
        var targets = marker.Append(model.Prompt.EndOfTurnId).ToArray();
        var lp = LogProbs(model, [.. row.InputIds, .. marker], row.Length - 1, targets.Length);
        return (targets.Select((t, j) => -(double)lp[j, t].item<float>()).ToArray(), lp[0].data<float>().ToArray());
    }

    private static double ExpectedRowLoss(PromptedDecoderClassifierModel model, EncodedExample row, int label, double smoothing)
    {
        var (nll, first) = AnswerNll(model, row, label);
        if (smoothing > 0)
        {
            double optionNll = model.Prompt.FirstTokenIds.Average(t => -(double)first[t]);
            nll[0] = (1 - smoothing) * nll[0] + smoothing * optionNll;
        }
        return nll.Average();
    }

    [TestMethod]
    public void TheLossIsTheAnswerTokensCrossEntropyOverTheVocabulary()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        foreach (var model in new[] { _single, _multi })
        {
            var rows = Texts.Select(t => model.Encode(t, null)).ToArray();
            long[] labels = [2, 0, 1];
            double expected = rows.Select((r, i) => ExpectedRowLoss(model, r, (int)labels[i], 0)).Average();
            double actual = model.Loss(rows, labels, new LossSettings(null, 0)).item<float>();
            Assert.AreEqual(expected, actual, 1e-4, model.Prompt.SingleTokenMarkers ? "single-token markers" : "multi-token markers");
        }
        Assert.AreEqual(3, _multi.Prompt.AnswerLength, "'Yes please' is two tokens, then <|im_end|>");
    }

    [TestMethod]
    public void ClassWeightsWeightEachRowByItsClass()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var rows = Texts.Select(t => _single.Encode(t, null)).ToArray();
        long[] labels = [3, 0, 3];
        float[] weights = [0.5f, 1f, 2f, 4f];
        var rowLoss = rows.Select((r, i) => ExpectedRowLoss(_single, r, (int)labels[i], 0)).ToArray();
        double expected = rowLoss.Select((l, i) => l * weights[labels[i]]).Sum() / labels.Sum(l => weights[l]);
        double actual = _single.Loss(rows, labels, new LossSettings(tensor(weights), 0)).item<float>();
        Assert.AreEqual(expected, actual, 1e-4);
        Assert.AreNotEqual(rowLoss.Average(), actual, 1e-3, "the weights change the loss");
    }

    [TestMethod]
    public void LabelSmoothingSpreadsOverTheOptionTokensNotTheVocabulary()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        foreach (var model in new[] { _single, _multi })
        {
            var rows = Texts.Select(t => model.Encode(t, null)).ToArray();
            long[] labels = [1, 2, 0];
            double expected = rows.Select((r, i) => ExpectedRowLoss(model, r, (int)labels[i], 0.2)).Average();
            double actual = model.Loss(rows, labels, new LossSettings(null, 0.2)).item<float>();
            Assert.AreEqual(expected, actual, 1e-4);
        }
    }

    [TestMethod]
    public void BFloat16GivesTheFloat32LossAndScoresToBf16Precision()
    {
        using var bf16 = PromptedDecoderClassifierModel.Create(_folder.Path, ["w", "x", "y", "z"], Template, null, ["w", "x", "y", "z"],
            CPU, ScalarType.BFloat16, 128, TruncationSide.Right, null);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var rows = Texts.Select(t => _single.Encode(t, null)).ToArray();
        var loss32 = _single.Loss(rows, [0, 1, 2], new LossSettings(null, 0));
        var loss16 = bf16.Loss(rows, [0, 1, 2], new LossSettings(null, 0));
        Assert.AreEqual(ScalarType.Float32, loss16.dtype, "the loss is computed in float32 from bf16 logits");
        Assert.AreEqual(loss32.item<float>(), loss16.item<float>(), 0.05 * loss32.item<float>());
        var p32 = _single.ClassLogProbabilities(rows).exp();
        var p16 = bf16.ClassLogProbabilities(rows).exp();
        Assert.AreEqual(ScalarType.Float32, p16.dtype);
        Assert.IsLessThan(0.02, (p32 - p16).abs().max().item<float>());
    }

    [TestMethod]
    public void ABFloat16ModelIsSavedInBFloat16AndReloadsWithItsPrompt()
    {
        using var bf16 = PromptedDecoderClassifierModel.Create(_folder.Path, ["w", "x", "y", "z"], Template, null, ["w", "x", "y", "z"],
            CPU, ScalarType.BFloat16, 128, TruncationSide.Left, null);
        using var temp = new TempFolder();
        bf16.SaveModelFolder(temp.Path);
        var config = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(temp.Path, "config.json")))!;
        Assert.AreEqual("bfloat16", config["torch_dtype"]!.GetValue<string>());
        using (var weights = MLNetLlmClassifier.Checkpoints.HfModelFolder.OpenWeights(temp.Path))
            Assert.AreEqual(ScalarType.BFloat16, weights.Info("model.embed_tokens.weight").ScalarType);

        using var reloaded = (PromptedDecoderClassifierModel)MLNetLlmClassifier.Families.ClassifierFamilies.LoadClassifier(temp.Path, CPU);
        Assert.AreEqual(ScalarType.Float32, ((Qwen3ForCausalLM)reloaded.Module).Dtype, "bfloat16 weights are widened (exactly) on a CPU");
        Assert.AreEqual(TruncationSide.Left, reloaded.Prompt.Truncation);
        Assert.AreEqual(bf16.Prompt.Render("t"), reloaded.Prompt.Render("t"));
        CollectionAssert.AreEqual(bf16.Prompt.Markers.ToArray(), reloaded.Prompt.Markers.ToArray());
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var net16 = (Qwen3ForCausalLM)bf16.Module;
        var net32 = (Qwen3ForCausalLM)reloaded.Module;
        Assert.AreEqual(0f, (net16.LmHeadWeight.to(ScalarType.Float32) - net32.LmHeadWeight).abs().max().item<float>());
    }

    [TestMethod]
    public void SingleTokenScoresAreTheSoftmaxOfTheOptionLogitsAtTheAnswerPosition()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var rows = Texts.Select(t => _single.Encode(t, null)).ToArray();
        var batch = _single.ClassLogProbabilities(rows);
        for (int i = 0; i < rows.Length; i++)
        {
            var lp = LogProbs(_single, rows[i].InputIds, rows[i].Length - 1, 1)[0];
            var options = lp.index_select(0, tensor(_single.Prompt.FirstTokenIds.Select(t => (long)t).ToArray()));
            var expected = nn.functional.log_softmax(options, 0);
            Assert.IsLessThan(1e-5, (expected - batch[i]).abs().max().item<float>(), $"row {i}");
        }
    }

    [TestMethod]
    public void MultiTokenScoresAreTheSummedAnswerLogLikelihoods()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var rows = Texts.Select(t => _multi.Encode(t, null)).ToArray();
        var batch = _multi.ClassLogProbabilities(rows);   // padded batch of three rows, 2 + 1 + 0 extra rows each
        for (int i = 0; i < rows.Length; i++)
        {
            var loglik = new double[3];
            for (int c = 0; c < 3; c++)
            {
                var marker = _multi.Prompt.MarkerIds[c];
                var lp = LogProbs(_multi, [.. rows[i].InputIds, .. marker], rows[i].Length - 1, marker.Length);
                for (int j = 0; j < marker.Length; j++) loglik[c] += lp[j, marker[j]].item<float>();
            }
            double norm = Math.Log(loglik.Sum(Math.Exp));
            for (int c = 0; c < 3; c++)
                Assert.AreEqual(loglik[c] - norm, batch[i, c].item<float>(), 1e-4, $"row {i} option {c}");
            var alone = _multi.ClassLogProbabilities([rows[i]]);
            Assert.IsLessThan(1e-5, (alone[0] - batch[i]).abs().max().item<float>(), $"row {i}: padded batch = alone");
        }
    }

    [TestMethod]
    public void TheOptionsLossIsTheCrossEntropyOfTheScoresClassificationReads()
    {
        using var scope = NewDisposeScope();
        using var options = PromptedDecoderClassifierModel.Create(_folder.Path, ["w", "x", "y", "z"], Template, null, ["w", "x", "y", "z"],
            CPU, ScalarType.Float32, 128, TruncationSide.Right, null, AnswerLoss.Options);
        var rows = Texts.Select(t => options.Encode(t, null)).ToArray();
        long[] labels = [2, 0, 3];
        float[] weights = [1, 2, 0.5f, 3];
        var logp = options.ClassLogProbabilities(rows).detach();
        // Independent: mean over rows of -log p(label) from the classification scores, then weighted and smoothed as cross_entropy.
        double plain = -Enumerable.Range(0, 3).Average(i => (double)logp[i, labels[i]].item<float>());
        Assert.AreEqual(plain, options.Loss(rows, labels, new LossSettings(null, 0)).item<float>(), 1e-5, "plain");
        double wsum = labels.Sum(l => (double)weights[l]);
        double weighted = -Enumerable.Range(0, 3).Sum(i => weights[labels[i]] * (double)logp[i, labels[i]].item<float>()) / wsum;
        Assert.AreEqual(weighted, options.Loss(rows, labels, new LossSettings(tensor(weights), 0)).item<float>(), 1e-5, "class weights");
        double eps = 0.2;
        double smoothed = Enumerable.Range(0, 3).Average(i => -(1 - eps) * logp[i, labels[i]].item<float>() - eps * logp[i].mean().item<float>());
        Assert.AreEqual(smoothed, options.Loss(rows, labels, new LossSettings(null, eps)).item<float>(), 1e-5, "label smoothing over the options");
        // And it is not the full-vocabulary objective.
        double full = _single.Loss(rows, labels, new LossSettings(null, 0)).item<float>();
        Assert.IsGreaterThan(0.5, Math.Abs(full - plain), $"the options loss {plain} should differ from the vocabulary loss {full}");
    }

    [TestMethod]
    public void ASecondTextColumnIsRefused() =>
        Assert.ThrowsExactly<ArgumentException>(() => _single.Encode("a", "b"));
}
