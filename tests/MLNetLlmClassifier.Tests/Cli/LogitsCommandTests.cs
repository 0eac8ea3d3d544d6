using System.Text.Json;
using System.Text.Json.Nodes;

namespace MLNetLlmClassifier.Tests.Cli;

/// <summary><c>mlnet-llm logits</c> against the Hugging Face fixtures, and <c>init-model --arch qwen3</c>.</summary>
[TestClass]
public class LogitsCommandTests
{
    private static string _root = "";

    [ClassInitialize]
    public static void Init(TestContext _) => Directory.CreateDirectory(_root = Path.Combine(Path.GetTempPath(), $"logits-cli-{Guid.NewGuid():N}"));

    [ClassCleanup]
    public static void Cleanup() => Directory.Delete(_root, recursive: true);

    private static JsonObject Json(string path) => JsonNode.Parse(File.ReadAllText(path))!.AsObject();

    private static void AssertClose(JsonNode expected, JsonElement actual, string what)
    {
        var e = expected.AsArray().Select(v => v!.GetValue<double>()).ToArray();
        var a = actual.EnumerateArray().Select(v => v.GetDouble()).ToArray();
        Assert.AreEqual(e.Length, a.Length, what);
        for (int i = 0; i < e.Length; i++) Assert.AreEqual(e[i], a[i], 1e-4, $"{what}[{i}]");
    }

    [TestMethod]
    public void BertOutputsMatchTransformers()
    {
        var folder = TestPaths.Shared("fixtures", "hf-parity", "bert-tiny-a");
        var inputs = Json(Path.Combine(folder, "inputs.json"))["sequences"]!.AsArray();
        var expected = Json(Path.Combine(folder, "expected.json"))["sequences"]!.AsArray();
        var input = Path.Combine(_root, "bert-in.jsonl");
        File.WriteAllLines(input, inputs.Select(s => new JsonObject
        {
            ["ids"] = s!["input_ids"]!.DeepClone(),
            ["token_type_ids"] = s["token_type_ids"]!.DeepClone(),
            ["index"] = s["index"]!.DeepClone(),
        }.ToJsonString()));
        var output = Path.Combine(_root, "bert-out.jsonl");
        var (code, log) = CliTests.Run("logits", "--model", folder, "--input", input, "--output", output);
        Assert.AreEqual(0, code, log);
        var lines = File.ReadAllLines(output);
        Assert.AreEqual(expected.Count, lines.Length);
        for (int i = 0; i < lines.Length; i++)
        {
            using var doc = JsonDocument.Parse(lines[i]);
            var row = doc.RootElement;
            Assert.AreEqual(i, row.GetProperty("index").GetInt32(), "input fields are kept");
            AssertClose(expected[i]!["logits"]!, row.GetProperty("logits"), $"seq {i} logits");
            AssertClose(expected[i]!["pooler_output"]!, row.GetProperty("pooled"), $"seq {i} pooled");
            AssertClose(expected[i]!["last_hidden_state_0"]!, row.GetProperty("hidden"), $"seq {i} hidden");
        }
    }

    [TestMethod]
    public void Qwen3OutputsMatchTransformersAndBadLinesNameTheLine()
    {
        var folder = TestPaths.Shared("fixtures", "hf-parity", "qwen3-tiny-a");
        var inputs = Json(Path.Combine(folder, "inputs.json"));
        var expected = Json(Path.Combine(folder, "expected.json"));
        var tracked = inputs["tracked_token_ids"]?.AsArray() ?? expected["tracked_token_ids"]!.AsArray();
        var input = Path.Combine(_root, "qwen-in.jsonl");
        File.WriteAllLines(input, inputs["sequences"]!.AsArray().Select(s => new JsonObject { ["ids"] = s!["input_ids"]!.DeepClone() }.ToJsonString()));
        var output = Path.Combine(_root, "qwen-out.jsonl");
        var (code, log) = CliTests.Run("logits", "--model", folder, "--input", input, "--output", output);
        Assert.AreEqual(0, code, log);
        var lines = File.ReadAllLines(output);
        var sequences = expected["sequences"]!.AsArray();
        Assert.HasCount(sequences.Count, lines, "one output line per input sequence");
        for (int i = 0; i < lines.Length; i++)
        {
            using var doc = JsonDocument.Parse(lines[i]);
            var logits = doc.RootElement.GetProperty("logits").EnumerateArray().Select(v => v.GetDouble()).ToArray();
            Assert.AreEqual(151936, logits.Length);
            var want = sequences[i]!["last_logits_tracked"]!.AsArray();
            for (int k = 0; k < tracked.Count; k++)
                Assert.AreEqual(want[k]!.GetValue<double>(), logits[tracked[k]!.GetValue<int>()], 1e-4, $"seq {i} token {tracked[k]}");
            AssertClose(sequences[i]!["last_hidden_state_last"]!, doc.RootElement.GetProperty("hidden"), $"seq {i} hidden");
        }

        File.WriteAllText(input, "{\"ids\": [1, 2]}\n{\"ids\": [-5]}\n");
        (code, log) = CliTests.Run("logits", "--model", folder, "--input", input, "--output", output);
        Assert.AreEqual(1, code);
        StringAssert.Contains(log, "qwen-in.jsonl:2");
        CollectionAssert.AreEqual(lines, File.ReadAllLines(output), "the earlier output is left as it was");
    }

    [TestMethod]
    public void InitModelCreatesATinyQwen3ThatLoads()
    {
        var dir = Path.Combine(_root, "qwen3-tiny");
        var (code, log) = CliTests.Run("init-model", "--arch", "qwen3", "--preset", "tiny", "--tokenizer", TestPaths.Shared("models", "qwen3-tokenizer"), "--out", dir);
        Assert.AreEqual(0, code, log);
        foreach (var f in new[] { "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json" })
            Assert.IsTrue(File.Exists(Path.Combine(dir, f)), f);
        using var model = MLNetLlmClassifier.Qwen3.Qwen3ForCausalLM.FromPretrained(dir, TorchSharp.torch.CPU, TorchSharp.torch.ScalarType.Float32);
        Assert.AreEqual(2, model.Config.NumHiddenLayers);
    }
}
