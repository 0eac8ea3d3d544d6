using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;
using MLNetLlmClassifier.Bert;
using MLNetLlmClassifier.Checkpoints;
using MLNetLlmClassifier.Sweeps;
using MLNetLlmClassifier.Tests.Bert;

namespace MLNetLlmClassifier.Tests.Sweeps;

/// <summary>Real sweeps over the tiny random BERT (real uncased vocabulary) on a small synthetic text task, on the CPU.</summary>
[TestClass]
public class SweepBertIntegrationTests
{
    private static string _root = "";
    private static string _model = "";

    [ClassInitialize]
    public static void Init(TestContext _)
    {
        _root = Path.Combine(Path.GetTempPath(), $"sweep-bert-tests-{Guid.NewGuid():N}");
        _model = Path.Combine(_root, "bert-tiny");
        MLNetLlmClassifier.Bert.BertFamily.Instance.CreateRandomCheckpoint(new("tiny", TestPaths.Shared("models", "bert-uncased-vocab", "vocab.txt"), _model, Seed: 7));
    }

    [ClassCleanup]
    public static void Cleanup()
    {
        if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true);
    }

    private static BertTextClassificationTrainer.Options BaseOptions() => new()
    {
        ModelPath = _model,
        BatchSize = 16,
        NumberOfEpochs = 3,
        WarmupRatio = 0.05,
        MaxSequenceLength = 32,
        EvaluationInterval = 0.2,
        MinimumEvaluationSteps = 1, // evaluations every 3 steps land on the pruning rungs (the default minimum of 10 would skip them)
        Device = "cpu",
    };

    private static SweepablePipeline Pipeline(MLContext ml) => new(
        prefix: ml.Transforms.Conversion.MapValueToKey("Label", keyOrdinality: ValueToKeyMappingEstimator.KeyOrdinality.ByValue),
        suffix: ml.Transforms.Conversion.MapKeyToValue("PredictedLabel"));

    /// <summary>Wraps an estimator to keep every transformer it fits (to check afterwards which ones the sweep disposed).</summary>
    private sealed class Spy(IEstimator<TextClassifierTransformer> inner, List<TextClassifierTransformer> fitted) : IEstimator<ITransformer>
    {
        public ITransformer Fit(IDataView input)
        {
            var t = inner.Fit(input);
            fitted.Add(t);
            return t;
        }

        public SchemaShape GetOutputSchema(SchemaShape inputSchema) => inner.GetOutputSchema(inputSchema);
    }

    private static bool IsDisposed(TextClassifierTransformer t)
    {
        try { t.Predict(["probe"]); return false; }
        catch (ObjectDisposedException) { return true; }
    }

    [TestMethod]
    public void SweepsTheBertTrainerPrunesAPlantedBadTrialAndReturnsTheBestPipeline()
    {
        var ml = new MLContext(seed: 1);
        // 240 rows = 15 steps of 16 per epoch: evaluations every 3 steps (0.2 epoch) land on the rungs at 1 and 2 epochs.
        var train = ml.Data.LoadFromEnumerable(BertTrainerTests.Synthetic(240, seed: 1));
        var valid = ml.Data.LoadFromEnumerable(BertTrainerTests.Synthetic(48, seed: 2));
        string folder = Path.Combine(_root, "sweep");
        // Four trials in a fixed order; 1e-7 is a planted learning rate far too small to learn anything.
        var space = new SearchSpace().AddChoice("LearningRate", 2e-3, 1e-7, 1e-3, 3e-3);
        var fitted = new List<TextClassifierTransformer>();

        var result = ml.Sweeps().CreateExperiment()
            .SetPipeline(Pipeline(ml).AddTrainer("bert", BaseOptions(), space,
                (c, o) => new Spy(c.MulticlassClassification.Trainers.BertTextClassification(o), fitted)))
            .SetDataset(train, valid)
            .SetMetric(SweepMetric.LogLoss) // lower is better; far more telling than F1 after one epoch
            .SetTuner(new GridTuner(shuffle: false))
            .SetPruner(new SuccessiveHalvingPruner(minResource: 1, reductionFactor: 2, minTrialsPerRung: 2))
            .SetBudget(maxTrials: 4)
            .SetSeed(11)
            .SetOutputFolder(folder)
            .RunAsync().GetAwaiter().GetResult();
        using var model = (IDisposable)result.Model!;

        foreach (var t in result.Trials)
            Console.WriteLine($"trial {t.TrialId} lr {t.Parameters.Format("LearningRate")}: {t.Status} log-loss {t.Metric:F4} at epoch {t.Resource:F2} (step {t.Step}), {t.Seconds:F1} s");
        Assert.AreEqual(4, result.Trials.Count);
        var planted = result.Trials[1];
        Assert.AreEqual(TrialStatus.Pruned, planted.Status);
        Assert.AreEqual(1.0, planted.Resource!.Value, 1e-9, "stopped at the first rung, a third of its training");
        Assert.AreEqual(15, planted.Step);
        Assert.AreEqual(TrialStatus.Completed, result.Trials[0].Status);
        Assert.AreEqual(TrialStatus.Completed, result.BestTrial.Status);
        Assert.IsTrue(result.Metric < 1.1, $"best log-loss {result.Metric} (chance: ln 4 = 1.39)");
        Assert.IsTrue(result.BestTrial.Metrics["MacroF1"] > 0.8, $"best macro-F1 {result.BestTrial.Metrics["MacroF1"]} (chance 0.25)");

        // The returned pipeline is the best trial's: ML.NET's evaluation of it on the validation set gives the recorded metric.
        var scored = result.Model!.Transform(valid);
        var metrics = ml.MulticlassClassification.Evaluate(((IEnumerable<ITransformer>)result.Model).Take(2)
            .Aggregate(valid, (data, t) => t.Transform(data)));
        Assert.AreEqual(result.Metric, metrics.LogLoss, 1e-12);
        Assert.AreEqual(result.BestTrial.Metrics["MacroF1"], SweepMetrics.MacroF1(metrics.ConfusionMatrix), 1e-12);
        Assert.AreEqual(result.BestTrial.Metrics["MicroAccuracy"], metrics.MicroAccuracy, 1e-12);
        Assert.IsTrue(scored.Schema["PredictedLabel"].Type is TextDataViewType, "the suffix maps keys back to labels");

        // Memory: every model the trainer returned was disposed except the best one (pruned trials free theirs inside Fit).
        var best = ((IEnumerable<ITransformer>)result.Model!).OfType<TextClassifierTransformer>().Single();
        Assert.IsTrue(fitted.Count >= 2, $"{fitted.Count} fitted models");
        Assert.IsTrue(fitted.Contains(best));
        Assert.IsTrue(fitted.Where(f => f != best).All(IsDisposed), "a losing trial's model is still alive");
        Assert.IsFalse(IsDisposed(best));

        // Files: results, leaderboards, and the best pipeline saved as an ML.NET model that loads and predicts the same.
        Assert.AreEqual(5, File.ReadAllLines(Path.Combine(folder, SweepExperiment.ResultsFileName)).Length);
        StringAssert.Contains(File.ReadAllText(Path.Combine(folder, "leaderboard.md")), "| pruned |");
        var fresh = new MLContext(seed: 3);
        fresh.ComponentCatalog.RegisterMLNetLlmClassifier();
        var loaded = fresh.Model.Load(Path.Combine(folder, SweepExperiment.BestModelFileName), out _);
        using var loadedDisposable = (IDisposable)loaded;
        var a = ml.Data.CreateEnumerable<BertTrainerTests.Prediction>(scored, false).Select(p => p.Score).ToList();
        var b = fresh.Data.CreateEnumerable<BertTrainerTests.Prediction>(loaded.Transform(valid), false).Select(p => p.Score).ToList();
        for (int i = 0; i < a.Count; i++) CollectionAssert.AreEqual(a[i], b[i]);
    }

    [TestMethod]
    public void OneSweepSpansTheClassicBaselineAndBert()
    {
        var ml = new MLContext(seed: 1);
        var train = ml.Data.LoadFromEnumerable(BertTrainerTests.Synthetic(64, seed: 3));
        var valid = ml.Data.LoadFromEnumerable(BertTrainerTests.Synthetic(48, seed: 4));
        var bertSpace = new SearchSpace().AddLogUniform("LearningRate", 1e-3, 3e-3);
        var options = BaseOptions();
        options.NumberOfEpochs = 1;

        var result = ml.Sweeps().CreateExperiment()
            .SetPipeline(Pipeline(ml).AddSdcaTextBaseline(textColumn: "Sentence1").AddBert(options, bertSpace))
            .SetDataset(train, valid)
            .SetMetric(SweepMetric.MicroAccuracy)
            .SetTuner(new GridTuner(steps: 2, shuffle: true, seed: 2))
            .SetPruner(null)
            .SetBudget(maxTrials: 4)
            .RunAsync().GetAwaiter().GetResult();
        using var model = (IDisposable)result.Model!;

        foreach (var t in result.Trials) Console.WriteLine($"trial {t.TrialId} {t.Parameters}: {t.Status} accuracy {t.Metric:F4}, {t.Seconds:F1} s");
        CollectionAssert.AreEquivalent(new[] { "bert", "sdca" }, result.Trials.Select(t => t.Candidate).Distinct().ToArray());
        Assert.IsTrue(result.Trials.All(t => t.Status == TrialStatus.Completed), string.Join("; ", result.Trials.Select(t => t.Error)));
        Assert.IsTrue(result.Trials.Where(t => t.Candidate == "sdca").All(t => t.Reports.Count == 0 && t.Metrics.ContainsKey("LogLoss")));
        Assert.IsTrue(result.Trials.Where(t => t.Candidate == "bert").All(t => t.Reports.Count == 4 && t.Resource == 1.0), "every evaluation reaches the pruner");
        var predictions = ml.Data.CreateEnumerable<BertTrainerTests.Prediction>(result.Model!.Transform(valid), false).ToList();
        Assert.AreEqual(48, predictions.Count);
    }
}
