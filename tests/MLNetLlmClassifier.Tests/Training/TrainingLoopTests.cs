using MLNetLlmClassifier.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetLlmClassifier.Tests.Training;

[TestClass]
public class TrainingLoopTests
{
    /// <summary>The shared options class as every trainer derives from it; the loop reads it as it is.</summary>
    private sealed class ToyOptions : TransformerTrainerOptions;

    private static ToyOptions Settings(int seed = 1) => new()
    {
        LearningRate = 0.05,
        BatchSize = 16,
        NumberOfEpochs = 3,
        EvaluationInterval = 0.5,
        Seed = seed,
        WarmupRatio = 0.1,
    };

    private static TrainingLoop Loop(ToyOptions o, Action<TrainingProgress> report, CancellationToken ct = default)
    {
        o.CancellationToken = ct;
        return new TrainingLoop(o, o.Seed!.Value, report);
    }

    private static ToyOptions With(ToyOptions o, Action<ToyOptions> edit)
    {
        edit(o);
        return o;
    }

    [TestMethod]
    public void LearnsASeparableTaskAndEvaluates()
    {
        var (train, y) = ToyClassifier.Synthetic(400, 4, seed: 1);
        var (valid, yv) = ToyClassifier.Synthetic(100, 4, seed: 2);
        using var model = new ToyClassifier(vocab: 128, classes: 4, seed: 3);
        var events = new List<TrainingProgress>();
        var summary = Loop(Settings(), events.Add).Run(model, train, y, valid, yv);

        Assert.IsTrue(summary.Best!.Accuracy > 0.97, $"accuracy {summary.Best.Accuracy}");
        Assert.IsTrue(summary.StepLosses[^1] < summary.StepLosses[0] / 3, "loss did not fall");
        // 400 rows / 16 = 25 steps per epoch, 3 epochs; evaluation every 0.5 epoch (13 steps) + at the end.
        Assert.AreEqual(75, summary.Steps);
        Assert.AreEqual(75, events.Count(e => e.Kind == TrainingEventKind.Step));
        Assert.AreEqual(summary.Evaluations.Count, events.Count(e => e.Kind == TrainingEventKind.Evaluation));
        Assert.IsTrue(summary.Evaluations.Count >= 6);
        Assert.AreEqual(TrainingEventKind.Finished, events[^1].Kind);
    }

    [TestMethod]
    public void SameSeedSameResult_DifferentSeedDifferentResult()
    {
        float Run(int seed)
        {
            var (train, y) = ToyClassifier.Synthetic(96, 3, seed: 1);
            using var model = new ToyClassifier(128, 3, seed: 5);
            return Loop(With(Settings(seed), o => o.NumberOfEpochs = 1), _ => { }).Run(model, train, y, null, null).StepLosses[^1];
        }
        Assert.AreEqual(Run(7), Run(7));
        Assert.AreNotEqual(Run(7), Run(8));
    }

    [TestMethod]
    public void NonFiniteLossStopsWithTheStepAndAHint()
    {
        var (train, y) = ToyClassifier.Synthetic(64, 2, seed: 1);
        using var model = new ToyClassifier(128, 2, seed: 1);
        int calls = 0;
        model.LossOverride = () => ++calls >= 3 ? float.NaN : 1f;
        var e = Assert.ThrowsExactly<TrainingDivergedException>(() =>
            Loop(With(Settings(), o => o.BatchSize = 8), _ => { }).Run(model, train, y, null, null));
        Assert.AreEqual(3, e.Step);
        StringAssert.Contains(e.Message, "LearningRate");
    }

    [TestMethod]
    public void CancellationStopsBetweenSteps()
    {
        var (train, y) = ToyClassifier.Synthetic(200, 2, seed: 1);
        using var model = new ToyClassifier(128, 2, seed: 1);
        using var cts = new CancellationTokenSource();
        long lastStep = 0;
        void Report(TrainingProgress p) { lastStep = p.Step; if (p.Step == 4) cts.Cancel(); }
        Assert.ThrowsExactly<OperationCanceledException>(() =>
            Loop(With(Settings(), o => o.BatchSize = 8), Report, cts.Token).Run(model, train, y, null, null));
        Assert.AreEqual(4, lastStep);
    }

    [TestMethod]
    public void EarlyStoppingRestoresTheBestEvaluation()
    {
        // Noisy labels and a high learning rate: validation loss gets worse after a while.
        var (train, y) = ToyClassifier.Synthetic(64, 4, seed: 1, noise: 0.6);
        var (valid, yv) = ToyClassifier.Synthetic(64, 4, seed: 2);
        using var model = new ToyClassifier(128, 4, seed: 1, dim: 64);
        var loop = Loop(With(Settings(), o =>
        {
            o.LearningRate = 0.3; o.NumberOfEpochs = 200; o.EvaluationSteps = 2; o.EarlyStoppingPatience = 3;
            o.EarlyStoppingMetric = EarlyStoppingMetric.LogLoss; o.Schedule = LearningRateSchedule.Constant; o.WarmupRatio = 0;
        }), _ => { });
        var summary = loop.Run(model, train, y, valid, yv);
        Assert.IsTrue(summary.StoppedEarly);
        Assert.AreEqual(summary.Evaluations.Min(e => e.LogLoss), summary.Best!.LogLoss);
        Assert.AreNotEqual(summary.Best.Step, summary.Steps, "the best evaluation should not be the last");
        // The model now holds the best weights: evaluating again gives the best log-loss.
        var again = loop.Evaluate(model, valid, yv, 0, 0);
        Assert.AreEqual(summary.Best.LogLoss, again.LogLoss, 1e-5);
    }

    [TestMethod]
    public void BalancedClassWeightsFollowInverseFrequency()
    {
        using var w = TrainingLoop.BalancedWeights(new long[] { 0, 0, 0, 1 }, 3, CPU);
        CollectionAssert.AreEqual(new[] { 4f / 9, 4f / 3, 0f }, w.data<float>().ToArray());
    }

    [TestMethod]
    public void MacroF1IgnoresClassesAbsentFromLabelsAndPredictions()
    {
        var (acc, f1) = TrainingLoop.AccuracyAndMacroF1(new long[] { 0, 0, 1, 1 }, new long[] { 0, 1, 1, 1 }, 5);
        Assert.AreEqual(0.75, acc, 1e-12);
        Assert.AreEqual((2.0 / 3 + 0.8) / 2, f1, 1e-12);
    }
}
