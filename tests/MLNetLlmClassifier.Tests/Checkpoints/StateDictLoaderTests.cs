using MLNetLlmClassifier.Checkpoints;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetLlmClassifier.Tests.Checkpoints;

[TestClass]
public class StateDictLoaderTests
{
    /// <summary>Keys: encoder.weight [4,3], encoder.bias [4], head.weight [2,4], head.bias [2].</summary>
    private sealed class Tiny : nn.Module<Tensor, Tensor>
    {
        private readonly Linear encoder;
        private readonly Linear head;

        public Tiny() : base(nameof(Tiny))
        {
            encoder = nn.Linear(3, 4);
            head = nn.Linear(4, 2);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x) => head.forward(encoder.forward(x));
    }

    /// <summary>The same keys under "bert.".</summary>
    private sealed class Wrapped : nn.Module<Tensor, Tensor>
    {
        private readonly Tiny bert;

        public Wrapped() : base(nameof(Wrapped))
        {
            bert = new Tiny();
            RegisterComponents();
        }

        public override Tensor forward(Tensor x) => bert.forward(x);
    }

    private static Dictionary<string, Tensor> RandomTinyCheckpoint(string prefix = "", int seed = 1)
    {
        using var g = new Generator((ulong)seed);
        return new Dictionary<string, Tensor>
        {
            [prefix + "encoder.weight"] = randn([4, 3], generator: g),
            [prefix + "encoder.bias"] = randn([4], generator: g),
            [prefix + "head.weight"] = randn([2, 4], generator: g),
            [prefix + "head.bias"] = randn([2], generator: g),
        };
    }

    private static CheckpointWeights Open(TempFolder tmp, IEnumerable<KeyValuePair<string, Tensor>> tensors)
    {
        HfModelFolder.SaveWeights(tmp.Path, tensors);
        return HfModelFolder.OpenWeights(tmp.Path);
    }

    [TestMethod]
    public void ExactKeysAreLoadedIntoTheParameters()
    {
        using var tmp = new TempFolder();
        using var scope = NewDisposeScope();
        var checkpoint = RandomTinyCheckpoint();
        using var model = new Tiny();
        using var weights = Open(tmp, checkpoint);
        var report = StateDictLoader.Load(model, weights);
        Assert.AreEqual(4, report.Loaded.Count);
        var state = model.state_dict();
        foreach (var (name, expected) in checkpoint)
            TensorAssert.SameBytes(expected, state[name], name);
        // The parameters themselves changed (not a copy of the state dict).
        var x = ones(1, 3);
        var manual = checkpoint["head.weight"].matmul(checkpoint["encoder.weight"].matmul(x.t()) + checkpoint["encoder.bias"].unsqueeze(1)).t() + checkpoint["head.bias"];
        Assert.IsTrue(manual.allclose(model.forward(x), 1e-5, 1e-6));
    }

    [TestMethod]
    public void MissingUnexpectedAndMisShapedTensorsAreAllListedInOneException()
    {
        using var tmp = new TempFolder();
        using var scope = NewDisposeScope();
        var checkpoint = RandomTinyCheckpoint();
        checkpoint.Remove("encoder.bias");
        checkpoint["head.weight"] = zeros(3, 4);
        checkpoint["extra.thing"] = zeros(1);
        using var model = new Tiny();
        var before = model.state_dict()["encoder.weight"].clone();
        using var weights = Open(tmp, checkpoint);

        var e = Assert.ThrowsExactly<CheckpointMismatchException>(() => StateDictLoader.Load(model, weights));
        CollectionAssert.AreEqual(new[] { "encoder.bias" }, e.Missing.ToList());
        CollectionAssert.AreEqual(new[] { "extra.thing" }, e.Unexpected.ToList());
        Assert.AreEqual("head.weight", e.Mismatched.Single().ModelKey);
        CollectionAssert.AreEqual(new long[] { 2, 4 }, e.Mismatched.Single().Expected);
        CollectionAssert.AreEqual(new long[] { 3, 4 }, e.Mismatched.Single().Found);
        foreach (string fragment in new[] { "missing", "encoder.bias", "unexpected", "extra.thing", "head.weight", "[2, 4]", "[3, 4]", "model.safetensors" })
            StringAssert.Contains(e.Message, fragment);
        Assert.DoesNotContain('\n', e.Message, "one line: " + e.Message);
        // Nothing was copied: the check comes first.
        TensorAssert.SameBytes(before, model.state_dict()["encoder.weight"], "encoder.weight");
    }

    [TestMethod]
    public void PrefixesAreAddedOrStripped()
    {
        var options = new StateDictLoadOptions { KeyPrefixes = ["bert."] };
        using var scope = NewDisposeScope();

        // Model "bert.x", checkpoint bare "x".
        using (var tmp = new TempFolder())
        using (var model = new Wrapped())
        using (var weights = Open(tmp, RandomTinyCheckpoint()))
        {
            var report = StateDictLoader.Load(model, weights, options);
            Assert.AreEqual("encoder.weight", report.Loaded["bert.encoder.weight"]);
            Assert.ThrowsExactly<CheckpointMismatchException>(() => StateDictLoader.Load(model, weights));
        }

        // Model bare "x", checkpoint "bert.x".
        using (var tmp = new TempFolder())
        using (var model = new Tiny())
        using (var weights = Open(tmp, RandomTinyCheckpoint("bert.")))
        {
            var report = StateDictLoader.Load(model, weights, options);
            Assert.AreEqual("bert.head.bias", report.Loaded["head.bias"]);
        }

        // Model "bert.x", checkpoint "bert.x": exact.
        using (var tmp = new TempFolder())
        using (var model = new Wrapped())
        using (var weights = Open(tmp, RandomTinyCheckpoint("bert.")))
            Assert.AreEqual("bert.head.bias", StateDictLoader.Load(model, weights, options).Loaded["bert.head.bias"]);
    }

    [TestMethod]
    public void AllowedDifferencesAreReportedAndKeepTheInitialValues()
    {
        using var tmp = new TempFolder();
        using var scope = NewDisposeScope();
        var checkpoint = RandomTinyCheckpoint();
        checkpoint.Remove("head.bias");
        checkpoint["head.weight"] = zeros(5, 4);
        checkpoint["cls.predictions.bias"] = zeros(7);
        checkpoint["embeddings.position_ids"] = zeros([1, 7], ScalarType.Int64);
        using var model = new Tiny();
        var headBefore = model.state_dict()["head.weight"].clone();
        using var weights = Open(tmp, checkpoint);

        var report = StateDictLoader.Load(model, weights, new StateDictLoadOptions
        {
            IgnoreUnexpected = ["cls.", "*.position_ids"],
            AllowMissing = ["head."],
            ReinitializeOnShapeMismatch = ["head."],
        });
        CollectionAssert.AreEqual(new[] { "head.bias" }, report.MissingKeptInitialized.ToList());
        Assert.AreEqual("head.weight", report.Reinitialized.Single().ModelKey);
        CollectionAssert.AreEqual(new[] { "cls.predictions.bias", "embeddings.position_ids" }, report.IgnoredUnexpected.ToList());
        CollectionAssert.AreEquivalent(new[] { "encoder.weight", "encoder.bias" }, report.Loaded.Keys.ToList());
        TensorAssert.SameBytes(headBefore, model.state_dict()["head.weight"], "head.weight");
        TensorAssert.SameBytes(checkpoint["encoder.weight"], model.state_dict()["encoder.weight"], "encoder.weight");
        StringAssert.Contains(report.ToString(), "head.bias");
    }

    [TestMethod]
    public void Bfloat16CheckpointsAreConvertedToTheParameterDtype()
    {
        using var tmp = new TempFolder();
        using var scope = NewDisposeScope();
        var checkpoint = RandomTinyCheckpoint().ToDictionary(kv => kv.Key, kv => kv.Value.to(ScalarType.BFloat16));
        using var model = new Tiny();
        using var weights = Open(tmp, checkpoint);
        StateDictLoader.Load(model, weights);
        var loaded = model.state_dict()["encoder.weight"];
        Assert.AreEqual(ScalarType.Float32, loaded.dtype);
        TensorAssert.SameBytes(checkpoint["encoder.weight"].to(ScalarType.Float32), loaded, "encoder.weight");
    }

    [TestMethod]
    public void SuffixRenamesMapOldLayerNormNames()
    {
        using var tmp = new TempFolder();
        using var scope = NewDisposeScope();
        var checkpoint = RandomTinyCheckpoint();
        checkpoint["head.gamma"] = checkpoint["head.weight"];
        checkpoint.Remove("head.weight");
        using var model = new Tiny();
        using var weights = Open(tmp, checkpoint);
        var report = StateDictLoader.Load(model, weights, new StateDictLoadOptions { CheckpointSuffixRenames = [(".gamma", ".weight")] });
        Assert.AreEqual("head.gamma", report.Loaded["head.weight"]);
        TensorAssert.SameBytes(checkpoint["head.gamma"], model.state_dict()["head.weight"], "head.weight");
    }

    [TestMethod]
    public void ExportListsTheStateDictSortedByName()
    {
        using var model = new Wrapped();
        CollectionAssert.AreEqual(
            new[] { "bert.encoder.bias", "bert.encoder.weight", "bert.head.bias", "bert.head.weight" },
            StateDictLoader.Export(model).Select(kv => kv.Key).ToList());
    }
}
