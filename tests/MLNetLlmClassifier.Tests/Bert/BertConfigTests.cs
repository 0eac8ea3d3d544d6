using System.Text.Json.Nodes;
using MLNetLlmClassifier.Bert;
using MLNetLlmClassifier.Checkpoints;

namespace MLNetLlmClassifier.Tests.Bert;

[TestClass]
public class BertConfigTests
{
    private static JsonObject FixtureJson() => HfModelFolder.ReadConfig(BertParityTests.Folder);

    [TestMethod]
    public void ReadsTheTransformersConfig()
    {
        var c = BertConfig.Load(BertParityTests.Folder);
        Assert.AreEqual(30522, c.VocabSize);
        Assert.AreEqual(64, c.HiddenSize);
        Assert.AreEqual(2, c.NumHiddenLayers);
        Assert.AreEqual(4, c.NumAttentionHeads);
        Assert.AreEqual(16, c.HeadDim);
        Assert.AreEqual(128, c.IntermediateSize);
        Assert.AreEqual(128, c.MaxPositionEmbeddings);
        Assert.AreEqual("gelu", c.HiddenAct);
        Assert.AreEqual(1e-12, c.LayerNormEps);
        Assert.AreEqual(0, c.PadTokenId);
        Assert.IsNull(c.ClassifierDropout);
        Assert.AreEqual(0.1, c.EffectiveClassifierDropout, "classifier_dropout null means hidden_dropout_prob");
        CollectionAssert.AreEqual(new[] { "LABEL_0", "LABEL_1", "LABEL_2", "LABEL_3" }, c.Labels.ToList());
        CollectionAssert.AreEqual(new[] { "BertForSequenceClassification" }, c.Architectures);
        Assert.AreEqual("4.57.6", (string?)c.ExtraFields["transformers_version"]);
    }

    [TestMethod]
    public void WritesBackWhatItRead()
    {
        var original = FixtureJson();
        var written = BertConfig.FromJson(original).ToJson();
        // Same keys and values as transformers wrote (key order aside).
        CollectionAssert.AreEquivalent(original.Select(kv => kv.Key).ToList(), written.Select(kv => kv.Key).ToList());
        foreach (var (key, value) in original)
            Assert.IsTrue(JsonNode.DeepEquals(value, written[key]), $"{key}: {value?.ToJsonString()} vs {written[key]?.ToJsonString()}");
    }

    [TestMethod]
    public void LabelsRoundTripThroughId2LabelAndLabel2Id()
    {
        var c = BertConfig.Tiny(100).WithLabels(["World", "Sports", "Business", "Sci/Tech"]);
        var json = c.ToJson();
        Assert.AreEqual("Sci/Tech", (string?)json["id2label"]!["3"]);
        Assert.AreEqual(1, (int)json["label2id"]!["Sports"]!);
        CollectionAssert.AreEqual(c.Labels.ToList(), BertConfig.FromJson(json).Labels.ToList());
        Assert.ThrowsExactly<ArgumentException>(() => c.WithLabels(["a", "a"]));
    }

    [TestMethod]
    public void PresetsAreValid()
    {
        var tiny = BertConfig.Tiny(1000);
        tiny.Validate();
        Assert.AreEqual((64, 2, 4, 128, 512), (tiny.HiddenSize, tiny.NumHiddenLayers, tiny.NumAttentionHeads, tiny.IntermediateSize, tiny.MaxPositionEmbeddings));
        var @base = BertConfig.BertBase(30522);
        @base.Validate();
        Assert.AreEqual((768, 12, 12, 3072, 512), (@base.HiddenSize, @base.NumHiddenLayers, @base.NumAttentionHeads, @base.IntermediateSize, @base.MaxPositionEmbeddings));
    }

    [TestMethod]
    [DataRow("hidden_act", "\"swish\"", "hidden_act")]
    [DataRow("hidden_act", "\"gelu_python\"", "hidden_act")]
    [DataRow("position_embedding_type", "\"relative_key\"", "only 'absolute'")]
    [DataRow("hidden_size", "66", "divisible")]
    [DataRow("model_type", "\"roberta\"", "roberta")]
    [DataRow("hidden_size", "\"64\"", "hidden_size")]
    [DataRow("num_hidden_layers", "2.5", "num_hidden_layers")]
    [DataRow("hidden_dropout_prob", "1.5", "hidden_dropout_prob")]
    [DataRow("pad_token_id", "40000", "pad_token_id")]
    [DataRow("id2label", "{\"0\": \"a\", \"7\": \"b\"}", "id2label")]
    [DataRow("id2label", "{\"0\": \"a\", \"1\": \"a\"}", "twice")]
    public void InvalidFieldsAreClearErrors(string field, string json, string expected)
    {
        var config = FixtureJson();
        config[field] = JsonNode.Parse(json);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => BertConfig.FromJson(config, "my/config.json"));
        StringAssert.Contains(e.Message, "my/config.json");
        StringAssert.Contains(e.Message, expected);
    }

    [TestMethod]
    public void TanhGeluAndReluAreAccepted()
    {
        foreach (string act in new[] { "gelu_new", "gelu_pytorch_tanh", "relu" })
        {
            var config = FixtureJson();
            config["hidden_act"] = act;
            Assert.AreEqual(act, BertConfig.FromJson(config).HiddenAct);
        }
    }

    [TestMethod]
    public void NumLabelsWithoutId2LabelGivesDefaultNames()
    {
        var config = FixtureJson();
        config.Remove("id2label");
        config.Remove("label2id");
        config["num_labels"] = 3;
        CollectionAssert.AreEqual(new[] { "LABEL_0", "LABEL_1", "LABEL_2" }, BertConfig.FromJson(config).Labels.ToList());
    }
}
