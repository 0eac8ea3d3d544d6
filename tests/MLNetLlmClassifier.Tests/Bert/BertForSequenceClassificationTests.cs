using MLNetLlmClassifier.Bert;
using MLNetLlmClassifier.Checkpoints;
using MLNetLlmClassifier.Tests.Checkpoints;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetLlmClassifier.Tests.Bert;

[TestClass]
public class BertForSequenceClassificationTests
{
    private static BertConfig SmallConfig() =>
        new BertConfig
        {
            VocabSize = 50,
            HiddenSize = 32,
            NumHiddenLayers = 2,
            NumAttentionHeads = 4,
            IntermediateSize = 64,
            MaxPositionEmbeddings = 16,
            HiddenDropoutProb = 0.2,
            AttentionProbsDropoutProb = 0.2,
        }.WithLabels(["neg", "pos", "neutral"]);

    /// <summary>Two right-padded rows: lengths 6 and 3, pad id 0, a pair in the first row.</summary>
    private static (Tensor Ids, Tensor Mask, Tensor Types) Batch()
    {
        var ids = tensor(new long[] { 2, 11, 12, 3, 13, 3, 2, 14, 3, 0, 0, 0 }).reshape(2, 6);
        var mask = tensor(new long[] { 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0 }).reshape(2, 6);
        var types = tensor(new long[] { 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0 }).reshape(2, 6);
        return (ids, mask, types);
    }

    private static BertClassifierOutput Run(BertForSequenceClassification model)
    {
        var (ids, mask, types) = Batch();
        using var noGrad = no_grad();
        return model.forward(ids, mask, types);
    }

    private static void AssertSameOutputs(BertClassifierOutput expected, BertClassifierOutput actual)
    {
        TensorAssert.SameBytes(expected.Logits, actual.Logits, "logits");
        TensorAssert.SameBytes(expected.PooledOutput, actual.PooledOutput, "pooled output");
        TensorAssert.SameBytes(expected.LastHiddenState, actual.LastHiddenState, "last hidden state");
    }

    [TestMethod]
    public void ARandomCheckpointLoadsBackToTheSameModel()
    {
        using var tmp = new TempFolder();
        using var scope = NewDisposeScope();
        var config = SmallConfig();
        using var inMemory = new BertForSequenceClassification(config, 3, seed: 7);
        inMemory.eval();
        BertForSequenceClassification.CreateRandomCheckpoint(config, tmp.Path, seed: 7);

        var log = new List<string>();
        using var loaded = BertForSequenceClassification.FromPretrained(tmp.Path, 3, CPU, log.Add);
        CollectionAssert.AreEqual(Array.Empty<string>(), log, "a complete checkpoint loads without notes");
        Assert.IsFalse(loaded.training, "FromPretrained returns the model in eval mode");
        CollectionAssert.AreEqual(new[] { "neg", "pos", "neutral" }, loaded.Config.Labels.ToList());
        AssertSameOutputs(Run(inMemory), Run(loaded));
    }

    [TestMethod]
    public void SavingTheFixtureReproducesTransformersFilesAndOutputs()
    {
        using var tmp = new TempFolder();
        using var scope = NewDisposeScope();
        using var model = BertForSequenceClassification.FromPretrained(BertParityTests.Folder, 4, CPU);
        model.SaveToFolder(tmp.Path, model.Config);

        // Same tensors, names, order and header as transformers' save_pretrained: the very same bytes.
        CollectionAssert.AreEqual(
            File.ReadAllBytes(Path.Combine(BertParityTests.Folder, "model.safetensors")),
            File.ReadAllBytes(Path.Combine(tmp.Path, "model.safetensors")));
        var config = BertConfig.Load(tmp.Path);
        Assert.IsNull(config.ArchitectureDifference(model.Config));
        CollectionAssert.AreEqual(model.Config.Labels.ToList(), config.Labels.ToList());

        using var reloaded = BertForSequenceClassification.FromPretrained(tmp.Path, 4, CPU);
        AssertSameOutputs(Run(model), Run(reloaded));
    }

    [TestMethod]
    public void AnotherLabelCountReinitialisesOnlyTheHead()
    {
        using var scope = NewDisposeScope();
        var log = new List<string>();
        using var fourWay = BertForSequenceClassification.FromPretrained(BertParityTests.Folder, 4, CPU);
        using var twoWay = BertForSequenceClassification.FromPretrained(BertParityTests.Folder, 2, CPU, log.Add);
        Assert.AreEqual(2, twoWay.NumLabels);
        CollectionAssert.AreEqual(new[] { "LABEL_0", "LABEL_1" }, twoWay.Config.Labels.ToList());
        Assert.IsTrue(log.Any(l => l.Contains("classifier.weight") && l.Contains("reinitialised")), string.Join("\n", log));

        var four = Run(fourWay);
        var two = Run(twoWay);
        CollectionAssert.AreEqual(new long[] { 2, 2 }, two.Logits.shape);
        AssertSameBytesOf(four.PooledOutput, two.PooledOutput); // the body is the checkpoint's
    }

    [TestMethod]
    public void ABareBertModelCheckpointGetsAFreshHeadAndPoolerWithNotes()
    {
        using var tmp = new TempFolder();
        using var scope = NewDisposeScope();
        // What a bare BertModel / BertForPreTraining checkpoint looks like: no "bert." prefix, pre-training head,
        // position_ids buffer, old gamma/beta names, and (saved with add_pooling_layer=False) no pooler.
        using (var fixture = HfModelFolder.OpenWeights(BertParityTests.Folder))
        {
            var bare = fixture.Names
                .Where(n => n.StartsWith("bert.", StringComparison.Ordinal) && !n.StartsWith("bert.pooler.", StringComparison.Ordinal))
                .Select(n => KeyValuePair.Create(n["bert.".Length..].Replace("LayerNorm.weight", "LayerNorm.gamma").Replace("LayerNorm.bias", "LayerNorm.beta"), fixture.Read(n)))
                .Append(KeyValuePair.Create("cls.predictions.bias", zeros(30522)))
                .Append(KeyValuePair.Create("embeddings.position_ids", arange(128).unsqueeze(0)));
            HfModelFolder.SaveWeights(tmp.Path, bare);
        }
        var config = BertConfig.Load(BertParityTests.Folder);
        config.Architectures = ["BertModel"];
        HfModelFolder.WriteJson(Path.Combine(tmp.Path, "config.json"), config.ToJson());

        var log = new List<string>();
        using var model = BertForSequenceClassification.FromPretrained(tmp.Path, 4, CPU, log.Add, seed: 3);
        string all = string.Join("\n", log);
        // One line for every newly initialised tensor, as transformers reports them.
        Assert.HasCount(1, log.Where(l => l.Contains("newly initialised", StringComparison.Ordinal)), all);
        StringAssert.Contains(all, "newly initialised (seed 3): bert.pooler.dense.bias, bert.pooler.dense.weight, classifier.bias, classifier.weight;");
        StringAssert.Contains(all, "saved without its pooling layer");
        StringAssert.Contains(all, "ignored 2");

        using var reference = BertForSequenceClassification.FromPretrained(BertParityTests.Folder, 4, CPU);
        AssertSameBytesOf(Run(reference).LastHiddenState, Run(model).LastHiddenState); // the encoder loaded
    }

    [TestMethod]
    public void ACheckpointForAnotherArchitectureIsRefusedListingEveryProblem()
    {
        using var tmp = new TempFolder();
        var config = SmallConfig();
        BertForSequenceClassification.CreateRandomCheckpoint(config, tmp.Path, seed: 1);
        config.NumHiddenLayers = 3;
        config.IntermediateSize = 48;
        HfModelFolder.WriteJson(Path.Combine(tmp.Path, "config.json"), config.ToJson());

        var e = Assert.ThrowsExactly<CheckpointMismatchException>(() => BertForSequenceClassification.FromPretrained(tmp.Path, 3, CPU));
        Assert.IsTrue(e.Missing.Contains("bert.encoder.layer.2.attention.self.query.weight"));
        Assert.IsTrue(e.Mismatched.Any(m => m.ModelKey == "bert.encoder.layer.0.intermediate.dense.weight"));
        StringAssert.Contains(e.Message, "[48, 32]");
        StringAssert.Contains(e.Message, "[64, 32]");
    }

    [TestMethod]
    public void InitialisationFollowsTransformersAndTheSeed()
    {
        var config = BertConfig.Tiny(1000);
        using var a = new BertForSequenceClassification(config, 2, seed: 5);
        using var b = new BertForSequenceClassification(config, 2, seed: 5);
        using var c = new BertForSequenceClassification(config, 2, seed: 6);
        var sa = a.state_dict();
        var sb = b.state_dict();
        foreach (var (name, t) in sa) TensorAssert.SameBytes(t, sb[name], name);
        Assert.IsFalse(sa["classifier.weight"].equal(c.state_dict()["classifier.weight"]).all().item<bool>(), "another seed, other weights");

        using var scope = NewDisposeScope();
        var words = sa["bert.embeddings.word_embeddings.weight"];
        Assert.AreEqual(0.0, words[0].abs().sum().item<float>(), "padding row is zero");
        double std = words[1..].std().item<float>();
        Assert.IsTrue(Math.Abs(std - 0.02) < 0.001, $"std {std}");
        Assert.AreEqual(0.0, sa["bert.encoder.layer.1.attention.self.key.bias"].abs().sum().item<float>());
        Assert.IsTrue(sa["bert.encoder.layer.0.output.LayerNorm.weight"].eq(1).all().item<bool>());
        Assert.AreEqual(0.0, sa["bert.embeddings.LayerNorm.bias"].abs().sum().item<float>());
    }

    [TestMethod]
    public void PaddingDoesNotChangeTheRealRowsAndBoolMasksWorkLikeIntegerMasks()
    {
        using var scope = NewDisposeScope();
        using var model = new BertForSequenceClassification(SmallConfig(), 3, seed: 2);
        model.eval();
        var (ids, mask, types) = Batch();
        using var noGrad = no_grad();
        var padded = model.forward(ids, mask, types);
        var boolMasked = model.forward(ids, mask.to(ScalarType.Bool), types);
        TensorAssert.SameBytes(padded.Logits, boolMasked.Logits, "bool mask");

        var alone = model.forward(ids[1..2, ..3], null, types[1..2, ..3]);
        Assert.IsTrue(alone.Logits.allclose(padded.Logits[1..2], 1e-5, 1e-6), "logits of the padded row differ from the row alone");
        Assert.IsTrue(alone.LastHiddenState.allclose(padded.LastHiddenState[1..2, ..3], 1e-5, 1e-5));
    }

    [TestMethod]
    public void DropoutIsActiveOnlyInTrainingMode()
    {
        using var scope = NewDisposeScope();
        using var model = new BertForSequenceClassification(SmallConfig(), 3, seed: 2);
        model.train();
        Assert.IsFalse(Run(model).Logits.equal(Run(model).Logits).all().item<bool>(), "training runs should differ (dropout)");
        model.eval();
        AssertSameOutputs(Run(model), Run(model));
    }

    [TestMethod]
    public void BadInputsAreClearErrors()
    {
        using var scope = NewDisposeScope();
        using var model = new BertForSequenceClassification(SmallConfig(), 3, seed: 2);
        var (ids, mask, _) = Batch();
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => model.forward(ids.add(45), mask, null)).Message, "vocab_size");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => model.forward(ones(1, 17, dtype: ScalarType.Int64), null, null)).Message, "max_position_embeddings");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => model.forward(ids, mask[.., ..4], null)).Message, "attention_mask");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => model.forward(ids, mask, full_like(ids, 2))).Message, "type_vocab_size");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => model.forward(ids.to(ScalarType.Float32), mask, null)).Message, "input_ids");
    }

    [TestMethod]
    public void SaveToFolderRefusesAConfigOfAnotherShape()
    {
        using var tmp = new TempFolder();
        using var model = new BertForSequenceClassification(SmallConfig(), 3, seed: 2);
        var other = SmallConfig();
        other.HiddenSize = 64;
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => model.SaveToFolder(tmp.Path, other)).Message, "hidden_size");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => model.SaveToFolder(tmp.Path, SmallConfig().WithNumLabels(2))).Message, "labels");
        Assert.AreEqual(0, Directory.GetFiles(tmp.Path).Length);
    }

    [TestMethod]
    [DataRow("gelu", 0.8413447460685429, DisplayName = "gelu is exact (erf)")]
    [DataRow("gelu_new", 0.8411919906082768, DisplayName = "gelu_new is the tanh approximation")]
    [DataRow("gelu_pytorch_tanh", 0.8411919906082768, DisplayName = "gelu_pytorch_tanh is the tanh approximation")]
    [DataRow("relu", 1.0, DisplayName = "relu")]
    public void ActivationsFollowTransformersNames(string name, double atOne)
    {
        // The tiny parity fixture cannot tell the two GELUs apart (its activations are ~0.1), so check them here.
        using var scope = NewDisposeScope();
        var y = BertForSequenceClassification.Activation(name)(tensor(new double[] { 1.0, -3.0 }));
        Assert.AreEqual(atOne, y[0].item<double>(), 1e-12);
        Assert.ThrowsExactly<ArgumentException>(() => BertForSequenceClassification.Activation("swish"));
    }

    private static void AssertSameBytesOf(Tensor expected, Tensor actual) => TensorAssert.SameBytes(expected, actual, "tensor");
}
