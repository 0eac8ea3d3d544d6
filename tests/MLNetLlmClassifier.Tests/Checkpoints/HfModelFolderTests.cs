using System.Text.Json.Nodes;
using MLNetLlmClassifier.Checkpoints;
using TorchSharp;

namespace MLNetLlmClassifier.Tests.Checkpoints;

[TestClass]
public class HfModelFolderTests
{
    private static string BertTiny => TestPaths.Shared("fixtures", "hf-parity", "bert-tiny-a");

    [TestMethod]
    public void ReadsTheFixtureConfigAndWeights()
    {
        var config = HfModelFolder.ReadConfig(BertTiny);
        Assert.AreEqual("bert", (string?)config["model_type"]);
        using var weights = HfModelFolder.OpenWeights(BertTiny);
        Assert.AreEqual(41, weights.Names.Count);
        Assert.IsTrue(weights.Contains("classifier.weight"));
        CollectionAssert.AreEqual(new long[] { 4, 64 }, weights.Info("classifier.weight").Shape);
        using var t = weights.Read("classifier.weight");
        CollectionAssert.AreEqual(new long[] { 4, 64 }, t.shape);
    }

    [TestMethod]
    public void MissingOrInvalidConfigIsAClearError()
    {
        using var tmp = new TempFolder();
        var missing = Assert.ThrowsExactly<FileNotFoundException>(() => HfModelFolder.ReadConfig(tmp.Path));
        StringAssert.Contains(missing.Message, "config.json");

        File.WriteAllText(tmp.File("config.json"), "{\"hidden_size\": 64,,}");
        var invalid = Assert.ThrowsExactly<InvalidDataException>(() => HfModelFolder.ReadConfig(tmp.Path));
        StringAssert.Contains(invalid.Message, tmp.File("config.json"));

        File.WriteAllText(tmp.File("config.json"), "[1]");
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => HfModelFolder.ReadConfig(tmp.Path)).Message, "not an object");

        Assert.ThrowsExactly<DirectoryNotFoundException>(() => HfModelFolder.ReadConfig(tmp.File("nope")));
    }

    [TestMethod]
    public void ShardedCheckpointsAreReadThroughTheIndex()
    {
        using var tmp = new TempFolder();
        using var scope = torch.NewDisposeScope();
        var a = torch.arange(6, dtype: torch.ScalarType.Float32).reshape(2, 3);
        var b = torch.ones(4, dtype: torch.ScalarType.BFloat16);
        var c = torch.tensor(new long[] { 1, 2 });
        SafeTensorsFile.Save(tmp.File("model-00001-of-00002.safetensors"), [KeyValuePair.Create("a", a), KeyValuePair.Create("b", b)]);
        SafeTensorsFile.Save(tmp.File("model-00002-of-00002.safetensors"), [KeyValuePair.Create("c", c)]);
        WriteIndex(tmp, ("a", "model-00001-of-00002.safetensors"), ("b", "model-00001-of-00002.safetensors"), ("c", "model-00002-of-00002.safetensors"));

        using var weights = HfModelFolder.OpenWeights(tmp.Path);
        CollectionAssert.AreEquivalent(new[] { "a", "b", "c" }, weights.Names.ToList());
        Assert.AreEqual(2, weights.Files.Count);
        Assert.AreEqual("BF16", weights.Info("b").DType);
        TensorAssert.SameBytes(a, weights.Read("a"), "a");
        TensorAssert.SameBytes(b, weights.Read("b"), "b");
        TensorAssert.SameBytes(c, weights.Read("c"), "c");
        TensorAssert.SameBytes(b.to(torch.ScalarType.Float32), weights.Read("b", torch.ScalarType.Float32), "b as f32");
    }

    [TestMethod]
    public void AMissingShardIsNamed()
    {
        using var tmp = new TempFolder();
        using var scope = torch.NewDisposeScope();
        SafeTensorsFile.Save(tmp.File("model-00001-of-00002.safetensors"), [KeyValuePair.Create("a", torch.ones(1))]);
        WriteIndex(tmp, ("a", "model-00001-of-00002.safetensors"), ("c", "model-00002-of-00002.safetensors"));
        var e = Assert.ThrowsExactly<FileNotFoundException>(() => HfModelFolder.OpenWeights(tmp.Path));
        StringAssert.Contains(e.Message, "model-00002-of-00002.safetensors");
    }

    [TestMethod]
    public void AShardLackingAMappedTensorIsNamed()
    {
        using var tmp = new TempFolder();
        using var scope = torch.NewDisposeScope();
        SafeTensorsFile.Save(tmp.File("shard.safetensors"), [KeyValuePair.Create("a", torch.ones(1))]);
        WriteIndex(tmp, ("a", "shard.safetensors"), ("ghost", "shard.safetensors"));
        var e = Assert.ThrowsExactly<InvalidDataException>(() => HfModelFolder.OpenWeights(tmp.Path));
        StringAssert.Contains(e.Message, "'ghost'");
        StringAssert.Contains(e.Message, "shard.safetensors");
    }

    [TestMethod]
    [DataRow("../outside.safetensors")]
    [DataRow("/etc/passwd")]
    [DataRow("sub/dir.safetensors")]
    public void IndexEntriesMustBePlainFileNames(string shard)
    {
        using var tmp = new TempFolder();
        WriteIndex(tmp, ("a", shard));
        var e = Assert.ThrowsExactly<InvalidDataException>(() => HfModelFolder.OpenWeights(tmp.Path));
        StringAssert.Contains(e.Message, "plain file name");
    }

    [TestMethod]
    public void PickleOnlyFoldersAreRefusedWithAConversionHint()
    {
        using var tmp = new TempFolder();
        File.WriteAllBytes(tmp.File("pytorch_model.bin"), [0x80, 0x02]);
        var e = Assert.ThrowsExactly<NotSupportedException>(() => HfModelFolder.OpenWeights(tmp.Path));
        StringAssert.Contains(e.Message, "pytorch_model.bin");
        StringAssert.Contains(e.Message, "safetensors");
        StringAssert.Contains(e.Message, "safe_serialization=True");
    }

    [TestMethod]
    public void AFolderWithoutWeightsSaysWhatIsExpected()
    {
        using var tmp = new TempFolder();
        var e = Assert.ThrowsExactly<FileNotFoundException>(() => HfModelFolder.OpenWeights(tmp.Path));
        StringAssert.Contains(e.Message, "model.safetensors");
    }

    [TestMethod]
    public void SaveWeightsWritesTheTransformersMetadata()
    {
        using var tmp = new TempFolder();
        using var scope = torch.NewDisposeScope();
        string folder = tmp.File("out", "model");
        HfModelFolder.SaveWeights(folder, [KeyValuePair.Create("w", torch.ones(3))]);
        using var file = SafeTensorsFile.Open(Path.Combine(folder, "model.safetensors"));
        Assert.AreEqual("pt", file.Metadata["format"]);
        Assert.AreEqual("w", file.Tensors.Single().Name);
    }

    [TestMethod]
    public void WriteJsonIsIndentedAndReadable()
    {
        using var tmp = new TempFolder();
        string path = tmp.File("x.json");
        HfModelFolder.WriteJson(path, new JsonObject { ["a"] = 1, ["label"] = "é" });
        string text = File.ReadAllText(path);
        StringAssert.Contains(text, "\n  \"a\": 1");
        StringAssert.Contains(text, "é");
        Assert.AreEqual(1, (int)HfModelFolder.ReadJsonObject(path)["a"]!);
    }

    private static void WriteIndex(TempFolder tmp, params (string Name, string File)[] map)
    {
        var weightMap = new JsonObject();
        foreach (var (name, file) in map) weightMap[name] = file;
        HfModelFolder.WriteJson(tmp.File("model.safetensors.index.json"), new JsonObject { ["metadata"] = new JsonObject { ["total_size"] = 0 }, ["weight_map"] = weightMap });
    }
}
