using System.Text.Json.Nodes;
using MLNetLlmClassifier.Bert;
using MLNetLlmClassifier.Checkpoints;
using MLNetLlmClassifier.Peft;
using MLNetLlmClassifier.Qwen3;
using MLNetLlmClassifier.Tests.Qwen3;
using MLNetLlmClassifier.Text;
using MLNetLlmClassifier.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetLlmClassifier.Tests.Peft;

/// <summary>LoRA on tiny random Qwen3 (prompted decoder) and BERT classifiers: identity at start, training, merge, freezing.</summary>
[TestClass]
public class LoraTests
{
    private static TinyModels _models = null!;

    internal static readonly string[] Texts = ["a rocket in orbit", "stocks rose at the bank", "the team won the match", "new chips for computers"];

    [ClassInitialize]
    public static void Init(TestContext _) => _models = new TinyModels();

    [ClassCleanup]
    public static void Cleanup() => _models?.Dispose();

    private static ITrainableClassifier Qwen() => _models.NewQwen();

    private static ITrainableClassifier Bert() => _models.NewBert();

    internal static float[] Scores(ITrainableClassifier model)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        model.Module.eval();
        return model.ClassLogProbabilities(Texts.Select(t => model.Encode(t, null)).ToArray()).cpu().data<float>().ToArray();
    }

    internal static LoraConfig Config(int rank, params string[] targets) =>
        new() { Rank = rank, Alpha = 2 * rank, TargetModules = targets.Length == 0 ? [LoraConfig.AllLinear] : targets };

    /// <summary>Gives every lora_B random values, so that the adapter changes the outputs (a fresh one does not).</summary>
    internal static void Randomise(LoraModel lora, int seed, double std = 0.2)
    {
        using var noGrad = no_grad();
        using var g = new Generator((ulong)seed);
        foreach (var l in lora.Layers) l.B.weight!.normal_(0, std, g);
    }

    private static ITrainableClassifier[] Both() => [Qwen(), Bert()];

    [TestMethod]
    public void AFreshAdapterLeavesTheScoresBitForBit()
    {
        foreach (var model in Both())
            using (model)
            {
                var before = Scores(model);
                var lora = LoraModel.Attach(model.Module, Config(4) with { ModulesToSave = model.HeadModules, Dropout = 0.1 }, seed: 1);
                Assert.IsTrue(lora.Layers.Count > 0);
                CollectionAssert.AreEqual(before, Scores(model), $"{model.Family.Name}: lora_B = 0 must leave the outputs as they were");
                Randomise(lora, 2);
                Assert.IsFalse(before.SequenceEqual(Scores(model)), $"{model.Family.Name}: a non-zero adapter must change the scores (the hook runs)");
            }
    }

    [TestMethod]
    public void AllLinearTargetsEveryLinearButTheHeadsAndIsDeterministic()
    {
        using var qwen = Qwen();
        var lora = LoraModel.Attach(qwen.Module, Config(2), seed: 9);
        var names = lora.Layers.Select(l => l.Name[(l.Name.LastIndexOf('.') + 1)..]).Distinct().Order().ToArray();
        CollectionAssert.AreEqual(new[] { "down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj" }, names);
        using var bert = Bert();
        var bertLora = LoraModel.Attach(bert.Module, Config(2) with { ModulesToSave = bert.HeadModules }, seed: 9);
        Assert.IsFalse(bertLora.Layers.Any(l => l.Name.StartsWith("classifier", StringComparison.Ordinal)), "the head is trained in full, not adapted");
        CollectionAssert.AreEquivalent(new[] { "dense", "key", "query", "value" }, bertLora.Layers.Select(l => l.Name[(l.Name.LastIndexOf('.') + 1)..]).Distinct().ToArray());
        // PEFT's init: lora_A ~ U(-1/sqrt(in), 1/sqrt(in)), lora_B = 0; the same seed gives the same adapters.
        using var again = Qwen();
        var lora2 = LoraModel.Attach(again.Module, Config(2), seed: 9);
        for (int i = 0; i < lora.Layers.Count; i++)
        {
            var a = lora.Layers[i].A.weight!;
            double bound = 1 / Math.Sqrt(a.shape[1]);
            Assert.IsTrue(a.abs().max().item<float>() <= bound);
            Assert.AreEqual(0f, lora.Layers[i].B.weight!.abs().max().item<float>());
            Checkpoints.TensorAssert.SameBytes(a, lora2.Layers[i].A.weight!, lora.Layers[i].Name);
        }
        using var other = Bert();
        var e = Assert.ThrowsExactly<ArgumentException>(() => LoraModel.Attach(other.Module, Config(2, "q_proj"), seed: 1));
        StringAssert.Contains(e.Message, "LoraTargetModules");
        StringAssert.Contains(e.Message, "query");
    }

    [TestMethod]
    public void OnlyAdaptersAndTheHeadTrainAndFrozenWeightsStayBitForBit()
    {
        using var model = Bert();
        var lora = LoraModel.Attach(model.Module, Config(4, "query", "value") with { ModulesToSave = model.HeadModules }, seed: 1);
        var before = model.Module.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
        var trainable = model.Module.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.name).ToArray();
        Assert.IsTrue(trainable.All(n => LoraLinear.IsAdapterKey(n) || n.StartsWith("classifier.", StringComparison.Ordinal)), string.Join(", ", trainable));
        Assert.AreEqual(2 * lora.Layers.Count + 2, trainable.Length);
        using (var optimizer = new AdamW(model.Module.parameters(), weightDecay: 0.01))
            Assert.AreEqual(trainable.Length, optimizer.Count, "AdamW keeps state for the trainable tensors only");

        var options = new BertTextClassificationTrainer.Options { ModelPath = _models.Bert, LearningRate = 1e-2, BatchSize = 4, NumberOfEpochs = 2, Device = "cpu" };
        var rows = Texts.Concat(Texts.Reverse()).Select(t => model.Encode(t, null)).ToArray();
        new TrainingLoop(options, 1, _ => { }).Run(model, rows, [0, 1, 2, 3, 3, 2, 1, 0], null, null);

        foreach (var (name, t) in model.Module.state_dict())
        {
            bool trained = trainable.Contains(name);
            bool same = before[name].bytes.SequenceEqual(t.bytes);
            Assert.AreEqual(!trained, same, $"{name}: {(trained ? "trainable, must change" : "frozen, must stay bit for bit")}");
        }
    }

    [TestMethod]
    public void BiasRulesPickTheBiasesThatTrain()
    {
        using var model = Bert();
        LoraModel.Attach(model.Module, Config(2, "query") with { Bias = LoraBias.LoraOnly }, seed: 1);
        var biases = model.Module.named_parameters().Where(p => p.parameter.requires_grad && p.name.EndsWith(".bias", StringComparison.Ordinal)).Select(p => p.name).ToArray();
        Assert.IsTrue(biases.Length > 0 && biases.All(n => n.EndsWith("query.bias", StringComparison.Ordinal)), string.Join(", ", biases));
        using var all = Bert();
        LoraModel.Attach(all.Module, Config(2, "query") with { Bias = LoraBias.All }, seed: 1);
        Assert.IsTrue(all.Module.named_parameters().Where(p => p.name.EndsWith(".bias", StringComparison.Ordinal)).All(p => p.parameter.requires_grad));
    }

    [TestMethod]
    public void MergedScoresEqualBasePlusAdapterScores()
    {
        foreach (var model in Both())
            using (model)
            {
                var baseScores = Scores(model);
                var lora = LoraModel.Attach(model.Module, Config(4) with { ModulesToSave = model.HeadModules }, seed: 1);
                Randomise(lora, 3);
                var adapted = Scores(model);
                double change = adapted.Zip(baseScores).Max(p => Math.Abs(p.First - p.Second));
                Assert.IsTrue(change > 1e-3, $"{model.Family.Name}: the adapter changes the log-probabilities by {change}");
                lora.MergeAndUnload();
                Assert.IsNull(LoraModel.Of(model.Module));
                var merged = Scores(model);
                // float32: (W + sBA)x and Wx + s·B(Ax) differ only by reassociated float32 sums over at most a few hundred terms
                // (relative 1e-7 each), so the log-probabilities agree to about 1e-6; 1e-5 leaves room and is far below the change.
                double diff = merged.Zip(adapted).Max(p => Math.Abs(p.First - p.Second));
                Assert.IsTrue(diff < 1e-5, $"{model.Family.Name}: merged vs adapter log-probabilities differ by {diff}");
                Assert.IsFalse(StateDictLoader.Export(model.Module).Any(kv => LoraLinear.IsAdapterKey(kv.Key)), "saved weights leave the adapter out");
            }
    }

    [TestMethod]
    public void AdapterLearnsOnTheSharedLoopWithAccumulationAndBestRestore()
    {
        using var model = Qwen();
        LoraModel.Attach(model.Module, Config(4, "q_proj", "v_proj"), seed: 1);
        var options = new PromptedDecoderClassifierTrainer.Options
        {
            ModelPath = _models.Qwen,
            LearningRate = 5e-2,
            BatchSize = 2,
            GradientAccumulationSteps = 2,
            NumberOfEpochs = 6,
            Device = "cpu",
            EvaluationSteps = 1,
            RestoreBestModel = true,
            EarlyStoppingPatience = 3,
        };
        var rows = Texts.Select(t => model.Encode(t, null)).ToArray();
        long[] labels = [0, 1, 2, 3];
        var summary = new TrainingLoop(options, 1, _ => { }).Run(model, rows, labels, rows, labels);
        Assert.IsNotNull(summary.Best);
        Assert.IsTrue(summary.Best.LogLoss < summary.Evaluations[0].LogLoss, $"log-loss {summary.Evaluations[0].LogLoss} -> best {summary.Best.LogLoss}");
        // Best-restore copies the trainable tensors only, and the restored model scores as the best evaluation did.
        var restored = new TrainingLoop(options, 1, _ => { }).Evaluate(model, rows, labels, 0, 0);
        Assert.AreEqual(summary.Best.LogLoss, restored.LogLoss, 1e-5);
        var snapshot = TrainingLoop.Snapshot(model.Module);
        Assert.IsTrue(snapshot.Keys.All(LoraLinear.IsAdapterKey), string.Join(", ", snapshot.Keys.Take(5)));
        foreach (var t in snapshot.Values) t.Dispose();
    }

    [TestMethod]
    public void ABFloat16BaseStaysBFloat16WithFloat32AdaptersAndNoMasterCopies()
    {
        using var model = PromptedDecoderClassifierModel.Create(_models.Qwen, ["w", "x", "y", "z"], "{text}\n{options}\nAnswer:", null,
            ["w", "x", "y", "z"], CPU, ScalarType.BFloat16, 96, TruncationSide.Right, null);
        var before = Scores(model);
        var lora = LoraModel.Attach(model.Module, Config(2, "q_proj", "v_proj"), seed: 1);
        CollectionAssert.AreEqual(before, Scores(model), "identity holds in bfloat16 too");
        Assert.IsTrue(model.Module.named_parameters().All(p => LoraLinear.IsAdapterKey(p.name) == (p.parameter.dtype == ScalarType.Float32)),
            "base bfloat16, adapters float32");
        var frozenBefore = model.Module.named_parameters().Where(p => !p.parameter.requires_grad).ToDictionary(p => p.name, p => p.parameter.detach().clone());
        using (var optimizer = new AdamW(model.Module.parameters(), 0))
        {
            Assert.AreEqual(2 * lora.Layers.Count, optimizer.Count, "state (and fp32 masters) for the adapters only");
            using var scope = NewDisposeScope();
            model.Module.train();
            model.Loss(Texts.Select(t => model.Encode(t, null)).ToArray(), [0, 1, 2, 3], new LossSettings(null, 0)).backward();
            optimizer.Step(1e-2);
        }
        Assert.IsTrue(lora.Layers.All(l => l.B.weight!.abs().max().item<float>() > 0), "every adapter got a gradient and moved");
        foreach (var (name, p) in model.Module.named_parameters().Where(p => !p.parameter.requires_grad))
            Assert.IsTrue(frozenBefore[name].bytes.SequenceEqual(p.bytes), name);
    }

    [TestMethod]
    public void TheTrainerOptionsApplyLoraOrFreezingAndLogTheCountsTheConfigImplies()
    {
        using var model = Qwen();
        var c = ((Qwen3ForCausalLM)model.Module).Config;
        var log = new List<string>();
        var o = new PromptedDecoderClassifierTrainer.Options { ModelPath = _models.Qwen, LoraRank = 16, LoraAlpha = 32 };
        ParameterEfficientTraining.Apply(model, o, seed: 1, log.Add);
        // r (in + out) per adapted Linear: q D→Hq·d, k and v D→Hkv·d, o Hq·d→D, gate and up D→I, down I→D.
        long d = c.HiddenSize, q = c.NumAttentionHeads * c.HeadDim, kv = c.NumKeyValueHeads * c.HeadDim, i = c.IntermediateSize;
        long expected = 16 * c.NumHiddenLayers * ((d + q) * 2 + (d + kv) * 2 + (d + i) * 3);
        var (trainable, total) = LoraModel.CountParameters(model.Module);
        Assert.AreEqual(expected, trainable);
        Assert.AreEqual(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"Trainable parameters: {trainable:N0} of {total:N0} ({100.0 * trainable / total:F2}%)."),
            log.Last(), "one line with both counts");

        // LoRA with FreezeFirstLayers: no adapters in the first layers (layers_to_transform).
        using var later = Qwen();
        ParameterEfficientTraining.Apply(later, new PromptedDecoderClassifierTrainer.Options { ModelPath = _models.Qwen, LoraRank = 2, FreezeFirstLayers = 1 }, 1, _ => { });
        var layers = LoraModel.Of(later.Module)!.Layers;
        Assert.IsTrue(layers.Count > 0 && layers.All(l => !l.Name.StartsWith("model.layers.0.", StringComparison.Ordinal)));

        // Freezing without LoRA through the options.
        using var bert = Bert();
        ParameterEfficientTraining.Apply(bert, new BertTextClassificationTrainer.Options { ModelPath = _models.Bert, FreezeEmbeddings = true }, 1, _ => { });
        Assert.IsNull(LoraModel.Of(bert.Module));
        var frozen = bert.Module.named_parameters().Where(p => !p.parameter.requires_grad).Select(p => p.name).ToArray();
        Assert.IsTrue(frozen.Length > 0 && frozen.All(n => n.StartsWith("bert.embeddings.", StringComparison.Ordinal)), string.Join(", ", frozen));
    }

    [TestMethod]
    public void FreezingWithoutLoraKeepsFrozenWeightsAndGivesThemNoOptimizerState()
    {
        using var model = Bert();
        ParameterEfficientTraining.Freeze(model.Module, embeddings: true, firstLayers: 1, model.HeadModules);
        var frozen = model.Module.named_parameters().Where(p => !p.parameter.requires_grad).Select(p => p.name).ToHashSet();
        Assert.IsTrue(frozen.Contains("bert.embeddings.word_embeddings.weight") && frozen.Contains("bert.embeddings.LayerNorm.weight"));
        Assert.IsTrue(frozen.Contains("bert.encoder.layer.0.attention.self.query.weight"));
        Assert.IsFalse(frozen.Any(n => n.Contains("layer.1.", StringComparison.Ordinal) || n.StartsWith("classifier", StringComparison.Ordinal)), string.Join(", ", frozen));
        using (var optimizer = new AdamW(model.Module.parameters(), 0))
            Assert.AreEqual(model.Module.parameters().Count() - frozen.Count, optimizer.Count);
        var before = model.Module.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
        var options = new BertTextClassificationTrainer.Options { ModelPath = _models.Bert, LearningRate = 1e-2, BatchSize = 4, NumberOfEpochs = 1, Device = "cpu" };
        new TrainingLoop(options, 1, _ => { }).Run(model, Texts.Select(t => model.Encode(t, null)).ToArray(), [0, 1, 2, 3], null, null);
        foreach (var (name, t) in model.Module.state_dict())
            Assert.AreEqual(frozen.Contains(name), before[name].bytes.SequenceEqual(t.bytes), name);
        using var other = Bert();
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ParameterEfficientTraining.Freeze(other.Module, false, 99, []));
        StringAssert.Contains(e.Message, "FreezeFirstLayers");
    }
}

/// <summary>A tiny random Qwen3 (prompted decoder, 4 options) and a tiny random BERT (4 classes) in temporary folders.</summary>
internal sealed class TinyModels : IDisposable
{
    private readonly TinyQwen3Folder _qwen = new(seed: 5);

    public TinyModels()
    {
        Bert = Path.Combine(Path.GetTempPath(), $"lora-tests-bert-{Guid.NewGuid():N}");
        BertFamily.Instance.CreateRandomCheckpoint(new("tiny", TestPaths.Shared("models", "bert-uncased-vocab", "vocab.txt"), Bert, Seed: 7));
    }

    public string Bert { get; }

    public string Qwen => _qwen.Path;

    public ITrainableClassifier NewQwen() => PromptedDecoderClassifierModel.Create(Qwen, ["w", "x", "y", "z"],
        "{text}\n{options}\nAnswer:", null, ["w", "x", "y", "z"], CPU, ScalarType.Float32, 96, TruncationSide.Right, null);

    public ITrainableClassifier NewBert() =>
        BertClassifierModel.Create(Bert, ["a", "b", "c", "d"], CPU, ScalarType.Float32, seed: 3, 64, TruncationSide.Right, null);

    public void Dispose()
    {
        _qwen.Dispose();
        if (Directory.Exists(Bert)) Directory.Delete(Bert, recursive: true);
    }
}
