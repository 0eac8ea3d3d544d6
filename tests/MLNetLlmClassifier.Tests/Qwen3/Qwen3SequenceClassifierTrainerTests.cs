using System.Diagnostics;
using System.Text.Json.Nodes;
using Microsoft.ML;
using MLNetLlmClassifier.Cli;
using MLNetLlmClassifier.Data;
using MLNetLlmClassifier.Families;
using MLNetLlmClassifier.Qwen3;
using MLNetLlmClassifier.Training;
using static MLNetLlmClassifier.Tests.Qwen3.PromptedDecoderTestData;
using static TorchSharp.torch;

namespace MLNetLlmClassifier.Tests.Qwen3;

/// <summary>
/// The Qwen3 sequence-classification trainer end to end on a tiny random Qwen3 causal LM with the real tokenizer (the family's
/// save/load, export and logits are also run by <c>FamilyConformanceTests</c>, as for every registered family).
/// </summary>
[TestClass]
public class Qwen3SequenceClassifierTrainerTests
{
    private static TinyQwen3Folder _folder = null!;

    [ClassInitialize]
    public static void MakeCheckpoint(TestContext _) => _folder = new TinyQwen3Folder(seed: 1);

    [ClassCleanup]
    public static void Cleanup() => _folder?.Dispose();

    private static Qwen3SequenceClassifierTrainer.Options QuickOptions(double epochs, double learningRate = 2e-3) => new()
    {
        ModelPath = _folder.Path,
        MaxSequenceLength = 64,
        LearningRate = learningRate,
        BatchSize = 16,
        GradientAccumulationSteps = 1,
        WarmupRatio = 0.05,
        NumberOfEpochs = epochs,
        Precision = Precision.Float32,
        Device = "cpu",
        Seed = 1,
    };

    [TestMethod]
    public void LearnsAKeywordTaskFromScratchAndReportsTheNewHead()
    {
        var ml = new MLContext(seed: 1);
        var train = Keywords(TopicClasses, TopicKeywords, 160, seed: 1);
        var heldOut = Keywords(TopicClasses, TopicKeywords, 80, seed: 2);
        var messages = new List<string>();
        var options = QuickOptions(epochs: 6, learningRate: 5e-3);
        options.Schedule = LearningRateSchedule.Constant;
        options.Progress = new Progress(messages);
        var model = Pipeline(ml, ml.MulticlassClassification.Trainers.Qwen3SequenceClassifier(options)).Fit(ml.Data.LoadFromEnumerable(train));
        try
        {
            var m = ml.MulticlassClassification.Evaluate(model.Transform(ml.Data.LoadFromEnumerable(heldOut)));
            Console.WriteLine($"keyword task, held out: accuracy {m.MicroAccuracy:F3}, log-loss {m.LogLoss:F3}");
            Assert.IsGreaterThanOrEqualTo(0.8, m.MicroAccuracy, $"accuracy {m.MicroAccuracy} (chance: 0.25)");
            var line = messages.Single(x => x.Contains("newly initialised", StringComparison.Ordinal));
            StringAssert.Contains(line, "score.weight");
            Assert.AreEqual(Qwen3SequenceClassifierFamily.Instance, Classifier(model).Family);
            // The module names parameter-efficient training addresses: Hugging Face's, and the new head.
            var trainable = Classifier(model).Model;
            CollectionAssert.AreEqual(new[] { "score" }, trainable.HeadModules.ToArray());
            var names = trainable.Module.named_modules().Select(m => m.name).ToHashSet();
            Assert.IsTrue(names.Contains("score") && names.Contains("model.layers.1.self_attn.q_proj") && names.Contains("model.layers.0.mlp.down_proj"),
                string.Join(", ", names.Take(12)));
            Assert.AreEqual(Qwen3SequenceClassifierFamily.Instance.CountParameters(Classifier(model)),
                Qwen3Config.Tiny().SizeTerms().Sum(t => (long)t.Parameters) + 4 * 64, "backbone + score [4, 64], no LM head");
        }
        finally
        {
            DisposeAll(model);
        }
    }

    private sealed class Progress(List<string> messages) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value)
        {
            lock (messages) messages.Add(value.Message);
        }
    }

    [TestMethod]
    public void BeatsChanceOnAnAgNewsSampleFromARandomCheckpoint()
    {
        var sample = StratifiedSplit.Sample(EmbeddedData.LoadAgNewsSample(renameLabels: true), 240, seed: 1);
        var parts = StratifiedSplit.Split(sample, [0.75, 0.25], seed: 2);
        var ml = new MLContext(seed: 1);
        var options = QuickOptions(epochs: 4, learningRate: 5e-3);
        options.MaxSequenceLength = 32;
        options.BatchSize = 30;
        var sw = Stopwatch.StartNew();
        var model = Pipeline(ml, ml.MulticlassClassification.Trainers.Qwen3SequenceClassifier(options)).Fit(parts[0].ToDataView(ml));
        try
        {
            var m = ml.MulticlassClassification.Evaluate(model.Transform(parts[1].ToDataView(ml)));
            Console.WriteLine($"AG News from a random checkpoint: {parts[0].Count} training rows, {Classifier(model).TrainingSummary!.Steps} steps, " +
                              $"{sw.Elapsed.TotalSeconds:F1} s; held-out {parts[1].Count} rows: accuracy {m.MicroAccuracy:F3}, log-loss {m.LogLoss:F3}");
            Assert.IsGreaterThanOrEqualTo(0.4, m.MicroAccuracy, "clearly above chance (0.25)");
        }
        finally
        {
            DisposeAll(model);
        }
    }

    [TestMethod]
    public void LoraWithCheckpointingTrainsTheAdaptersAndTheHeadOnlyAndMatchesLoraWithout()
    {
        // Issue 13: LoRA (all linear layers, the score head trained in full) and gradient checkpointing together on the sequence
        // classifier. Checkpointing recomputes each layer in backward, so the step losses must equal those without it; the frozen base
        // must not move; the head and adapters must.
        var train = Keywords(TopicClasses, TopicKeywords, 48, seed: 2);
        (float[] Losses, Dictionary<string, float[]> Weights) Fit(bool checkpointing)
        {
            var ml = new MLContext(seed: 1);
            var o = QuickOptions(epochs: 1, learningRate: 5e-3);
            o.LoraRank = 4;
            o.LoraAlpha = 8;
            o.GradientCheckpointing = checkpointing;
            var model = Pipeline(ml, ml.MulticlassClassification.Trainers.Qwen3SequenceClassifier(o)).Fit(ml.Data.LoadFromEnumerable(train));
            try
            {
                var classifier = Classifier(model);
                var weights = classifier.Model.Module.named_parameters()
                    .Where(p => p.name is "score.weight" or "model.layers.0.self_attn.q_proj.weight" or "model.layers.0.self_attn.q_proj.lora_B.weight" or "model.embed_tokens.weight")
                    .ToDictionary(p => p.name, p => p.parameter.detach().cpu().to(ScalarType.Float32).data<float>().ToArray());
                return (classifier.TrainingSummary!.StepLosses.ToArray(), weights);
            }
            finally
            {
                DisposeAll(model);
            }
        }
        var (plain, plainWeights) = Fit(checkpointing: false);
        var (checkpointed, checkpointedWeights) = Fit(checkpointing: true);
        Assert.HasCount(4, plainWeights, "the adapted model names its base, adapter and head tensors as HF/PEFT do");
        for (int i = 0; i < plain.Length; i++) Assert.AreEqual(plain[i], checkpointed[i], 1e-5, $"step {i + 1} loss with checkpointing");
        foreach (var (name, w) in plainWeights)
            CollectionAssert.AreEqual(w.Select(x => MathF.Round(x, 5)).ToArray(), checkpointedWeights[name].Select(x => MathF.Round(x, 5)).ToArray(), name);

        using var base_ = Qwen3ForSequenceClassification.FromPretrained(_folder.Path, CPU, ScalarType.Float32);
        var frozen = base_.named_parameters().Single(p => p.name == "model.layers.0.self_attn.q_proj.weight").parameter.data<float>().ToArray();
        CollectionAssert.AreEqual(frozen, plainWeights["model.layers.0.self_attn.q_proj.weight"], "the frozen base weight moved");
        Assert.IsTrue(plainWeights["model.layers.0.self_attn.q_proj.lora_B.weight"].Any(x => x != 0), "lora_B starts at zero and must have trained");
    }

    [TestMethod]
    public void ExportLoadsBackAsASequenceClassificationFolderWithTheClassNames()
    {
        var ml = new MLContext(seed: 1);
        var train = Keywords(TopicClasses, TopicKeywords, 32, seed: 1);
        var model = Pipeline(ml, ml.MulticlassClassification.Trainers.Qwen3SequenceClassifier(QuickOptions(epochs: 1))).Fit(ml.Data.LoadFromEnumerable(train));
        using var temp = new TempFolder();
        try
        {
            var classifier = Classifier(model);
            classifier.ExportHuggingFaceFolder(temp.Path, overwrite: true);
            var config = JsonNode.Parse(File.ReadAllText(temp.File("config.json")))!.AsObject();
            Assert.AreEqual("[\"Qwen3ForSequenceClassification\"]", config["architectures"]!.ToJsonString());
            Assert.AreEqual("{\"0\":\"sport\",\"1\":\"money\",\"2\":\"space\",\"3\":\"music\"}", config["id2label"]!.ToJsonString(), "classes in key order (MapValueToKey: first seen)");
            Assert.AreEqual(151643, config["pad_token_id"]!.GetValue<int>(), "the tokenizer's pad token, which transformers needs for batches");
            Assert.AreEqual("single_label_classification", config["problem_type"]!.GetValue<string>());
            Assert.IsTrue(File.Exists(temp.File("tokenizer.json")));
            Assert.AreEqual(Qwen3SequenceClassifierFamily.Instance, ClassifierFamilies.ForModelFolder(temp.Path), "the architecture picks the family");

            // transformers' view: the folder alone (no mlnet-classifier.json) as a Qwen3ForSequenceClassification gives the model's scores.
            using var net = Qwen3ForSequenceClassification.FromPretrained(temp.Path, CPU, ScalarType.Float32);
            var texts = new[] { "the football goal", "a rocket to the planet", "" };
            var expected = classifier.Predict(texts);
            var tokenizer = Qwen3Tokenizer.FromFolder(temp.Path);
            using var noGrad = no_grad();
            for (int i = 0; i < texts.Length; i++)
            {
                var ids = tokenizer.Encode(texts[i]).Select(x => (long)x).DefaultIfEmpty(151643).ToArray();
                using var probabilities = nn.functional.softmax(net.call(tensor(ids).unsqueeze(0), null), 1)[0];
                var got = probabilities.data<float>().ToArray();
                for (int c = 0; c < 4; c++) Assert.AreEqual(expected[i][c], got[c], 1e-5, $"text {i} class {c}");
            }
        }
        finally
        {
            DisposeAll(model);
        }
    }

    [TestMethod]
    public void ASecondTextColumnIsRefusedAndDefaultsAreTheReferenceRecipe()
    {
        CliFamilies.EnsureRegistered();
        var family = ClassifierFamilies.Get("qwen3-seqcls");
        Assert.AreSame(Qwen3SequenceClassifierFamily.Instance, family);
        Assert.AreSame(family, ClassifierFamilies.Get("qwen3-linear"));
        var e = Assert.Throws<ArgumentException>(() => family.CreateOptions("x", "Text", "Text2"));
        StringAssert.Contains(e.Message, "one text column");
        var o = new Qwen3SequenceClassifierTrainer.Options();
        Assert.AreEqual(1.2e-5, o.LearningRate);
        Assert.AreEqual(12, o.BatchSize);
        Assert.AreEqual(8, o.GradientAccumulationSteps);
        Assert.AreEqual(Precision.Auto, o.Precision);
        family.ApplyReferencePreset(o);
        Assert.AreEqual(Precision.BFloat16, o.Precision);
        family.ApplyFromScratchPreset(o, 1);
        Assert.AreEqual(2e-3, o.LearningRate);
        Assert.AreEqual(Precision.Float32, o.Precision);
    }
}
