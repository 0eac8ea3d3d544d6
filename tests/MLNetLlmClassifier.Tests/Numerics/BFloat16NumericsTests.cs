using System.Text.Json.Nodes;
using Microsoft.ML;
using MLNetLlmClassifier.Bert;
using MLNetLlmClassifier.Cli;
using MLNetLlmClassifier.Families;
using MLNetLlmClassifier.Qwen3;
using MLNetLlmClassifier.Text;
using MLNetLlmClassifier.Training;
using TorchSharp;
using static MLNetLlmClassifier.Tests.Qwen3.PromptedDecoderTestData;
using static TorchSharp.torch;

namespace MLNetLlmClassifier.Tests.Numerics;

/// <summary>
/// bfloat16 held to what transformers itself achieves in bfloat16 (../shared/fixtures/hf-parity/*/expected-bf16.json: the same
/// tiny models run by transformers in bf16, and their distance from its fp32 outputs), the loss computed from bf16 logits in
/// float32, and training in bf16 end to end for every family trained from a checkpoint.
/// </summary>
/// <remarks>
/// Earlier bf16 checks used loose absolute bounds (0.05 on logits, 5% of the loss) that passed on deliberately broken code
/// (RMSNorm statistics in bf16, the loss's log_softmax in bf16). Here the bound is <see cref="Factor"/> times transformers' own
/// worst bf16 error per output, a bound that RMSNorm statistics in bf16 break (see <see cref="Factor"/>).
/// </remarks>
[TestClass]
public class BFloat16NumericsTests
{
    /// <summary>
    /// How much worse than transformers' own bf16 error ours may be (bf16 kernels and summation orders differ between libraries).
    /// Measured on this machine kind: ours is 0.95× transformers' error on Qwen3's tracked logits and 1.02× on its final hidden
    /// state, 1.00× on every BERT output; with RMSNorm statistics computed in bf16 (a deliberate breakage) it was 1.57× and 1.23×.
    /// </summary>
    private const double Factor = 1.3, HiddenFactor = 1.15;

    private static string Fixture(string model, string file) => TestPaths.Shared("fixtures", "hf-parity", model, file);
    private static JsonNode Json(string model, string file) => JsonNode.Parse(File.ReadAllText(Fixture(model, file)))!;
    private static double[] Doubles(JsonNode? n) => n!.AsArray().Select(x => x!.GetValue<double>()).ToArray();
    private static long[] Longs(JsonNode? n) => n!.AsArray().Select(x => x!.GetValue<long>()).ToArray();

    private static double MaxAbsDiff(double[] expected, Tensor actual)
    {
        var got = actual.to(ScalarType.Float64).cpu().data<double>().ToArray();
        Assert.HasCount(expected.Length, got);
        return expected.Zip(got, (e, g) => Math.Abs(e - g)).Max();
    }

    [TestMethod]
    public void Qwen3Bf16IsNoFurtherFromFp32ThanTransformersOwnBf16()
    {
        const string model = "qwen3-tiny-a";
        var inputs = Json(model, "inputs.json");
        var fp32 = Json(model, "expected.json")["sequences"]!.AsArray();
        var worst = Json(model, "expected-bf16.json")["worst_distance_from_fp32"]!;
        var tracked = tensor(Longs(inputs["tracked_token_ids"]));
        using var net = Qwen3ForCausalLM.FromPretrained(Fixture(model, ""), CPU, ScalarType.BFloat16);
        using var noGrad = no_grad();
        double logitsWorst = 0, hiddenWorst = 0;
        foreach (var (seq, i) in inputs["sequences"]!.AsArray().Select((s, i) => (s!, i)))
        {
            using var scope = NewDisposeScope();
            var ids = tensor(Longs(seq["input_ids"])).unsqueeze(0);
            var hidden = net.HiddenStates(ids);
            int last = (int)ids.shape[1] - 1;
            var logits = net.LogitsAt(hidden, tensor(new long[] { last }), tracked)[0];
            logitsWorst = Math.Max(logitsWorst, MaxAbsDiff(Doubles(fp32[i]!["last_logits_tracked"]), logits));
            hiddenWorst = Math.Max(hiddenWorst, MaxAbsDiff(Doubles(fp32[i]!["last_hidden_state_last"]), hidden[0, last]));
        }
        double hfLogits = worst["last_logits_tracked"]!.GetValue<double>(), hfHidden = worst["last_hidden_state_last"]!.GetValue<double>();
        Console.WriteLine($"Qwen3 bf16 vs fp32: logits {logitsWorst:E2} (transformers {hfLogits:E2}), hidden {hiddenWorst:E2} (transformers {hfHidden:E2})");
        Assert.IsLessThanOrEqualTo(Factor * hfLogits, logitsWorst, $"tracked logits: ours {logitsWorst:E2}, transformers' own bf16 error {hfLogits:E2}");
        Assert.IsLessThanOrEqualTo(HiddenFactor * hfHidden, hiddenWorst, $"final hidden: ours {hiddenWorst:E2}, transformers' own bf16 error {hfHidden:E2}");
        Assert.IsGreaterThan(0, logitsWorst, "the bf16 run must actually differ from fp32 (was it run in fp32?)");
    }

    [TestMethod]
    public void BertBf16IsNoFurtherFromFp32ThanTransformersOwnBf16()
    {
        const string model = "bert-tiny-a";
        var inputs = Json(model, "inputs.json");
        var fp32 = Json(model, "expected.json")["sequences"]!.AsArray();
        var worst = Json(model, "expected-bf16.json")["worst_distance_from_fp32"]!;
        using var net = BertForSequenceClassification.FromPretrained(Fixture(model, ""), numLabels: 4, CPU);
        net.to(ScalarType.BFloat16);
        net.eval();
        using var noGrad = no_grad();
        var ours = new Dictionary<string, double> { ["logits"] = 0, ["pooler_output"] = 0, ["last_hidden_state_0"] = 0 };
        foreach (var (seq, i) in inputs["sequences"]!.AsArray().Select((s, i) => (s!, i)))
        {
            using var scope = NewDisposeScope();
            var output = net.forward(tensor(Longs(seq["input_ids"])).unsqueeze(0), null, tensor(Longs(seq["token_type_ids"])).unsqueeze(0));
            ours["logits"] = Math.Max(ours["logits"], MaxAbsDiff(Doubles(fp32[i]!["logits"]), output.Logits[0]));
            ours["pooler_output"] = Math.Max(ours["pooler_output"], MaxAbsDiff(Doubles(fp32[i]!["pooler_output"]), output.PooledOutput[0]));
            ours["last_hidden_state_0"] = Math.Max(ours["last_hidden_state_0"], MaxAbsDiff(Doubles(fp32[i]!["last_hidden_state_0"]), output.LastHiddenState[0, 0]));
        }
        foreach (var (field, value) in ours)
        {
            double hf = worst[field]!.GetValue<double>();
            Console.WriteLine($"BERT bf16 vs fp32 {field}: {value:E2} (transformers {hf:E2})");
            Assert.IsLessThanOrEqualTo(Factor * hf, value, $"{field}: ours {value:E2}, transformers' own bf16 error {hf:E2}");
        }
    }

    [TestMethod]
    public void TheBf16LossIsTheFloat32LogSoftmaxOfTheBf16Logits()
    {
        using var folder = new Qwen3.TinyQwen3Folder(seed: 4);
        using var model = PromptedDecoderClassifierModel.Create(folder.Path, ["w", "x", "y", "z"], "{text}\n{options}\nAnswer:", null,
            ["w", "x", "y", "z"], CPU, ScalarType.BFloat16, 128, TruncationSide.Right, null);
        using var scope = NewDisposeScope();
        var rows = new[] { "a rocket in orbit", "stocks and profit rose" }.Select(t => model.Encode(t, null)).ToArray();
        long[] labels = [1, 3];
        var loss = model.Loss(rows, labels, new LossSettings(null, 0)).item<float>();
        // Independent: the same bf16 logits at the answer positions, log_softmax in float64.
        var net = (Qwen3ForCausalLM)model.Module;
        double expected = 0;
        for (int b = 0; b < rows.Length; b++)
        {
            var marker = model.Prompt.MarkerIds[labels[b]];
            int[] ids = [.. rows[b].InputIds, .. marker];
            var targets = marker.Append(model.Prompt.EndOfTurnId).ToArray();
            var hidden = net.HiddenStates(tensor(ids.Select(i => (long)i).ToArray()).unsqueeze(0));
            var positions = tensor(Enumerable.Range(rows[b].Length - 1, targets.Length).Select(p => (long)p).ToArray()).unsqueeze(0);
            var lp = nn.functional.log_softmax(net.LogitsAt(hidden, positions)[0].to(ScalarType.Float64), -1);
            expected += targets.Select((t, j) => -lp[j, t].item<double>()).Average() / rows.Length;
        }
        // The loss is a float32 reduction of float32 log-probabilities: 1e-5 relative. A bf16 log_softmax is off by ~1e-2.
        Assert.AreEqual(expected, loss, 1e-5 * Math.Abs(expected) + 1e-6, "loss from bf16 logits");
    }

    public static IEnumerable<object[]> CheckpointFamilies
    {
        get
        {
            CliFamilies.EnsureRegistered();
            return ClassifierFamilies.All.Where(f => f.UsesCheckpoint).Select(f => new object[] { f.Name });
        }
    }

    /// <summary>
    /// Every family trained from a checkpoint trains in bf16 end to end on a keyword task: the loss falls and stays finite, the
    /// model stays in bf16 (fp32 master weights live in the optimizer, see <c>AdamWTests</c>), gradient clipping is active
    /// (max norm 0.1, below the gradients' norm) and the best evaluation is restored.
    /// </summary>
    [TestMethod]
    [DynamicData(nameof(CheckpointFamilies))]
    public void EveryCheckpointFamilyTrainsInBf16(string familyName)
    {
        var family = ClassifierFamilies.Get(familyName);
        using var models = new TempFolder();
        var options = (TransformerTrainerOptions)Families.FamilyConformanceTests.QuickOptions(family, models.Path);
        // 16 rows learnt by heart in 20 full-batch steps: cheap, and the loss must fall far.
        options.Precision = Precision.BFloat16;
        options.BatchSize = 16;
        options.NumberOfEpochs = 20;
        options.LearningRate = 5e-3;
        options.Schedule = LearningRateSchedule.Constant;
        options.MaxGradientNorm = 0.1;
        options.EvaluationSteps = 5;
        var ml = new MLContext(seed: 1);
        var train = Keywords(TopicClasses, TopicKeywords, 16, seed: 1);
        options.ValidationSet = ml.Transforms.Conversion.MapValueToKey("Label").Fit(ml.Data.LoadFromEnumerable(train))
            .Transform(ml.Data.LoadFromEnumerable(train));
        var norms = new List<double>();
        options.Progress = new MLNetLlmClassifier.Cli.Commands.CliCommon.InlineProgress<TrainingProgress>(p => { if (p.Kind == TrainingEventKind.Step) norms.Add(p.GradientNorm); });
        var pipeline = Pipeline(ml, family.CreateEstimator(ml, options)).Fit(ml.Data.LoadFromEnumerable(train));
        var classifier = Classifier(pipeline);
        try
        {
            var summary = classifier.TrainingSummary!;
            var losses = summary.StepLosses;
            Console.WriteLine($"{familyName} bf16: {summary.Steps} steps, loss {losses[0]:F3} -> {losses[^1]:F3}, best macro-F1 {summary.Best?.MacroF1:F3} at step {summary.Best?.Step}, grad norms {norms.Min():F2}..{norms.Max():F2}");
            Assert.AreEqual("BFloat16", classifier.Precision);
            Assert.IsTrue(losses.All(float.IsFinite), "every step's loss is finite");
            Assert.IsLessThan(losses.Take(3).Average() * 0.5, losses.TakeLast(3).Average(), "the loss falls");
            Assert.IsTrue(norms.Any(n => n > options.MaxGradientNorm), "gradients above the clipping norm: clipping was exercised");
            Assert.IsNotNull(summary.Best);
            Assert.IsGreaterThanOrEqualTo(2, summary.Evaluations.Count);
            Assert.IsTrue(classifier.Model.Module.parameters().All(p => p.dtype == ScalarType.BFloat16), "the model's parameters stay bf16");
        }
        finally
        {
            DisposeAll(pipeline);
        }
    }
}
