using System.Text.Json;
using System.Text.Json.Nodes;
using MLNetLlmClassifier.Checkpoints;
using MLNetLlmClassifier.Qwen3;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetLlmClassifier.Tests.Qwen3;

/// <summary>
/// <see cref="Qwen3ForSequenceClassification"/> against transformers' own numbers, without Python: the fixture hf-parity/qwen3-tiny-a
/// holds Qwen3ForCausalLM outputs of transformers 4.57.6, and a tied causal LM's logits are the final-norm hidden state times
/// embed_tokens^T. So a sequence classifier on that folder whose <c>score.weight</c> is the K rows of embed_tokens of the tracked token
/// ids must give, for each row, the causal LM's logits of those ids at the row's last real token: the backbone, the head and the choice
/// of the token are all checked. Also the pad-id rule, the export's config.json and round trip, and the error without pad_token_id.
/// </summary>
[TestClass]
public class Qwen3SequenceClassificationParityTests
{
    private const double Tolerance = 1e-4;   // as Qwen3ParityTests
    private const int Pad = 151643;          // the fixture's padded_batch pad_token_id (<|endoftext|>)
    private static JsonDocument? inputs, expected;

    private static string Fixture(string file) => TestPaths.Shared("fixtures", "hf-parity", "qwen3-tiny-a", file);

    [ClassInitialize]
    public static void Load(TestContext _)
    {
        inputs = JsonDocument.Parse(File.ReadAllBytes(Fixture("inputs.json")));
        expected = JsonDocument.Parse(File.ReadAllBytes(Fixture("expected.json")));
    }

    [ClassCleanup]
    public static void Cleanup()
    {
        inputs?.Dispose();
        expected?.Dispose();
    }

    private static JsonElement Inputs => inputs!.RootElement;
    private static JsonElement Expected => expected!.RootElement;
    private static long[] TrackedIds => Inputs.GetProperty("tracked_token_ids").EnumerateArray().Select(e => e.GetInt64()).ToArray();
    private static string[] TrackedLabels => TrackedIds.Select(i => $"token_{i}").ToArray();

    /// <summary>The fixture as a sequence classifier whose head is the embedding rows of the tracked ids.</summary>
    private static Qwen3ForSequenceClassification TrackedIdsClassifier(int? padTokenId = Pad)
    {
        var net = Qwen3ForSequenceClassification.FromPretrained(Fixture(""), CPU, ScalarType.Float32, TrackedLabels, padTokenId);
        using var noGrad = no_grad();
        using var rows = net.model.embed_tokens.weight!.index_select(0, tensor(TrackedIds));
        net.score.weight!.copy_(rows);
        return net;
    }

    private static (Tensor Ids, Tensor Mask) PaddedBatch()
    {
        var batch = Inputs.GetProperty("padded_batch");
        Assert.AreEqual("right", batch.GetProperty("padding_side").GetString());
        Assert.AreEqual(Pad, batch.GetProperty("pad_token_id").GetInt32());
        Tensor To2D(JsonElement e)
        {
            var rows = e.EnumerateArray().Select(r => r.EnumerateArray().Select(x => x.GetInt64()).ToArray()).ToArray();
            return tensor(rows.SelectMany(r => r).ToArray(), [rows.Length, rows[0].Length]);
        }
        return (To2D(batch.GetProperty("input_ids")), To2D(batch.GetProperty("attention_mask")));
    }

    private static void AssertClose(double[] want, Tensor got, string what)
    {
        var values = got.to(ScalarType.Float64).data<double>().ToArray();
        Assert.HasCount(want.Length, values, what);
        int worst = Enumerable.Range(0, values.Length).MaxBy(i => Math.Abs(values[i] - want[i]));
        Assert.IsLessThanOrEqualTo(Tolerance, Math.Abs(values[worst] - want[worst]), $"{what}: worst at [{worst}] expected {want[worst]}, got {values[worst]}");
    }

    private static double[] ExpectedRow(int r) =>
        Expected.GetProperty("padded_batch").GetProperty("rows")[r].GetProperty("last_logits_tracked").EnumerateArray().Select(x => x.GetDouble()).ToArray();

    [TestMethod]
    public void RightPaddedBatchGivesTransformersLogitsAtEachRowsLastRealToken()
    {
        using var net = TrackedIdsClassifier();
        var (ids, mask) = PaddedBatch();
        using var noGrad = no_grad();
        using var logits = net.call(ids, mask);
        Assert.AreEqual(4L, logits.shape[0]);
        Assert.AreEqual((long)TrackedIds.Length, logits.shape[1]);
        for (int r = 0; r < 4; r++) AssertClose(ExpectedRow(r), logits[r], $"row {r} (attention mask)");
        // Rows of different lengths: the positions are the last real tokens (17, 3, 40 and 9 tokens long).
        CollectionAssert.AreEqual(new long[] { 16, 2, 39, 8 }, net.LastTokenPositions(ids, mask).data<long>().ToArray());
        ids.Dispose();
        mask.Dispose();
    }

    [TestMethod]
    public void WithoutAMaskThePadIdRuleOfTransformersFindsTheSameTokens()
    {
        using var net = TrackedIdsClassifier();
        var (ids, mask) = PaddedBatch();
        using var noGrad = no_grad();
        // transformers' own call: input_ids only, pad_token_id from the config (causal attention keeps padding out of real tokens).
        using var logits = net.call(ids, null);
        for (int r = 0; r < 4; r++) AssertClose(ExpectedRow(r), logits[r], $"row {r} (pad_token_id rule)");
        ids.Dispose();
        mask.Dispose();
    }

    [TestMethod]
    public void APadIdInsideATextIsKeptAndAPadIdEndingATextIsWhereTheRulesDiffer()
    {
        using var net = TrackedIdsClassifier();
        using var causal = Qwen3ForCausalLM.FromPretrained(Fixture(""), CPU, ScalarType.Float32);
        long a = 35362, b = 96694, c = 30198;
        // Row 0: a pad id inside the text (real, mask 1) then right padding. Row 1: the text itself ends with the pad id.
        long[][] rows = [[a, Pad, b, c, Pad, Pad], [a, b, c, Pad, Pad, Pad]];
        long[][] masks = [[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 0, 0]];
        using var ids = tensor(rows.SelectMany(x => x).ToArray(), [2, 6]);
        using var mask = tensor(masks.SelectMany(x => x).ToArray(), [2, 6]);
        using var noGrad = no_grad();

        // With the mask: each row's last real token, 3 in both rows (row 1's is the pad id itself, a real token of its text).
        CollectionAssert.AreEqual(new long[] { 3, 3 }, net.LastTokenPositions(ids, mask).data<long>().ToArray());
        // transformers' rule on the ids (no mask): the rightmost id that is not the pad id: 3 in row 0 (the same), 2 in row 1 (earlier).
        CollectionAssert.AreEqual(new long[] { 3, 2 }, net.LastTokenPositions(ids).data<long>().ToArray());

        // The logits are the causal LM's at those positions, each row computed alone (no padding at all).
        using var withMask = net.call(ids, mask);
        using var withoutMask = net.call(ids, null);
        for (int r = 0; r < 2; r++)
        {
            foreach (var (got, position, what) in new[] { (withMask[r], 3L, "mask"), (withoutMask[r], r == 0 ? 3L : 2L, "pad id rule") })
            {
                using var alone = tensor(rows[r].Take(4).ToArray()).unsqueeze(0);
                using var hidden = causal.HiddenStates(alone);
                using var want = causal.LogitsAt(hidden, tensor(new[] { position }), tensor(TrackedIds))[0];
                AssertClose(want.to(ScalarType.Float64).data<double>().ToArray(), got, $"row {r} ({what})");
            }
        }
    }

    [TestMethod]
    public void WithoutPadTokenIdSeveralUnmaskedRowsAreAnErrorNamingIt()
    {
        using var net = TrackedIdsClassifier(padTokenId: null);
        Assert.IsNull(net.Config.PadTokenId);
        using var noGrad = no_grad();
        using var two = tensor(new long[] { 1, 2, 3, 4, 5, 6 }, [2, 3]);
        var e = Assert.Throws<ArgumentException>(() => net.call(two, null));
        StringAssert.Contains(e.Message, "pad_token_id");
        StringAssert.Contains(e.Message, "config.json");
        Assert.IsFalse(e.Message.Contains('\n', StringComparison.Ordinal), "one line");
        // One row needs no pad id (transformers takes the last position), and a mask tells the real tokens apart.
        using var one = tensor(new long[] { 1, 2, 3 }, [1, 3]);
        Assert.AreEqual(2L, net.LastTokenPositions(one).item<long>());
        using var mask = tensor(new long[] { 1, 1, 0, 1, 1, 1 }, [2, 3]);
        CollectionAssert.AreEqual(new long[] { 1, 2 }, net.LastTokenPositions(two, mask).data<long>().ToArray());
    }

    [TestMethod]
    public void ExportedFolderHasTransformersConfigAndKeysAndReloadsWithIdenticalLogits()
    {
        using var temp = new TempFolder();
        using var net = TrackedIdsClassifier();
        var (ids, mask) = PaddedBatch();
        using var noGrad = no_grad();
        using var before = net.call(ids, mask);
        net.SaveToFolder(temp.Path);

        var config = JsonNode.Parse(File.ReadAllText(temp.File("config.json")))!.AsObject();
        Assert.AreEqual("[\"Qwen3ForSequenceClassification\"]", config["architectures"]!.ToJsonString());
        Assert.AreEqual("qwen3", config["model_type"]!.GetValue<string>());
        Assert.AreEqual(Pad, config["pad_token_id"]!.GetValue<int>());
        Assert.AreEqual("single_label_classification", config["problem_type"]!.GetValue<string>());
        var id2label = config["id2label"]!.AsObject();
        var label2id = config["label2id"]!.AsObject();
        Assert.HasCount(TrackedIds.Length, id2label);
        for (int i = 0; i < TrackedIds.Length; i++)
        {
            Assert.AreEqual(TrackedLabels[i], id2label[i.ToString(System.Globalization.CultureInfo.InvariantCulture)]!.GetValue<string>());
            Assert.AreEqual(i, label2id[TrackedLabels[i]]!.GetValue<int>());
        }
        Assert.IsFalse(config.ContainsKey("num_labels"), "transformers derives num_labels from id2label");
        Assert.AreEqual("float32", config["torch_dtype"]!.GetValue<string>());

        using (var weights = HfModelFolder.OpenWeights(temp.Path))
        {
            CollectionAssert.AreEqual(new long[] { TrackedIds.Length, 64 }, weights.Info("score.weight").Shape);
            Assert.IsTrue(weights.Names.Contains("model.layers.1.self_attn.q_proj.weight"));
            Assert.IsTrue(weights.Names.Contains("model.embed_tokens.weight"));
            Assert.IsFalse(weights.Names.Any(n => n.StartsWith("lm_head", StringComparison.Ordinal)), "a sequence classifier has no LM head");
        }

        var notes = new List<string>();
        using var reloaded = Qwen3ForSequenceClassification.FromPretrained(temp.Path, CPU, ScalarType.Float32, log: notes.Add);
        CollectionAssert.AreEqual(TrackedLabels, reloaded.Labels.ToArray());
        Assert.AreEqual(Pad, reloaded.Config.PadTokenId);
        Assert.IsFalse(notes.Any(n => n.Contains("newly initialised", StringComparison.Ordinal)), "the head is loaded: " + string.Join(" | ", notes));
        var asCausalLm = Assert.Throws<InvalidDataException>(() => Qwen3ForCausalLM.FromPretrained(temp.Path, CPU, ScalarType.Float32));
        StringAssert.Contains(asCausalLm.Message, "qwen3-seqcls");
        using var after = reloaded.call(ids, mask);
        Assert.AreEqual(0.0, (after - before).abs().max().item<float>(), "identical logits after the round trip");
        ids.Dispose();
        mask.Dispose();
    }

    [TestMethod]
    public void FromACausalLmFolderTheHeadIsNewlyInitialisedAndReportedInOneLine()
    {
        var notes = new List<string>();
        using var a = Qwen3ForSequenceClassification.FromPretrained(Fixture(""), CPU, ScalarType.Float32, ["x", "y", "z"], Pad, seed: 7, log: notes.Add);
        using var b = Qwen3ForSequenceClassification.FromPretrained(Fixture(""), CPU, ScalarType.Float32, ["x", "y", "z"], Pad, seed: 7);
        using var c = Qwen3ForSequenceClassification.FromPretrained(Fixture(""), CPU, ScalarType.Float32, ["x", "y", "z"], Pad, seed: 8);
        var line = notes.Single(n => n.Contains("newly initialised", StringComparison.Ordinal));
        StringAssert.Contains(line, "score.weight");
        StringAssert.Contains(line, "seed 7");
        Assert.AreEqual(3, a.NumLabels);
        Assert.IsTrue(a.score.weight!.equal(b.score.weight!).all().item<bool>(), "same seed, same head");
        Assert.IsFalse(a.score.weight!.equal(c.score.weight!).all().item<bool>(), "another seed, another head");
        double std = a.score.weight!.std().item<float>();
        Assert.IsTrue(std is > 0.012 and < 0.028, $"N(0, initializer_range = 0.02): std {std}");
        // The backbone is the checkpoint's.
        using var causal = Qwen3ForCausalLM.FromPretrained(Fixture(""), CPU, ScalarType.Float32);
        Assert.IsTrue(a.model.norm.weight.equal(causal.model.norm.weight).all().item<bool>());
    }

    [TestMethod]
    public void MalformedLabelsInConfigJsonAreErrorsNamingTheField()
    {
        var config = Qwen3Config.Tiny();
        config.ExtraFields["id2label"] = new JsonObject { ["0"] = "a", ["5"] = "b" };
        var e = Assert.Throws<InvalidDataException>(() => Qwen3ForSequenceClassification.LabelsOf(config, "x/config.json"));
        StringAssert.Contains(e.Message, "x/config.json: id2label");
        config.ExtraFields["id2label"] = new JsonObject { ["0"] = "a", ["1"] = "b" };
        config.ExtraFields["num_labels"] = 3;
        e = Assert.Throws<InvalidDataException>(() => Qwen3ForSequenceClassification.LabelsOf(config, "x/config.json"));
        StringAssert.Contains(e.Message, "num_labels");
        config.ExtraFields.Remove("id2label");
        CollectionAssert.AreEqual(new[] { "LABEL_0", "LABEL_1", "LABEL_2" }, Qwen3ForSequenceClassification.LabelsOf(config).ToArray());
    }
}
