using System.Text.Json;
using System.Text.Json.Nodes;
using MLNetLlmClassifier.Checkpoints;
using MLNetLlmClassifier.Qwen3;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetLlmClassifier.Tests.Qwen3;

[TestClass]
public class Qwen3CheckpointTests
{
    private string folder = "";

    [TestInitialize]
    public void MakeFolder() => folder = Path.Combine(Path.GetTempPath(), "qwen3-ckpt-" + Guid.NewGuid().ToString("N"));

    [TestCleanup]
    public void RemoveFolder()
    {
        if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
    }

    private static string ParityFixture => TestPaths.Shared("fixtures", "hf-parity", "qwen3-tiny-a");

    private static void AssertSameWeights(Qwen3ForCausalLM expected, Qwen3ForCausalLM actual, double tolerance = 0)
    {
        var a = expected.state_dict();
        var b = actual.state_dict();
        CollectionAssert.AreEquivalent(a.Keys.ToArray(), b.Keys.ToArray());
        foreach (var (name, t) in a)
            Assert.IsLessThanOrEqualTo(tolerance, Qwen3ModelTests.MaxAbsDiff(t, b[name]), name);
    }

    // Reads every tensor of folder/model.safetensors, lets the test edit the set, and writes it back.
    private void RewriteWeights(Action<Dictionary<string, Tensor>> edit)
    {
        using var scope = NewDisposeScope();
        string path = Path.Combine(folder, "model.safetensors");
        var tensors = new Dictionary<string, Tensor>();
        using (var file = SafeTensorsFile.Open(path))
            foreach (var info in file.Tensors) tensors[info.Name] = file.Read(info.Name);
        edit(tensors);
        SafeTensorsFile.Save(path, tensors);
    }

    [TestMethod]
    public void RandomCheckpointRoundTripsInFloat32()
    {
        var config = Qwen3Config.Tiny();
        Qwen3ForCausalLM.CreateRandomCheckpoint(config, folder, seed: 5, ScalarType.Float32);
        CollectionAssert.AreEquivalent(new[] { "config.json", "model.safetensors" }, Directory.GetFiles(folder).Select(Path.GetFileName).ToArray());
        using (var file = SafeTensorsFile.Open(Path.Combine(folder, "model.safetensors")))
        {
            Assert.HasCount(2 + 2 * 11, file.Tensors, "embedding, final norm, 11 tensors per layer; no lm_head.weight (tied)");
            Assert.IsFalse(file.Contains("lm_head.weight"));
            Assert.IsTrue(file.Tensors.All(t => t.DType == "F32"));
        }
        using var loaded = Qwen3ForCausalLM.FromPretrained(folder, CPU, ScalarType.Float32);
        using var fresh = new Qwen3ForCausalLM(config, seed: 5);
        AssertSameWeights(fresh, loaded);
        Assert.AreEqual(config.ToJson(), loaded.Config.ToJson());
        Assert.IsFalse(loaded.training, "FromPretrained returns an eval-mode model");
    }

    [TestMethod]
    public void Bfloat16CheckpointsStoreBf16AndSayItInTheConfig()
    {
        Qwen3ForCausalLM.CreateRandomCheckpoint(Qwen3Config.Tiny(), folder, seed: 5, ScalarType.BFloat16);
        using (var file = SafeTensorsFile.Open(Path.Combine(folder, "model.safetensors")))
            Assert.IsTrue(file.Tensors.All(t => t.DType == "BF16"));
        Assert.AreEqual("bfloat16", Qwen3Config.Load(Path.Combine(folder, "config.json")).TorchDtype);

        using var loaded = Qwen3ForCausalLM.FromPretrained(folder, CPU, ScalarType.Float32);
        using var fresh = new Qwen3ForCausalLM(Qwen3Config.Tiny(), seed: 5);
        fresh.to(ScalarType.BFloat16).to(ScalarType.Float32);
        AssertSameWeights(fresh, loaded);   // same draws, rounded to bf16 once
    }

    [TestMethod]
    public void SaveToFolderKeepsAnUntiedHeadAndTheTrainedValues()
    {
        using var model = Qwen3ModelTests.NewTiny(9, c => c.TieWordEmbeddings = false);
        using (no_grad()) model.lm_head!.weight!.mul_(3);
        model.SaveToFolder(folder);
        using (var file = SafeTensorsFile.Open(Path.Combine(folder, "model.safetensors")))
            Assert.IsTrue(file.Contains("lm_head.weight"));
        using var loaded = Qwen3ForCausalLM.FromPretrained(folder, CPU, ScalarType.Float32);
        Assert.IsNotNull(loaded.lm_head);
        AssertSameWeights(model, loaded);
    }

    [TestMethod]
    public void TamperedCheckpointsFailStrictLoadingWithEveryDifferenceNamed()
    {
        Qwen3ForCausalLM.CreateRandomCheckpoint(Qwen3Config.Tiny(), folder, seed: 5, ScalarType.Float32);
        RewriteWeights(tensors =>
        {
            tensors["model.layers.1.self_attn.k_norm.weight"] = torch.ones(16);            // head_dim 32 expected
            tensors.Remove("model.layers.0.mlp.up_proj.weight");
            tensors["model.layers.2.input_layernorm.weight"] = torch.ones(64);              // only 2 layers
        });

        var e = Assert.ThrowsExactly<CheckpointMismatchException>(() => Qwen3ForCausalLM.FromPretrained(folder, CPU, ScalarType.Float32));
        StringAssert.Contains(e.Message, "model.layers.1.self_attn.k_norm.weight");
        StringAssert.Contains(e.Message, "model.layers.0.mlp.up_proj.weight");
        StringAssert.Contains(e.Message, "model.layers.2.input_layernorm.weight");
        CollectionAssert.AreEqual(new[] { "model.layers.0.mlp.up_proj.weight" }, e.Missing.ToArray());
        CollectionAssert.AreEqual(new[] { "model.layers.2.input_layernorm.weight" }, e.Unexpected.ToArray());
        Assert.AreEqual("model.layers.1.self_attn.k_norm.weight", e.Mismatched.Single().ModelKey);
    }

    [TestMethod]
    public void ConfigThatDisagreesWithTheWeightsIsAMismatch()
    {
        Qwen3ForCausalLM.CreateRandomCheckpoint(Qwen3Config.Tiny(), folder, seed: 5, ScalarType.Float32);
        var config = Qwen3Config.Tiny();
        config.TieWordEmbeddings = false;
        File.WriteAllText(Path.Combine(folder, "config.json"), config.ToJson());
        var e = Assert.ThrowsExactly<CheckpointMismatchException>(() => Qwen3ForCausalLM.FromPretrained(folder, CPU, ScalarType.Float32));
        CollectionAssert.AreEqual(new[] { "lm_head.weight" }, e.Missing.ToArray());
    }

    [TestMethod]
    public void ARedundantLmHeadInATiedCheckpointIsIgnoredLikeTransformers()
    {
        Qwen3ForCausalLM.CreateRandomCheckpoint(Qwen3Config.Tiny(), folder, seed: 5, ScalarType.Float32);
        RewriteWeights(tensors => tensors["lm_head.weight"] = tensors["model.embed_tokens.weight"].clone());
        var log = new List<string>();
        using var loaded = Qwen3ForCausalLM.FromPretrained(folder, CPU, ScalarType.Float32, log.Add);
        Assert.IsNull(loaded.lm_head);
        Assert.IsTrue(log.Any(l => l.Contains("ignored lm_head.weight")), string.Join("\n", log));
    }

    [TestMethod]
    public void LogitsJsonlMatchesTheParityFixture()
    {
        Directory.CreateDirectory(folder);
        using var inputs = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(ParityFixture, "inputs.json")));
        using var expected = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(ParityFixture, "expected.json")));
        var seqs = inputs.RootElement.GetProperty("sequences");
        string input = Path.Combine(folder, "in.jsonl"), output = Path.Combine(folder, "out.jsonl");
        File.WriteAllLines(input, [
            $$"""{"name": "s0", "ids": {{seqs[0].GetProperty("input_ids").GetRawText().Replace("\n", "").Replace(" ", "")}}}""",
            "",
            $$"""{"ids": {{seqs[1].GetProperty("input_ids").GetRawText().Replace("\n", "").Replace(" ", "")}}, "extra": [1, {"a": null}]}""",
        ]);
        MLNetLlmClassifier.Families.LogitsJsonl.RunJsonl(ParityFixture, input, output, CPU, ScalarType.Float32);

        var lines = File.ReadAllLines(output);
        Assert.HasCount(2, lines);
        var first = JsonNode.Parse(lines[0])!.AsObject();
        Assert.AreEqual("s0", first["name"]!.GetValue<string>());
        var logits = first["logits"]!.AsArray().Select(v => v!.GetValue<double>()).ToArray();
        var full = expected.RootElement.GetProperty("full_last_logits").EnumerateArray().Select(v => v.GetDouble()).ToArray();
        Assert.HasCount(151936, logits);
        Assert.IsLessThan(1e-4, logits.Zip(full, (a, b) => Math.Abs(a - b)).Max());
        var second = JsonNode.Parse(lines[1])!.AsObject();
        Assert.AreEqual("""[1,{"a":null}]""", second["extra"]!.ToJsonString());
        var hidden = second["hidden"]!.AsArray().Select(v => v!.GetValue<double>()).ToArray();
        var hiddenExpected = expected.RootElement.GetProperty("sequences")[1].GetProperty("last_hidden_state_last").EnumerateArray().Select(v => v.GetDouble()).ToArray();
        Assert.HasCount(64, hidden);
        Assert.IsLessThan(1e-4, hidden.Zip(hiddenExpected, (a, b) => Math.Abs(a - b)).Max());
    }

    [TestMethod]
    public void LogitsJsonlRejectsABadLineAndWritesNothing()
    {
        Directory.CreateDirectory(folder);
        string input = Path.Combine(folder, "in.jsonl"), output = Path.Combine(folder, "out.jsonl");
        File.WriteAllLines(input, ["""{"ids": [1, 2]}""", """{"ids": [3, 151936]}"""]);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => MLNetLlmClassifier.Families.LogitsJsonl.RunJsonl(ParityFixture, input, output, CPU, ScalarType.Float32));
        StringAssert.Contains(e.Message, "in.jsonl:2");
        StringAssert.Contains(e.Message, "ids[1] = 151936");
        Assert.IsFalse(File.Exists(output));
        Assert.HasCount(1, Directory.GetFiles(folder), "no temporary file left behind");
    }
}
