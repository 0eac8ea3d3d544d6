using MLNetLlmClassifier.Qwen3;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetLlmClassifier.Tests.Qwen3;

[TestClass]
public class Qwen3ModelTests
{
    private static Qwen3ForCausalLM? tiny;

    // One random tiny model shared by the read-only tests (eval mode, float32, seed 7).
    private static Qwen3ForCausalLM Tiny => tiny ??= NewTiny(7);

    internal static Qwen3ForCausalLM NewTiny(int seed, Action<Qwen3Config>? edit = null)
    {
        var config = Qwen3Config.Tiny();
        edit?.Invoke(config);
        var m = new Qwen3ForCausalLM(config, seed);
        m.eval();
        return m;
    }

    [ClassCleanup]
    public static void Cleanup() { tiny?.Dispose(); tiny = null; }

    internal static double MaxAbsDiff(Tensor a, Tensor b)
    {
        using var scope = NewDisposeScope();
        return (a.to(ScalarType.Float64) - b.to(ScalarType.Float64)).abs().max().item<double>();
    }

    private static readonly long[][] Rows = [[35362, 146808, 56125, 101501, 40052, 36939], [96694, 37884, 30198], [151644, 58424, 135618, 151645, 198, 151644, 93187, 83091, 12]];

    [TestMethod]
    public void StateDictHasExactlyTheHuggingFaceNames()
    {
        var names = Tiny.state_dict().Keys.ToHashSet();
        var expected = new HashSet<string> { "model.embed_tokens.weight", "model.norm.weight" };
        for (int i = 0; i < 2; i++)
            foreach (var n in new[] { "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "self_attn.q_norm", "self_attn.k_norm",
                                      "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj", "input_layernorm", "post_attention_layernorm" })
                expected.Add($"model.layers.{i}.{n}.weight");
        CollectionAssert.AreEquivalent(expected.ToArray(), names.ToArray(), "tied embeddings: no lm_head.weight");
        var sd = Tiny.state_dict();
        CollectionAssert.AreEqual(new long[] { 128, 64 }, sd["model.layers.0.self_attn.q_proj.weight"].shape, "4 heads x head_dim 32");
        CollectionAssert.AreEqual(new long[] { 64, 64 }, sd["model.layers.0.self_attn.k_proj.weight"].shape, "2 kv heads x 32");
        CollectionAssert.AreEqual(new long[] { 64, 128 }, sd["model.layers.0.self_attn.o_proj.weight"].shape);
        CollectionAssert.AreEqual(new long[] { 32 }, sd["model.layers.1.self_attn.k_norm.weight"].shape);
        CollectionAssert.AreEqual(new long[] { 151936, 64 }, sd["model.embed_tokens.weight"].shape);
        Assert.IsNull(Tiny.lm_head);
    }

    [TestMethod]
    public void TiedHeadIsTheEmbeddingMatrixItself()
    {
        using var m = NewTiny(2);
        using (torch.no_grad()) m.model.embed_tokens.weight![5].fill_(0.5);
        Assert.AreEqual(0.0, MaxAbsDiff(m.LmHeadWeight[5], torch.full(64, 0.5f)), "writing the embedding changes the head");
    }

    [TestMethod]
    public void UntiedModelsHaveAnLmHeadAndBiasesWhenAsked()
    {
        using var m = NewTiny(1, c => { c.TieWordEmbeddings = false; c.AttentionBias = true; });
        var sd = m.state_dict();
        Assert.IsTrue(sd.ContainsKey("lm_head.weight"));
        foreach (var p in new[] { "q", "k", "v", "o" })
        {
            Assert.IsTrue(sd.ContainsKey($"model.layers.0.self_attn.{p}_proj.bias"), p);
            Assert.AreEqual(0.0, sd[$"model.layers.0.self_attn.{p}_proj.bias"].abs().max().item<float>(), "HF inits biases to 0");
        }
        Assert.AreNotSame(m.model.embed_tokens.weight, m.LmHeadWeight);
        Assert.IsGreaterThan(0.0, MaxAbsDiff(m.model.embed_tokens.weight!, m.LmHeadWeight));
    }

    [TestMethod]
    public void InitialisationFollowsHuggingFaceAndTheSeed()
    {
        var sd = Tiny.state_dict();
        double std = sd["model.embed_tokens.weight"].std().item<float>();
        Assert.AreEqual(0.02, std, 0.0005, "embedding ~ N(0, 0.02)");
        Assert.AreEqual(0.02, sd["model.layers.1.mlp.down_proj.weight"].std().item<float>(), 0.002, "linear ~ N(0, 0.02)");
        foreach (var n in new[] { "model.norm.weight", "model.layers.0.self_attn.q_norm.weight", "model.layers.1.input_layernorm.weight" })
            Assert.AreEqual(0.0, MaxAbsDiff(sd[n], torch.ones_like(sd[n])), n);

        using var same = NewTiny(7);
        using var other = NewTiny(8);
        foreach (var (name, p) in same.state_dict())
        {
            Assert.AreEqual(0.0, MaxAbsDiff(p, sd[name]), $"same seed, {name}");
            if (!name.Contains("norm")) Assert.IsGreaterThan(0.0, MaxAbsDiff(p, other.state_dict()[name]), $"other seed, {name}");
        }
    }

    [TestMethod]
    public void RmsNormComputesInFloat32AndCastsBackBeforeTheWeight()
    {
        using var norm = new Qwen3RMSNorm(4, 1e-6);
        using (torch.no_grad()) norm.weight.copy_(torch.tensor(new float[] { 1, 2, 3, 4 }));
        using var x = torch.tensor(new float[] { 1, -2, 3, -4 }).view(1, 4);
        using var y = norm.call(x);
        double rms = Math.Sqrt((1 + 4 + 9 + 16) / 4.0 + 1e-6);
        CollectionAssert.AreEqual(new[] { 1 / rms, -4 / rms, 9 / rms, -16 / rms }.Select(v => (float)v).ToArray(), y.data<float>().ToArray(), new FloatComparer(1e-6f));

        norm.to(ScalarType.BFloat16);
        using var yb = norm.call(x.to(ScalarType.BFloat16));
        Assert.AreEqual(ScalarType.BFloat16, yb.dtype);
        Assert.IsLessThan(0.1, MaxAbsDiff(yb, y));
    }

    [TestMethod]
    public void RightAndLeftPaddedBatchesEqualEachRowAlone()
    {
        using var noGrad = torch.no_grad();
        int t = Rows.Max(r => r.Length);
        foreach (bool left in new[] { false, true })
        {
            var ids = new long[Rows.Length, t];
            var mask = new long[Rows.Length, t];
            for (int r = 0; r < Rows.Length; r++)
                for (int i = 0; i < t; i++)
                {
                    int j = left ? i - (t - Rows[r].Length) : i;
                    bool real = j >= 0 && j < Rows[r].Length;
                    ids[r, i] = real ? Rows[r][j] : 151643;
                    mask[r, i] = real ? 1 : 0;
                }
            using var batchHidden = Tiny.HiddenStates(torch.tensor(ids), torch.tensor(mask));
            for (int r = 0; r < Rows.Length; r++)
            {
                int len = Rows[r].Length, offset = left ? t - len : 0;
                using var alone = Tiny.HiddenStates(torch.tensor(Rows[r]).unsqueeze(0));
                using var fromBatch = batchHidden[r].narrow(0, offset, len).unsqueeze(0);
                Assert.IsLessThan(1e-5, MaxAbsDiff(alone, fromBatch), $"{(left ? "left" : "right")} padding, row {r}: hidden at real positions");
                using var logitsAlone = Tiny.LogitsAt(alone, torch.tensor(new long[] { len - 1 }));
                using var logitsBatch = Tiny.LogitsAt(batchHidden[r].unsqueeze(0), torch.tensor(new long[] { offset + len - 1 }));
                Assert.IsLessThan(1e-5, MaxAbsDiff(logitsAlone, logitsBatch), $"row {r}: last-position logits");
                Assert.IsFalse(batchHidden[r].isnan().any().item<bool>(), "padding positions stay finite");
            }
        }
    }

    [TestMethod]
    public void AMaskOfAllOnesEqualsNoMask()
    {
        using var noGrad = torch.no_grad();
        using var ids = torch.tensor(Rows[0]).unsqueeze(0);
        using var a = Tiny.HiddenStates(ids);
        using var b = Tiny.HiddenStates(ids, torch.ones_like(ids));
        Assert.IsLessThan(1e-5, MaxAbsDiff(a, b));
        // And causality: changing a later token leaves earlier positions untouched.
        using var ids2 = ids.clone();
        ids2[0, 5] = torch.tensor(17L);
        using var c = Tiny.HiddenStates(ids2);
        Assert.AreEqual(0.0, MaxAbsDiff(a.narrow(1, 0, 5), c.narrow(1, 0, 5)));
        Assert.IsGreaterThan(1e-3, MaxAbsDiff(a.narrow(1, 5, 1), c.narrow(1, 5, 1)));
    }

    [TestMethod]
    public void LogitsAtEqualsTheMatchingColumnsOfTheFullLogits()
    {
        using var noGrad = torch.no_grad();
        using var ids = torch.tensor(new long[,] { { 1, 2, 3, 4, 5 }, { 151644, 9, 8, 7, 198 } });
        using var full = Tiny.forward(ids);                          // [2,5,V]
        using var hidden = Tiny.HiddenStates(ids);
        long[] options = [32, 33, 34, 35, 151645, 0];
        using var optionIds = torch.tensor(options);

        using var last = Tiny.LogitsAt(hidden, torch.tensor(new long[] { 4, 2 }), optionIds);   // [2,6]
        CollectionAssert.AreEqual(new long[] { 2, 6 }, last.shape);
        Assert.IsLessThan(1e-6, MaxAbsDiff(last[0], full[0, 4].index_select(0, optionIds)));
        Assert.IsLessThan(1e-6, MaxAbsDiff(last[1], full[1, 2].index_select(0, optionIds)));

        using var several = Tiny.LogitsAt(hidden, torch.tensor(new long[,] { { 0, 3, 4 }, { 1, 1, 2 } }), optionIds); // [2,3,6]
        CollectionAssert.AreEqual(new long[] { 2, 3, 6 }, several.shape);
        Assert.IsLessThan(1e-6, MaxAbsDiff(several[0, 1], full[0, 3].index_select(0, optionIds)));
        Assert.IsLessThan(1e-6, MaxAbsDiff(several[1, 2], full[1, 2].index_select(0, optionIds)));

        using var wholeRow = Tiny.LogitsAt(hidden, torch.tensor(new long[] { 4, 4 }));
        CollectionAssert.AreEqual(new long[] { 2, 151936 }, wholeRow.shape);
        Assert.IsLessThan(1e-6, MaxAbsDiff(wholeRow, full.select(1, 4)));
    }

    [TestMethod]
    public void Bfloat16ForwardStaysCloseToFloat32()
    {
        // bf16 keeps 8 mantissa bits (relative rounding 2^-9 = 0.002 per value); through 2 layers the final-norm hidden states
        // (|h| ~ 1) typically move by a few 1e-2 and logits (|l| < 1) by < 1e-2. The bound below is ~5x the observed error.
        using var noGrad = torch.no_grad();
        using var m = NewTiny(7);
        using var ids = torch.tensor(Rows[2]).unsqueeze(0);
        using var h32 = m.HiddenStates(ids);
        using var l32 = m.LogitsAt(h32, torch.tensor(new long[] { Rows[2].Length - 1 }));
        m.to(ScalarType.BFloat16);
        Assert.AreEqual(ScalarType.BFloat16, m.Dtype);
        Assert.AreEqual(ScalarType.BFloat16, m.model.layers[1].self_attn.q_norm.weight.dtype);
        using var h16 = m.HiddenStates(ids);
        Assert.AreEqual(ScalarType.BFloat16, h16.dtype);
        using var l16 = m.LogitsAt(h16, torch.tensor(new long[] { Rows[2].Length - 1 }));
        double hErr = MaxAbsDiff(h16, h32), lErr = MaxAbsDiff(l16, l32);
        Console.WriteLine($"bf16 vs fp32: hidden {hErr}, logits {lErr}");
        Assert.IsLessThan(0.15, hErr, $"hidden {hErr}");
        Assert.IsLessThan(0.03, lErr, $"logits {lErr}");
        Assert.IsGreaterThan(0.0, lErr, "really ran in bf16");
    }

    [TestMethod]
    public void BadInputsNameTheArgumentRowAndPosition()
    {
        using var noGrad = torch.no_grad();
        var e = Assert.ThrowsExactly<ArgumentException>(() => Tiny.HiddenStates(torch.tensor(new long[,] { { 1, 2 }, { 3, 151936 } })));
        StringAssert.Contains(e.Message, "inputIds[1, 1] = 151936");
        e = Assert.ThrowsExactly<ArgumentException>(() => Tiny.HiddenStates(torch.tensor(new long[] { 1, 2 })));
        StringAssert.Contains(e.Message, "[batch, time]");
        e = Assert.ThrowsExactly<ArgumentException>(() => Tiny.HiddenStates(torch.ones(2, 3, dtype: ScalarType.Int64), torch.ones(2, 2)));
        StringAssert.Contains(e.Message, "attentionMask");
        using var hidden = Tiny.HiddenStates(torch.ones(2, 3, dtype: ScalarType.Int64));
        e = Assert.ThrowsExactly<ArgumentException>(() => Tiny.LogitsAt(hidden, torch.tensor(new long[] { 2, 3 })));
        StringAssert.Contains(e.Message, "positions[1] = 3");
        e = Assert.ThrowsExactly<ArgumentException>(() => Tiny.LogitsAt(hidden, torch.tensor(new long[] { 2 })));
        StringAssert.Contains(e.Message, "positions must be [2]");
        e = Assert.ThrowsExactly<ArgumentException>(() => Tiny.LogitsAt(hidden, torch.tensor(new long[] { 2, 2 }), torch.tensor(new long[] { 5, -1 })));
        StringAssert.Contains(e.Message, "tokenIds[1] = -1");
    }

    [TestMethod]
    public void GradientsReachEveryParameter()
    {
        using var m = NewTiny(3);
        m.train();
        using var ids = torch.tensor(new long[,] { { 5, 6, 7, 8 }, { 9, 10, 11, 151643 } });
        using var mask = torch.tensor(new long[,] { { 1, 1, 1, 1 }, { 1, 1, 1, 0 } });
        using var hidden = m.HiddenStates(ids, mask);
        using var logits = m.LogitsAt(hidden, torch.tensor(new long[] { 3, 2 }), torch.tensor(new long[] { 32, 33, 34 }));
        using var loss = torch.nn.functional.cross_entropy(logits, torch.tensor(new long[] { 0, 2 }));
        loss.backward();
        foreach (var (name, p) in m.named_parameters())
        {
            Assert.IsNotNull(p.grad, name);
            Assert.IsGreaterThan(0.0, p.grad.abs().max().item<float>(), name);
        }
    }

    private sealed class FloatComparer(float tolerance) : System.Collections.IComparer
    {
        public int Compare(object? x, object? y) => Math.Abs((float)x! - (float)y!) <= tolerance ? 0 : 1;
    }
}
