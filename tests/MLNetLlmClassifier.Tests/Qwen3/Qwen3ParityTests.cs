using System.Text.Json;
using MLNetLlmClassifier.Qwen3;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetLlmClassifier.Tests.Qwen3;

/// <summary>
/// Numerical parity with Hugging Face transformers 4.57.6 on the fixture hf-parity/qwen3-tiny-a (random weights with perturbed
/// norms, float32, eager attention): every sequence alone and every row of the right-padded batch, to 1e-4 absolute.
/// </summary>
[TestClass]
public class Qwen3ParityTests
{
    private const double Tolerance = 1e-4;
    private static Qwen3ForCausalLM? model;
    private static JsonDocument? inputs, expected;

    private static string Fixture(string file) => TestPaths.Shared("fixtures", "hf-parity", "qwen3-tiny-a", file);

    [ClassInitialize]
    public static void Load(TestContext _)
    {
        model = Qwen3ForCausalLM.FromPretrained(Fixture(""), CPU, ScalarType.Float32);
        inputs = JsonDocument.Parse(File.ReadAllBytes(Fixture("inputs.json")));
        expected = JsonDocument.Parse(File.ReadAllBytes(Fixture("expected.json")));
    }

    [ClassCleanup]
    public static void Cleanup()
    {
        model?.Dispose();
        inputs?.Dispose();
        expected?.Dispose();
    }

    private static Qwen3ForCausalLM Model => model!;
    private static JsonElement Inputs => inputs!.RootElement;
    private static JsonElement Expected => expected!.RootElement;
    private static long[] TrackedIds => Inputs.GetProperty("tracked_token_ids").EnumerateArray().Select(e => e.GetInt64()).ToArray();
    private static double[] Doubles(JsonElement e) => e.EnumerateArray().Select(x => x.GetDouble()).ToArray();

    private static void AssertClose(double[] expectedValues, Tensor actual, string what)
    {
        var got = actual.to(ScalarType.Float64).cpu().data<double>().ToArray();
        Assert.HasCount(expectedValues.Length, got, what);
        int worst = Enumerable.Range(0, got.Length).MaxBy(i => Math.Abs(got[i] - expectedValues[i]));
        double diff = Math.Abs(got[worst] - expectedValues[worst]);
        Assert.IsLessThanOrEqualTo(Tolerance, diff, $"{what}: worst at [{worst}] expected {expectedValues[worst]}, got {got[worst]}");
    }

    // Checks one sequence's outputs: hidden [T,D] and logits [T,V] of its real positions.
    private static void CheckSequence(JsonElement exp, JsonElement alone, Tensor hidden, Tensor logits, string what)
    {
        int t = (int)hidden.shape[0];
        Assert.AreEqual(exp.GetProperty("length").GetInt32(), t, what);
        var last = logits[t - 1];
        AssertClose(Doubles(exp.GetProperty("last_logits_tracked")), last.index_select(0, tensor(TrackedIds)), $"{what} last_logits_tracked");
        AssertClose(Doubles(exp.GetProperty("last_hidden_state_last")), hidden[t - 1], $"{what} last_hidden_state_last");
        AssertClose(Doubles(exp.GetProperty("logits_mean_per_position")), logits.to(ScalarType.Float64).mean([-1]), $"{what} logits_mean_per_position");
        Assert.AreEqual(alone.GetProperty("last_logits_argmax").GetInt64(), last.argmax().item<long>(), $"{what} last_logits_argmax");
        Assert.AreEqual(alone.GetProperty("last_logits_max").GetDouble(), last.max().item<float>(), Tolerance, $"{what} last_logits_max");
    }

    [TestMethod]
    public void EverySequenceAloneMatchesTransformers()
    {
        using var noGrad = no_grad();
        var sequences = Inputs.GetProperty("sequences").EnumerateArray().ToArray();
        var exps = Expected.GetProperty("sequences").EnumerateArray().ToArray();
        Assert.HasCount(4, sequences);
        for (int s = 0; s < sequences.Length; s++)
        {
            using var scope = NewDisposeScope();
            Assert.AreEqual(s, exps[s].GetProperty("index").GetInt32());
            var ids = tensor(sequences[s].GetProperty("input_ids").EnumerateArray().Select(e => e.GetInt64()).ToArray()).unsqueeze(0);
            var logits = Model.forward(ids);
            var hidden = Model.HiddenStates(ids);
            CheckSequence(exps[s], exps[s], hidden[0], logits[0], $"sequence {s}");
        }
    }

    [TestMethod]
    public void FullLastLogitsRowOfSequence0MatchesTransformers()
    {
        using var noGrad = no_grad();
        int index = Expected.GetProperty("full_last_logits_sequence_index").GetInt32();
        var ids = Inputs.GetProperty("sequences")[index].GetProperty("input_ids").EnumerateArray().Select(e => e.GetInt64()).ToArray();
        using var hidden = Model.HiddenStates(tensor(ids).unsqueeze(0));
        using var row = Model.LogitsAt(hidden, tensor(new long[] { ids.Length - 1 }))[0];
        var full = Doubles(Expected.GetProperty("full_last_logits"));
        Assert.HasCount(151936, full);
        AssertClose(full, row, "full_last_logits");
    }

    [TestMethod]
    public void RightPaddedBatchRowsMatchTransformers()
    {
        using var noGrad = no_grad();
        var batch = Inputs.GetProperty("padded_batch");
        Assert.AreEqual("right", batch.GetProperty("padding_side").GetString());
        long[,] To2D(JsonElement e)
        {
            var rows = e.EnumerateArray().Select(r => r.EnumerateArray().Select(x => x.GetInt64()).ToArray()).ToArray();
            var a = new long[rows.Length, rows[0].Length];
            for (int i = 0; i < rows.Length; i++) for (int j = 0; j < rows[i].Length; j++) a[i, j] = rows[i][j];
            return a;
        }
        using var ids = tensor(To2D(batch.GetProperty("input_ids")));
        using var mask = tensor(To2D(batch.GetProperty("attention_mask")));
        using var hidden = Model.HiddenStates(ids, mask);
        using var logits = Model.Logits(ids, mask);
        var rows = Expected.GetProperty("padded_batch").GetProperty("rows").EnumerateArray().ToArray();
        var alone = Expected.GetProperty("sequences").EnumerateArray().ToArray();
        Assert.HasCount(4, rows);
        for (int r = 0; r < rows.Length; r++)
        {
            using var scope = NewDisposeScope();
            int len = rows[r].GetProperty("length").GetInt32();
            CheckSequence(rows[r], alone[r], hidden[r].narrow(0, 0, len), logits[r].narrow(0, 0, len), $"padded row {r}");
        }
    }

    [TestMethod]
    public void TiedFixtureHasNoLmHeadAndLoadsInBfloat16()
    {
        Assert.IsNull(Model.lm_head);
        using var bf16 = Qwen3ForCausalLM.FromPretrained(Fixture(""), CPU, ScalarType.BFloat16);
        Assert.AreEqual(ScalarType.BFloat16, bf16.Dtype);
        using var noGrad = no_grad();
        var ids = Inputs.GetProperty("sequences")[0].GetProperty("input_ids").EnumerateArray().Select(e => e.GetInt64()).ToArray();
        using var hidden = bf16.HiddenStates(tensor(ids).unsqueeze(0));
        using var row = bf16.LogitsAt(hidden, tensor(new long[] { ids.Length - 1 }))[0];
        var full = Doubles(Expected.GetProperty("full_last_logits"));
        using var diff = (row.to(ScalarType.Float64) - tensor(full)).abs().max();
        // bf16 weights and activations: logits (|l| < 1) move by ~1e-2; 0.05 is a loose bound that still catches real bugs (logits std 0.16).
        Assert.IsLessThan(0.05, diff.item<double>());
    }
}
