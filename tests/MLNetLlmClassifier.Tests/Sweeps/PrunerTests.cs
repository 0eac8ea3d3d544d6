using Microsoft.ML;
using MLNetLlmClassifier.Sweeps;

namespace MLNetLlmClassifier.Tests.Sweeps;

/// <summary>Successive halving on synthetic learning curves, with planted bad trials.</summary>
[TestClass]
public class PrunerTests
{
    /// <summary>Reports the curve of <paramref name="final"/> every 0.1 epoch up to <paramref name="epochs"/>, stopping when pruned.</summary>
    internal static TrialOutcome TrainCurve(TrialContext t, double final, double epochs = 3.0)
    {
        int steps = (int)Math.Round(epochs * 10);
        for (int i = 1; i <= steps; i++)
        {
            t.CancellationToken.ThrowIfCancellationRequested();
            t.Report(i / 10.0, SyntheticObjectives.Curve(final, i / 10.0), step: i * 4);
        }
        t.CancellationToken.ThrowIfCancellationRequested();
        return new TrialOutcome(final);
    }

    [TestMethod]
    public void PlantedBadTrialsStopAtTheFirstRungAndTheBestCompletes()
    {
        // Nine configurations in a fixed order (grid, not shuffled); the label says how good each one is.
        double[] finals = [0.90, 0.88, 0.86, 0.40, 0.45, 0.92, 0.35, 0.50, 0.80];
        var space = new SearchSpace().Add(new ChoiceDimension("Config", finals.Select((f, i) => new ChoiceOption($"c{i}-{(f < 0.6 ? "bad" : "good")}", f))));
        var result = new MLContext(seed: 0).Sweeps().CreateExperiment()
            .AddTrialRunner("curves", space, t => TrainCurve(t, t.Parameters.Get<double>("Config")))
            .SetMetric(SweepMetric.MacroF1)
            .SetTuner(new GridTuner(shuffle: false))
            .SetPruner(new SuccessiveHalvingPruner(minResource: 0.3, reductionFactor: 3, minTrialsPerRung: 3))
            .SetBudget(maxTrials: 100)
            .RunAsync().GetAwaiter().GetResult();

        Assert.AreEqual(9, result.Trials.Count);
        foreach (var bad in result.Trials.Where(t => t.Parameters.Format("Config").EndsWith("bad")))
        {
            Assert.AreEqual(TrialStatus.Pruned, bad.Status, bad.Parameters.ToString());
            Assert.AreEqual(0.3, bad.Resource!.Value, 1e-9, "pruned at the first rung");
            Assert.AreEqual(12, bad.Step);
            Assert.AreEqual(SyntheticObjectives.Curve(bad.Parameters.Get<double>("Config"), 0.3), bad.Metric!.Value, 1e-12, "the last reported value");
            StringAssert.Contains(bad.Error, "pruned at epoch 0.3");
        }
        Assert.AreEqual(0.92, result.Metric);
        Assert.AreEqual(TrialStatus.Completed, result.BestTrial.Status);
        Assert.AreEqual(3.0, result.BestTrial.Resource!.Value, 1e-9);
        // The first trials set the bar and run to the end; everything after trains 0.3 epoch unless it leads.
        CollectionAssert.AreEqual(new[] { 0, 1, 5 }, result.Trials.Where(t => t.Status == TrialStatus.Completed).Select(t => t.TrialId).ToArray());
        double trained = result.Trials.Sum(t => t.Resource!.Value);
        Assert.IsTrue(trained < 0.45 * 9 * 3.0, $"{trained} epochs trained of {9 * 3.0} without pruning");
    }

    [TestMethod]
    public void WithoutPruningEveryTrialRunsToTheEnd()
    {
        var space = new SearchSpace().AddChoice("Config", 0.9, 0.4, 0.3, 0.2);
        var result = new MLContext(seed: 0).Sweeps().CreateExperiment()
            .AddTrialRunner("curves", space, t => TrainCurve(t, t.Parameters.Get<double>("Config")))
            .SetTuner(new GridTuner(shuffle: false))
            .SetPruner(null)
            .SetBudget(maxTrials: 4)
            .RunAsync().GetAwaiter().GetResult();
        Assert.IsTrue(result.Trials.All(t => t.Status == TrialStatus.Completed && Math.Abs(t.Resource!.Value - 3.0) < 1e-9));
    }

    private static PruningContext Context(double[] mine, bool maximize, params double[][] others)
    {
        var space = new SearchSpace().AddUniform("x", 0, 1);
        TrialParameters P() => new("c", space, new Dictionary<string, object?> { ["x"] = 0.5 });
        IntermediateValue[] Reports(double[] v) => v.Select((x, i) => new IntermediateValue((i + 1) * 0.5, x, i + 1)).ToArray();
        return new PruningContext
        {
            Parameters = P(),
            Reports = Reports(mine),
            Maximize = maximize,
            History = others.Select((o, i) => new TrialRecord { TrialId = i, Parameters = P(), Status = TrialStatus.Completed, Metric = o[^1], Reports = Reports(o) }).ToList(),
        };
    }

    [TestMethod]
    public void RanksAtEachRungInTheMetricsDirection()
    {
        var asha = new SuccessiveHalvingPruner(minResource: 0.5, reductionFactor: 2, minTrialsPerRung: 2);
        // Rungs at 0.5, 1, 2 epochs; reports every 0.5 epoch. Maximize: 0.6 vs 0.7 at rung 0.5 loses (keep 1 of 2).
        Assert.IsTrue(asha.ShouldPrune(Context([0.6], true, [0.7, 0.8])));
        Assert.IsFalse(asha.ShouldPrune(Context([0.7], true, [0.7, 0.8])), "ties favour the running trial");
        // Minimize (log-loss): lower is better.
        Assert.IsFalse(asha.ShouldPrune(Context([0.6], false, [0.7, 0.6])));
        Assert.IsTrue(asha.ShouldPrune(Context([0.8], false, [0.7, 0.6])));
        // Between rungs nothing is decided; at 1.5 epochs (no rung) a bad value passes.
        Assert.IsFalse(asha.ShouldPrune(Context([0.9, 0.9, 0.1], true, [0.5, 0.5, 0.9])));
        // Too few values at a rung: nothing to compare with.
        Assert.IsFalse(asha.ShouldPrune(Context([0.1], true)));
        // A NaN ranks last.
        Assert.IsTrue(asha.ShouldPrune(Context([double.NaN], true, [0.1])));
        // Keep the top 1/η: with 4 values at a rung and η = 2, the second best goes on, the third stops.
        Assert.IsFalse(asha.ShouldPrune(Context([0.75], true, [0.8], [0.7], [0.6])));
        Assert.IsTrue(asha.ShouldPrune(Context([0.65], true, [0.8], [0.7], [0.6])));
    }

    [TestMethod]
    public void RejectsMeaninglessSettings()
    {
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new SuccessiveHalvingPruner(minResource: 0));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new SuccessiveHalvingPruner(reductionFactor: 1));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new SuccessiveHalvingPruner(minTrialsPerRung: 1));
    }
}
