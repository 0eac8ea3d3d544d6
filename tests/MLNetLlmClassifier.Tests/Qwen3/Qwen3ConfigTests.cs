using System.Text.Json.Nodes;
using MLNetLlmClassifier.Qwen3;
using TorchSharp;

namespace MLNetLlmClassifier.Tests.Qwen3;

[TestClass]
public class Qwen3ConfigTests
{
    private static string FixtureConfig => TestPaths.Shared("fixtures", "hf-parity", "qwen3-tiny-a", "config.json");

    [TestMethod]
    public void TheFixtureConfigIsTheTinyPreset()
    {
        var c = Qwen3Config.Load(FixtureConfig);
        var t = Qwen3Config.Tiny();
        Assert.AreEqual((t.VocabSize, t.HiddenSize, t.IntermediateSize, t.NumHiddenLayers, t.NumAttentionHeads, t.NumKeyValueHeads, t.HeadDim),
                        (c.VocabSize, c.HiddenSize, c.IntermediateSize, c.NumHiddenLayers, c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim));
        Assert.AreEqual((t.MaxPositionEmbeddings, t.RopeTheta, t.RmsNormEps, t.TieWordEmbeddings, t.AttentionBias, t.BosTokenId),
                        (c.MaxPositionEmbeddings, c.RopeTheta, c.RmsNormEps, c.TieWordEmbeddings, c.AttentionBias, c.BosTokenId));
        CollectionAssert.AreEqual(t.EosTokenIds.ToArray(), c.EosTokenIds.ToArray());
        Assert.AreEqual("float32", c.TorchDtype, "transformers 4.57 writes 'dtype'");
        Assert.AreEqual(torch.ScalarType.Float32, c.WeightDtype);
        Assert.AreEqual("4.57.6", c.ExtraFields["transformers_version"]!.GetValue<string>());
    }

    [TestMethod]
    public void Qwen3_0_6BIsTheReleasedConfig()
    {
        var c = Qwen3Config.Qwen3_0_6B();
        c.Validate();
        Assert.AreEqual((151936, 1024, 3072, 28, 16, 8, 128), (c.VocabSize, c.HiddenSize, c.IntermediateSize, c.NumHiddenLayers, c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim));
        Assert.AreEqual((40960, 1_000_000.0, 1e-6, true, false, "bfloat16"), (c.MaxPositionEmbeddings, c.RopeTheta, c.RmsNormEps, c.TieWordEmbeddings, c.AttentionBias, c.TorchDtype));
        Assert.AreEqual(torch.ScalarType.BFloat16, c.WeightDtype);
        Assert.AreEqual(2, c.KeyValueGroups);
    }

    [TestMethod]
    public void JsonRoundTripKeepsEveryField()
    {
        var c = Qwen3Config.Load(FixtureConfig);
        var back = JsonNode.Parse(c.ToJson())!.AsObject();
        var original = JsonNode.Parse(File.ReadAllText(FixtureConfig))!.AsObject();
        foreach (var (key, value) in original)
        {
            string k = key == "dtype" ? "torch_dtype" : key;
            Assert.IsTrue(back.ContainsKey(k), k);
            Assert.IsTrue(JsonNode.DeepEquals(value, back[k]), $"{k}: {value?.ToJsonString()} vs {back[k]?.ToJsonString()}");
        }
        var again = Qwen3Config.FromJson(c.ToJson());
        Assert.AreEqual(c.ToJson(), again.ToJson());
    }

    [TestMethod]
    public void AbsentFieldsTakeHuggingFaceDefaults()
    {
        var c = Qwen3Config.FromJson("""{"model_type": "qwen3", "hidden_size": 64, "num_attention_heads": 4, "num_key_value_heads": null, "eos_token_id": [1, 2]}""");
        Assert.AreEqual(128, c.HeadDim, "transformers' Qwen3Config defaults head_dim to 128, not hidden/heads");
        Assert.AreEqual(4, c.NumKeyValueHeads, "null kv heads: one per query head");
        Assert.IsFalse(c.TieWordEmbeddings);
        CollectionAssert.AreEqual(new[] { 1, 2 }, c.EosTokenIds.ToArray());
        StringAssert.Contains(c.ToJson(), "\"eos_token_id\": [");
    }

    [TestMethod]
    [DataRow("rope_scaling", """{"rope_type": "yarn", "factor": 4.0}""", "rope_scaling")]
    [DataRow("num_key_value_heads", "3", "must divide num_attention_heads")]
    [DataRow("hidden_act", "\"gelu\"", "hidden_act = 'gelu'")]
    [DataRow("model_type", "\"qwen2\"", "model_type = 'qwen2'")]
    [DataRow("use_sliding_window", "true", "use_sliding_window")]
    [DataRow("head_dim", "33", "head_dim = 33 must be even")]
    [DataRow("hidden_size", "\"64\"", "hidden_size must be an integer")]
    [DataRow("torch_dtype", "\"int8\"", "torch_dtype = 'int8'")]
    [DataRow("bos_token_id", "151936", "bos_token_id = 151936 is outside the vocabulary")]
    [DataRow("architectures", """["Qwen3ForTokenClassification"]""", "architectures")]
    public void UnsupportedOrBadFieldsAreClearErrors(string field, string json, string expected)
    {
        var obj = JsonNode.Parse(File.ReadAllText(FixtureConfig))!.AsObject();
        obj.Remove("dtype");
        obj[field] = JsonNode.Parse(json);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => Qwen3Config.FromJson(obj.ToJsonString(), "my/config.json"));
        StringAssert.StartsWith(e.Message, "my/config.json: ");
        StringAssert.Contains(e.Message, expected);
    }

    [TestMethod]
    public void MalformedJsonNamesTheFile()
    {
        var e = Assert.ThrowsExactly<InvalidDataException>(() => Qwen3Config.FromJson("{\"vocab_size\": ", "x/config.json"));
        StringAssert.Contains(e.Message, "x/config.json");
    }
}
