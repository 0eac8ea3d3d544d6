using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;
using MLNetLlmClassifier.Bert;
using MLNetLlmClassifier.Checkpoints;
using MLNetLlmClassifier.Data;
using MLNetLlmClassifier.Training;

namespace MLNetLlmClassifier.Tests.Bert;

/// <summary>The BERT trainer end to end through ML.NET, on a tiny random checkpoint with the real uncased vocabulary.</summary>
[TestClass]
public class BertTrainerTests
{
    private static string _root = "";
    private static string _model = "";

    public sealed class Row
    {
        public string Label { get; set; } = "";
        public string Sentence1 { get; set; } = "";
    }

    public sealed class Prediction
    {
        public string PredictedLabel { get; set; } = "";
        public float[] Score { get; set; } = Array.Empty<float>();
    }

    [ClassInitialize]
    public static void Init(TestContext _)
    {
        _root = Path.Combine(Path.GetTempPath(), $"bert-trainer-tests-{Guid.NewGuid():N}");
        _model = Path.Combine(_root, "bert-tiny");
        BertFamily.Instance.CreateRandomCheckpoint(new("tiny", TestPaths.Shared("models", "bert-uncased-vocab", "vocab.txt"), _model, Seed: 7));
    }

    [ClassCleanup]
    public static void Cleanup()
    {
        if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true);
    }

    /// <summary>Four classes, each marked by its own words, mixed with shared filler words.</summary>
    internal static List<Row> Synthetic(int n, int seed)
    {
        string[][] words =
        [
            ["football", "match", "goal", "team", "league"],
            ["stocks", "market", "shares", "profit", "bank"],
            ["election", "minister", "war", "government", "treaty"],
            ["software", "computer", "internet", "chip", "science"],
        ];
        string[] filler = ["the", "a", "today", "new", "report", "said", "on", "in", "after", "big"];
        string[] labels = ["Sports", "Business", "World", "SciTech"];
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ =>
        {
            int c = rng.Next(4);
            var tokens = Enumerable.Range(0, rng.Next(4, 12))
                .Select(_ => rng.NextDouble() < 0.4 ? words[c][rng.Next(5)] : filler[rng.Next(filler.Length)]);
            return new Row { Label = labels[c], Sentence1 = string.Join(' ', tokens) + " " + words[c][rng.Next(5)] };
        }).ToList();
    }

    private static BertTextClassificationTrainer.Options FastOptions() => new()
    {
        ModelPath = _model,
        LearningRate = 2e-3,
        BatchSize = 16,
        NumberOfEpochs = 3,
        WarmupRatio = 0.05,
        MaxSequenceLength = 64,
        Device = "cpu",
    };

    private static IEstimator<ITransformer> Pipeline(MLContext ml, BertTextClassificationTrainer.Options o) =>
        ml.Transforms.Conversion.MapValueToKey("Label", keyOrdinality: ValueToKeyMappingEstimator.KeyOrdinality.ByValue)
            .Append(ml.MulticlassClassification.Trainers.BertTextClassification(o))
            .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel"));

    [TestMethod]
    public void LearnsASeparableTask_EvaluatesPredictsAndSurvivesSaveLoad()
    {
        var ml = new MLContext(seed: 1);
        var train = ml.Data.LoadFromEnumerable(Synthetic(240, seed: 1));
        var test = ml.Data.LoadFromEnumerable(Synthetic(80, seed: 2));
        var model = Pipeline(ml, FastOptions()).Fit(train);
        using var disposable = model as IDisposable;

        var scored = model.Transform(test);
        var metrics = ml.MulticlassClassification.Evaluate(scored);
        Assert.IsTrue(metrics.MicroAccuracy > 0.95, $"micro accuracy {metrics.MicroAccuracy}");

        // MapKeyToValue turns the key back into the label text; Score has one slot per class with the class names.
        var rows = ml.Data.CreateEnumerable<Prediction>(scored, reuseRowObject: false).ToList();
        CollectionAssert.IsSubsetOf(rows.Select(r => r.PredictedLabel).Distinct().ToList(), new[] { "Business", "SciTech", "Sports", "World" });
        Assert.IsTrue(rows.All(r => r.Score.Length == 4 && Math.Abs(r.Score.Sum() - 1) < 1e-4));
        VBuffer<ReadOnlyMemory<char>> slots = default;
        scored.Schema["Score"].GetSlotNames(ref slots);
        CollectionAssert.AreEqual(new[] { "Business", "SciTech", "Sports", "World" }, slots.DenseValues().Select(s => s.ToString()).ToArray());

        // PredictionEngine, row by row, agrees with the batched transform.
        var engine = ml.Model.CreatePredictionEngine<Row, Prediction>(model);
        var first = ml.Data.CreateEnumerable<Row>(test, false).First();
        var single = engine.Predict(first);
        Assert.AreEqual(rows[0].PredictedLabel, single.PredictedLabel);
        for (int c = 0; c < 4; c++) Assert.AreEqual(rows[0].Score[c], single.Score[c], 1e-5);

        // Save, then load in a fresh MLContext: identical scores.
        var path = Path.Combine(_root, "synthetic.zip");
        ml.Model.Save(model, train.Schema, path);
        var fresh = new MLContext(seed: 99);
        fresh.ComponentCatalog.RegisterMLNetLlmClassifier();
        var loaded = fresh.Model.Load(path, out var schema);
        using var loadedDisposable = loaded as IDisposable;
        var reloaded = fresh.Data.CreateEnumerable<Prediction>(loaded.Transform(fresh.Data.LoadFromEnumerable(Synthetic(80, seed: 2))), false).ToList();
        for (int i = 0; i < rows.Count; i++)
        {
            Assert.AreEqual(rows[i].PredictedLabel, reloaded[i].PredictedLabel);
            for (int c = 0; c < 4; c++) Assert.AreEqual(rows[i].Score[c], reloaded[i].Score[c], 1e-6);
        }
        Assert.AreEqual("Label", schema[0].Name);
    }

    [TestMethod]
    public void LearnsAgNewsFromScratchClearlyAboveChance()
    {
        var table = TextClassificationFile.Load(TestPaths.Shared("data", "ag_news", "test.csv"), AgNews.Options(renameLabels: true));
        var split = StratifiedSplit.Split(StratifiedSplit.Sample(table, 300, seed: 3), [0.75, 0.25], seed: 3);
        var ml = new MLContext(seed: 1);
        var o = FastOptions();
        o.NumberOfEpochs = 6;
        o.LearningRate = 1e-3;
        o.BatchSize = 32;
        o.MaxSequenceLength = 96;
        var model = Pipeline(ml, o).Fit(split[0].ToDataView(ml).RenameText());
        using var disposable = model as IDisposable;
        var metrics = ml.MulticlassClassification.Evaluate(model.Transform(split[1].ToDataView(ml).RenameText()));
        Console.WriteLine($"AG News from scratch: {split[0].Count} train rows, {split[1].Count} test rows, micro accuracy {metrics.MicroAccuracy:F3}, macro accuracy {metrics.MacroAccuracy:F3}");
        Assert.IsTrue(metrics.MicroAccuracy > 0.5, $"micro accuracy {metrics.MicroAccuracy} (chance 0.25)");
    }

    [TestMethod]
    public void SameMLContextSeedGivesTheSameModel()
    {
        float[] Train(int seed)
        {
            var ml = new MLContext(seed: seed);
            var o = FastOptions();
            o.NumberOfEpochs = 0.5;
            var model = Pipeline(ml, o).Fit(ml.Data.LoadFromEnumerable(Synthetic(64, 1)));
            using var d = model as IDisposable;
            return ml.Data.CreateEnumerable<Prediction>(model.Transform(ml.Data.LoadFromEnumerable(Synthetic(4, 2))), false).First().Score;
        }
        CollectionAssert.AreEqual(Train(5), Train(5));
        CollectionAssert.AreNotEqual(Train(5), Train(6));
    }

    [TestMethod]
    public void LabelThatIsNotAKeySaysToUseMapValueToKey()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(Synthetic(8, 1));
        var trainer = ml.MulticlassClassification.Trainers.BertTextClassification(FastOptions());
        var e1 = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => trainer.GetOutputSchema(SchemaShapeOf(ml, data)));
        StringAssert.Contains(e1.Message, "MapValueToKey");
        var e2 = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => trainer.Fit(data));
        StringAssert.Contains(e2.Message, "MapValueToKey");
    }

    [TestMethod]
    public void FewerThanTwoClassesIsAnError()
    {
        var ml = new MLContext(seed: 1);
        var rows = Synthetic(20, 1).Select(r => new Row { Label = "only", Sentence1 = r.Sentence1 });
        var e = Assert.ThrowsExactly<ArgumentException>(() => Pipeline(ml, FastOptions()).Fit(ml.Data.LoadFromEnumerable(rows)));
        StringAssert.Contains(e.Message, "at least two");
    }

    [TestMethod]
    public void NullEmptyAndOverlongTextStillGetPredictions()
    {
        var ml = new MLContext(seed: 1);
        var o = FastOptions();
        o.NumberOfEpochs = 1;
        o.MaxSequenceLength = 16;
        var rows = Synthetic(48, 1);
        rows[0].Sentence1 = null!;
        rows[1].Sentence1 = "";
        rows[2].Sentence1 = string.Join(' ', Enumerable.Repeat("football goal", 200));
        var model = Pipeline(ml, o).Fit(ml.Data.LoadFromEnumerable(rows));
        using var d = model as IDisposable;
        var clf = ((IEnumerable<ITransformer>)model).OfType<TextClassifierTransformer>().Single();
        Assert.IsTrue(clf.TrainingSummary!.TruncatedRows >= 1, "the 400-word row is truncated");
        Assert.AreEqual(16, clf.CountTokens(rows[2].Sentence1), "truncated to MaxSequenceLength including [CLS] and [SEP]");
        Assert.AreEqual(2, clf.CountTokens(""), "empty text is [CLS] [SEP]");
        var test = ml.Data.LoadFromEnumerable(new[] { new Row { Label = "Sports", Sentence1 = null! }, new Row { Label = "Sports", Sentence1 = "" }, rows[2] });
        var preds = ml.Data.CreateEnumerable<Prediction>(model.Transform(test), false).ToList();
        Assert.AreEqual(3, preds.Count);
        Assert.IsTrue(preds.All(p => p.PredictedLabel.Length > 0 && Math.Abs(p.Score.Sum() - 1) < 1e-4));
    }

    [TestMethod]
    public void ValidationSetWithoutSomeLabelsEvaluatesAndStopsEarly()
    {
        var ml = new MLContext(seed: 1);
        var train = ml.Data.LoadFromEnumerable(Synthetic(96, 1));
        var keyMap = ml.Transforms.Conversion.MapValueToKey("Label", keyOrdinality: ValueToKeyMappingEstimator.KeyOrdinality.ByValue).Fit(train);
        var validRows = Synthetic(60, 2).Where(r => r.Label is "Sports" or "World").ToList();
        var o = FastOptions();
        o.NumberOfEpochs = 3;
        o.ValidationSet = keyMap.Transform(ml.Data.LoadFromEnumerable(validRows));
        o.EvaluationSteps = 2;
        o.EarlyStoppingPatience = 2;
        o.EarlyStoppingMetric = EarlyStoppingMetric.LogLoss;
        var events = new List<TrainingProgress>();
        o.Progress = new Inline<TrainingProgress>(events.Add);
        using var clf = ml.MulticlassClassification.Trainers.BertTextClassification(o).Fit(keyMap.Transform(train));
        var evals = events.Where(e => e.Kind == TrainingEventKind.Evaluation).ToList();
        Assert.IsTrue(evals.Count >= 2);
        // The plan comes before the first step and names the effective batch and the steps.
        int firstPlan = events.FindIndex(e => e.Kind == TrainingEventKind.Plan), firstStep = events.FindIndex(e => e.Kind == TrainingEventKind.Step);
        Assert.IsTrue(firstPlan >= 0 && firstPlan < firstStep, "no plan before the first step");
        Assert.IsTrue(events.Any(e => e.Kind == TrainingEventKind.Plan && e.Message.Contains("effective batch", StringComparison.Ordinal)));
        Assert.IsTrue(evals.All(e => e.Evaluation!.Rows == validRows.Count && double.IsFinite(e.Evaluation.MacroF1)));
        var summary = clf.TrainingSummary!;
        Assert.AreEqual(summary.Evaluations.Min(e => e.LogLoss), summary.Best!.LogLoss);
        // It stopped early: before the 18 planned steps (96 rows / 16 × 3 epochs), at the evaluation that used up the patience.
        Assert.IsTrue(summary.StoppedEarly, "the summary says it ran to the end");
        Assert.IsLessThan(18, summary.Steps, "it ran every planned step");
        Assert.AreEqual(summary.Evaluations[^1].Step, summary.Steps, "it stopped at an evaluation");
        // ... and because the last EarlyStoppingPatience evaluations did not improve on the best log-loss before them.
        int k = summary.Evaluations.Count - o.EarlyStoppingPatience;
        double bestBefore = summary.Evaluations.Take(k).Min(e => e.LogLoss);
        Assert.IsTrue(summary.Evaluations.Skip(k).All(e => e.LogLoss >= bestBefore - o.MinimumImprovement), "it stopped while still improving");
    }

    [TestMethod]
    public void ValidationSetWithOtherLabelKeysIsAnError()
    {
        var ml = new MLContext(seed: 1);
        var train = ml.Data.LoadFromEnumerable(Synthetic(32, 1));
        var keyed = ml.Transforms.Conversion.MapValueToKey("Label").Fit(train).Transform(train);
        var other = ml.Data.LoadFromEnumerable(Synthetic(32, 2).Where(r => r.Label != "World"));
        var o = FastOptions();
        o.ValidationSet = ml.Transforms.Conversion.MapValueToKey("Label").Fit(other).Transform(other);
        var e = Assert.ThrowsExactly<ArgumentException>(() => ml.MulticlassClassification.Trainers.BertTextClassification(o).Fit(keyed));
        StringAssert.Contains(e.Message, "same fitted MapValueToKey");
    }

    [TestMethod]
    public void NonFiniteLossStopsWithTheStep()
    {
        var ml = new MLContext(seed: 1);
        var o = FastOptions();
        o.LearningRate = 1e30;
        o.MaxGradientNorm = 0;
        var e = Assert.ThrowsExactly<TrainingDivergedException>(() => Pipeline(ml, o).Fit(ml.Data.LoadFromEnumerable(Synthetic(64, 1))));
        Assert.IsTrue(e.Step >= 2, $"step {e.Step}");
        StringAssert.Contains(e.Message, "LearningRate");
    }

    [TestMethod]
    public void CancellationStopsTraining()
    {
        var ml = new MLContext(seed: 1);
        using var cts = new CancellationTokenSource();
        var o = FastOptions();
        o.CancellationToken = cts.Token;
        o.Progress = new Inline<TrainingProgress>(p => { if (p.Step == 2) cts.Cancel(); });
        Assert.ThrowsExactly<OperationCanceledException>(() => Pipeline(ml, o).Fit(ml.Data.LoadFromEnumerable(Synthetic(128, 1))));
    }

    [TestMethod]
    [DataRow(nameof(TransformerTrainerOptions.BatchSize))]
    [DataRow(nameof(TransformerTrainerOptions.LearningRate))]
    [DataRow(nameof(TransformerTrainerOptions.WarmupRatio))]
    [DataRow(nameof(TransformerTrainerOptions.Device))]
    [DataRow(nameof(TransformerTrainerOptions.ModelPath))]
    [DataRow(nameof(TransformerTrainerOptions.LabelSmoothing))]
    public void BadOptionsNameTheOptionWhenTheEstimatorIsMade(string option)
    {
        var o = FastOptions();
        switch (option)
        {
            case nameof(o.BatchSize): o.BatchSize = 0; break;
            case nameof(o.LearningRate): o.LearningRate = -1; break;
            case nameof(o.WarmupRatio): o.WarmupRatio = 1.5; break;
            case nameof(o.Device): o.Device = "gpu"; break;
            case nameof(o.ModelPath): o.ModelPath = Path.Combine(_root, "missing"); break;
            case nameof(o.LabelSmoothing): o.LabelSmoothing = 1; break;
        }
        var e = Assert.Throws<ArgumentException>(() => new MLContext().MulticlassClassification.Trainers.BertTextClassification(o));
        StringAssert.Contains(e.Message, option);
    }

    [TestMethod]
    public void AskingForCudaWithoutAGpuIsAnError()
    {
        if (TorchSharp.torch.cuda.is_available()) Assert.Inconclusive("A GPU is present.");
        var ml = new MLContext(seed: 1);
        var o = FastOptions();
        o.Device = "cuda";
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => Pipeline(ml, o).Fit(ml.Data.LoadFromEnumerable(Synthetic(16, 1))));
        StringAssert.Contains(e.Message, "CUDA is not available");
    }

    [TestMethod]
    public void FlatOverloadUsesMLNetColumnDefaults()
    {
        var ml = new MLContext(seed: 1);
        var trainer = ml.MulticlassClassification.Trainers.BertTextClassification(_model, sentence2ColumnName: "Sentence2", maxEpochs: 3);
        Assert.AreEqual("Sentence1", trainer.TrainerOptions.Sentence1ColumnName);
        Assert.AreEqual("Sentence2", trainer.TrainerOptions.Sentence2ColumnName);
        Assert.AreEqual(3, trainer.TrainerOptions.NumberOfEpochs);
        Assert.AreEqual(64, trainer.TrainerOptions.BatchSize);
        Assert.AreEqual(1e-5, trainer.TrainerOptions.LearningRate);
    }

    private static SchemaShape SchemaShapeOf(MLContext ml, IDataView data) => MLNetLlmClassifier.MLNet.SchemaShapeHelper.FromSchema(data.Schema);

    private sealed class Inline<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}

internal static class AgNewsViewExtensions
{
    /// <summary>TextClassificationTable views name the text "Text"; the BERT trainer reads "Sentence1" by default.</summary>
    public static IDataView RenameText(this IDataView view) =>
        new MLContext().Transforms.CopyColumns("Sentence1", "Text").Fit(view).Transform(view);
}
