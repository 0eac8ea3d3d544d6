using MLNetLlmClassifier.Qwen3;
using MLNetLlmClassifier.Training;

namespace MLNetLlmClassifier.Tests.Training;

[TestClass]
public class TrainingPlanTests
{
    private sealed class ToyOptions : TransformerTrainerOptions;

    private static long[] Labels(params int[] countsPerClass) =>
        countsPerClass.SelectMany((n, c) => Enumerable.Repeat((long)c, n)).ToArray();

    private static TrainingPlan Plan(TransformerTrainerOptions o, long[] labels, int classes, int validRows = 0, bool random = false) =>
        TrainingPlan.Create("Toy", o, labels, Enumerable.Range(0, classes).Select(i => $"c{i}").ToArray(), validRows, "cpu", "float32", random);

    [TestMethod]
    public void SmallDataDoesNotEvaluateAtEveryStep()
    {
        // The case: 400 rows, batch 32, 3 epochs = 39 steps; a tenth of an epoch is 1 step, so it evaluated 39 times.
        var o = new ToyOptions { BatchSize = 32, NumberOfEpochs = 3, EvaluationInterval = 0.1 };
        var s = TrainingSchedule.For(o, 400, validate: true);
        Assert.AreEqual(13, s.StepsPerEpoch);
        Assert.AreEqual(39, s.TotalSteps);
        Assert.AreEqual(10, s.EvaluateEvery);
        Assert.AreEqual(4, s.EvaluationCount); // steps 10, 20, 30 and the last
        Assert.IsTrue(s.EvaluatesAt(39) && s.EvaluatesAt(20) && !s.EvaluatesAt(1));
        // An explicit EvaluationSteps is taken as given; no validation set, no evaluation.
        Assert.AreEqual(2, TrainingSchedule.For(new ToyOptions { BatchSize = 32, EvaluationSteps = 2 }, 400, true).EvaluateEvery);
        Assert.AreEqual(0, TrainingSchedule.For(o, 400, validate: false).EvaluationCount);
        // Large data keeps the fraction of an epoch: 120,000 rows at 32 = 3,750 steps per epoch, every 375.
        Assert.AreEqual(375, TrainingSchedule.For(new ToyOptions { BatchSize = 32 }, 120_000, true).EvaluateEvery);
    }

    [TestMethod]
    public void ThePlanPrintsTheEffectiveBatchAndWarnsOfTooFewSteps()
    {
        // Issue item 13: batch 32 with the reference preset's accumulation of 8 on 10,003 rows, 2 epochs = 80 steps of 256 rows.
        var o = new PromptedDecoderClassifierTrainer.Options { BatchSize = 32, NumberOfEpochs = 2 };
        var plan = Plan(o, Labels(2501, 2501, 2501, 2500), 4, validRows: 500, random: true);
        var text = string.Join("\n", plan.Lines());
        StringAssert.Contains(text, "batch 32 x accumulation 8 = effective batch 256");
        StringAssert.Contains(text, "= 80 steps");
        StringAssert.Contains(text, "c0 2501, c1 2501, c2 2501, c3 2500");
        StringAssert.Contains(text, "device cpu, float32");
        var warning = plan.Warnings().Single();
        StringAssert.Contains(warning, "only 80 optimizer steps");
        StringAssert.Contains(warning, "random weights");
        // With accumulation 1 the same run has 626 steps and nothing to warn about.
        o.GradientAccumulationSteps = 1;
        Assert.AreEqual(0, Plan(o, Labels(2501, 2501, 2501, 2500), 4).Warnings().Count);
    }

    [TestMethod]
    public void SwappedColumnsAndStrayLabelsAreWarnedAbout()
    {
        var o = new ToyOptions { BatchSize = 1, NumberOfEpochs = 1 };
        // One class per row: what swapped label and text columns give.
        var swapped = Plan(o, Enumerable.Range(0, 400).Select(i => (long)i).ToArray(), 400);
        Assert.IsTrue(swapped.Warnings().Any(w => w.Contains("400 classes for 400 rows", StringComparison.Ordinal)), string.Join("\n", swapped.Warnings()));
        // A stray class of one row beside real ones.
        var stray = Plan(o, Labels(200, 199, 1), 3);
        Assert.IsTrue(stray.Warnings().Any(w => w.Contains("single training row ('c2')", StringComparison.Ordinal)), string.Join("\n", stray.Warnings()));
        Assert.AreEqual(0, Plan(o, Labels(200, 200), 2).Warnings().Count);
    }

    [TestMethod]
    public void ATieGoesToTheLaterEvaluationAndPatienceNeedsARealImprovement()
    {
        var first = new EvaluationRecord(1, 0.1, 1.38, 0.25, 0.10, 100);
        var flat = new EvaluationRecord(9, 0.9, 1.20, 0.25, 0.10, 100);       // same macro-F1, lower log-loss
        var worseLoss = new EvaluationRecord(9, 0.9, 1.50, 0.25, 0.10, 100);  // same macro-F1, higher log-loss
        Assert.IsTrue(TrainingLoop.IsBetter(flat, first, EarlyStoppingMetric.MacroF1), "a flat metric kept the weights of step 1");
        Assert.IsFalse(TrainingLoop.IsBetter(worseLoss, first, EarlyStoppingMetric.MacroF1));
        Assert.IsTrue(TrainingLoop.IsBetter(first with { Step = 2 }, first, EarlyStoppingMetric.MacroF1), "an exact tie goes to the later evaluation");
        Assert.IsFalse(TrainingLoop.Improves(flat, first, EarlyStoppingMetric.MacroF1, 1e-4), "a tie is no improvement for early stopping");
        Assert.IsTrue(TrainingLoop.Improves(first with { MacroF1 = 0.2 }, first, EarlyStoppingMetric.MacroF1, 1e-4));
        Assert.IsFalse(TrainingLoop.Improves(first with { MacroF1 = 0.10005 }, first, EarlyStoppingMetric.MacroF1, 1e-4));
    }
}
