using System.Diagnostics;
using System.Text.Json.Nodes;
using MLNetLlmClassifier.Bert;
using MLNetLlmClassifier.Checkpoints;
using MLNetLlmClassifier.Qwen3;
using MLNetLlmClassifier.Tests.Qwen3;
using static TorchSharp.torch;

namespace MLNetLlmClassifier.Tests.Checkpoints;

/// <summary>
/// config.json sizes are checked before a module is built: against bounds, against the tensor sizes the checkpoint's
/// safetensors headers declare, and against the memory available; each failure is fast and names the file and field
/// (issue 11, item 2).
/// </summary>
[TestClass]
public class ConfigSizeGuardTests
{
    private static TempFolder _temp = null!;
    private static string _bert = "";
    private static TinyQwen3Folder _qwen = null!;

    [ClassInitialize]
    public static void Init(TestContext _)
    {
        _temp = new TempFolder();
        _bert = _temp.File("bert");
        BertFamily.Instance.CreateRandomCheckpoint(new("tiny", TestPaths.Shared("models", "bert-uncased-vocab", "vocab.txt"), _bert, Seed: 1));
        _qwen = new TinyQwen3Folder();
    }

    [ClassCleanup]
    public static void Cleanup()
    {
        _temp?.Dispose();
        _qwen?.Dispose();
    }

    /// <summary>A copy of a model folder whose config.json has <paramref name="field"/> set to <paramref name="value"/>.</summary>
    private static string WithField(string folder, string field, long value)
    {
        var copy = _temp.File($"{Path.GetFileName(folder)}-{field}-{value}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(copy);
        foreach (var f in Directory.GetFiles(folder))
            File.Copy(f, Path.Combine(copy, Path.GetFileName(f)));
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(copy, "config.json")))!.AsObject();
        config[field] = value;
        File.WriteAllText(Path.Combine(copy, "config.json"), config.ToJsonString());
        return copy;
    }

    private static void AssertFailsFast(Action load, string field, string? also = null)
    {
        var watch = Stopwatch.StartNew();
        var e = Assert.Throws<Exception>(load);
        watch.Stop();
        Console.WriteLine($"{field}: {watch.Elapsed.TotalMilliseconds:F0} ms: {e.GetType().Name}: {e.Message}");
        Assert.IsInstanceOfType<InvalidDataException>(e, e.ToString());
        Assert.IsLessThan(1.0, watch.Elapsed.TotalSeconds, $"took {watch.Elapsed.TotalSeconds:F2} s: {e.Message}");
        Assert.DoesNotContain("\n", e.Message, e.Message);
        StringAssert.Contains(e.Message, "config.json", e.Message);
        StringAssert.Contains(e.Message, field, e.Message);
        if (also is not null) StringAssert.Contains(e.Message, also, e.Message);
    }

    [TestMethod]
    [DataRow("vocab_size", 2_000_000_000L)]
    [DataRow("intermediate_size", 2_000_000_000L)]
    [DataRow("max_position_embeddings", 2_000_000_000L)]
    [DataRow("hidden_size", 2_000_000_000L)]
    [DataRow("num_hidden_layers", 1_000_000L)]
    [DataRow("num_hidden_layers", 3_000L)]
    public void BertSizesOutOfBoundsFailBeforeAllocating(string field, long value) =>
        AssertFailsFast(() => BertForSequenceClassification.FromPretrained(WithField(_bert, field, value), 2, CPU).Dispose(), field, "limit");

    [TestMethod]
    [DataRow("num_hidden_layers", 900L)]
    [DataRow("vocab_size", 2_000_000L)]
    [DataRow("intermediate_size", 1_000_000L)]
    [DataRow("max_position_embeddings", 1_000_000L)]
    public void BertSizesThatDisagreeWithTheCheckpointFailBeforeAllocating(string field, long value) =>
        AssertFailsFast(() => BertForSequenceClassification.FromPretrained(WithField(_bert, field, value), 2, CPU).Dispose(), field, "checkpoint");

    [TestMethod]
    [DataRow("vocab_size", 2_000_000_000L)]
    [DataRow("intermediate_size", 2_000_000_000L)]
    [DataRow("max_position_embeddings", 2_000_000_000L)]
    [DataRow("num_hidden_layers", 1_000_000L)]
    [DataRow("num_hidden_layers", 3_000L)]
    public void Qwen3SizesOutOfBoundsFailBeforeAllocating(string field, long value) =>
        AssertFailsFast(() => Qwen3ForCausalLM.FromPretrained(WithField(_qwen.Path, field, value), CPU, ScalarType.Float32).Dispose(), field, "limit");

    [TestMethod]
    [DataRow("num_hidden_layers", 900L)]
    [DataRow("vocab_size", 5_000_000L)]
    [DataRow("intermediate_size", 1_000_000L)]
    [DataRow("hidden_size", 4_096L)]
    public void Qwen3SizesThatDisagreeWithTheCheckpointFailBeforeAllocating(string field, long value) =>
        AssertFailsFast(() => Qwen3ForCausalLM.FromPretrained(WithField(_qwen.Path, field, value), CPU, ScalarType.Float32).Dispose(), field, "checkpoint");

    [TestMethod]
    public void AModelLargerThanTheMemoryIsRefusedNamingTheField()
    {
        var saved = ModelSizeGuard.AvailableMemoryBytes;
        try
        {
            // Within every bound and consistent with itself, but 10M × 65,536 floats (2.6 TB) fit no machine.
            var config = BertConfig.Tiny(10_000_000);
            config.HiddenSize = 65_536;
            var watch = Stopwatch.StartNew();
            var e = Assert.ThrowsExactly<InvalidDataException>(() => new BertForSequenceClassification(config, 2, 0).Dispose());
            Assert.IsLessThan(1.0, watch.Elapsed.TotalSeconds);
            StringAssert.Contains(e.Message, "vocab_size");
            StringAssert.Contains(e.Message, "memory available");

            // The same with a small model and little memory (as in a container with a low limit), for Qwen3 too.
            ModelSizeGuard.AvailableMemoryBytes = () => 1_000_000;
            e = Assert.ThrowsExactly<InvalidDataException>(() => Qwen3ForCausalLM.FromPretrained(_qwen.Path, CPU, ScalarType.Float32).Dispose());
            StringAssert.Contains(e.Message, Path.Combine(_qwen.Path, "config.json"));
            StringAssert.Contains(e.Message, "vocab_size");
            e = Assert.ThrowsExactly<InvalidDataException>(() => BertForSequenceClassification.FromPretrained(_bert, 2, CPU).Dispose());
            StringAssert.Contains(e.Message, "config.json");
        }
        finally
        {
            ModelSizeGuard.AvailableMemoryBytes = saved;
        }
        // And the intact folders load.
        BertForSequenceClassification.FromPretrained(_bert, 2, CPU).Dispose();
        Qwen3ForCausalLM.FromPretrained(_qwen.Path, CPU, ScalarType.Float32).Dispose();
    }
}
