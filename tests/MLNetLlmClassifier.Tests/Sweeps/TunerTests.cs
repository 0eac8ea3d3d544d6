using Microsoft.ML;
using MLNetLlmClassifier.Sweeps;

namespace MLNetLlmClassifier.Tests.Sweeps;

/// <summary>The tuners on synthetic objectives with a known optimum (no model: microseconds per trial).</summary>
[TestClass]
public class TunerTests
{
    /// <summary>Two dimensions, optimum exactly at LearningRate 1e-4 and WarmupRatio 0.125 (both on a 9-step grid).</summary>
    private static SearchSpace Space2D() => new SearchSpace().AddLogUniform("LearningRate", 1e-6, 1e-2).AddUniform("WarmupRatio", 0, 0.5);

    private static double Objective2D(TrialParameters p)
    {
        double lr = Math.Log10(p.Get<double>("LearningRate")) + 4, w = p.Get<double>("WarmupRatio") - 0.125;
        return Math.Exp(-(lr * lr / 0.25 + w * w / 0.01));
    }

    private static bool InOptimumRegion(TrialParameters p) =>
        Math.Abs(Math.Log10(p.Get<double>("LearningRate")) + 4) < 0.5 && Math.Abs(p.Get<double>("WarmupRatio") - 0.125) < 0.1;

    private static SweepResult Sweep(ITuner tuner, int trials, SearchSpace? space = null, Func<TrialParameters, double>? objective = null) =>
        new MLContext(seed: 0).Sweeps().CreateExperiment()
            .AddTrialRunner("synthetic", space ?? Space2D(), t => new TrialOutcome((objective ?? Objective2D)(t.Parameters)))
            .SetMetric(SweepMetric.MicroAccuracy)
            .SetTuner(tuner)
            .SetPruner(null)
            .SetBudget(maxTrials: trials)
            .RunAsync().GetAwaiter().GetResult();

    [TestMethod]
    public void RandomSearchFindsTheOptimumRegion()
    {
        for (int seed = 0; seed < 5; seed++)
        {
            var r = Sweep(new RandomTuner(seed), 40);
            Assert.IsTrue(InOptimumRegion(r.Parameters), $"seed {seed}: best {r.Parameters} ({r.Metric:F3})");
            // Uniform in log space: about a quarter of the trials per decade of the four.
            int lowDecade = r.Trials.Count(t => t.Parameters.Get<double>("LearningRate") < 1e-5);
            Assert.IsTrue(lowDecade is >= 3 and <= 20, $"seed {seed}: {lowDecade} of 40 learning rates in [1e-6, 1e-5)");
        }
    }

    [TestMethod]
    public void GridSearchVisitsEveryPointOnceAndFindsTheExactOptimum()
    {
        var r = Sweep(new GridTuner(steps: 9, shuffle: true, seed: 1), 1000);
        Assert.AreEqual(SweepStopReason.SearchSpaceExhausted, r.StopReason);
        Assert.AreEqual(81, r.Trials.Count);
        Assert.AreEqual(81, r.Trials.Select(t => t.Parameters.Key).Distinct().Count());
        Assert.AreEqual(1e-4, r.Parameters.Get<double>("LearningRate"), 1e-12);
        Assert.AreEqual(0.125, r.Parameters.Get<double>("WarmupRatio"), 1e-12);
        Assert.AreEqual(1.0, r.Metric, 1e-9);

        // Shuffled, a small budget still spreads over the learning rates (in order it would try only the first one).
        var ordered = Sweep(new GridTuner(steps: 9, shuffle: false), 9);
        Assert.AreEqual(1, ordered.Trials.Select(t => t.Parameters.Get<double>("LearningRate")).Distinct().Count());
        var shuffled = Sweep(new GridTuner(steps: 9, shuffle: true, seed: 1), 9);
        Assert.IsTrue(shuffled.Trials.Select(t => t.Parameters.Get<double>("LearningRate")).Distinct().Count() >= 4);
    }

    [TestMethod]
    public void TpeFindsTheOptimumRegion()
    {
        for (int seed = 0; seed < 5; seed++)
        {
            var r = Sweep(new TpeTuner(seed), 40);
            Assert.IsTrue(InOptimumRegion(r.Parameters), $"seed {seed}: best {r.Parameters} ({r.Metric:F3})");
            // After the random start-up it concentrates: most later trials sit in the region.
            int late = r.Trials.Skip(20).Count(t => InOptimumRegion(t.Parameters));
            Assert.IsTrue(late >= 8, $"seed {seed}: only {late} of trials 20-39 in the optimum region");
        }
    }

    [TestMethod]
    public void TpeBeatsRandomSearchOnTheSameBudgetOverSeveralSeeds()
    {
        const int seeds = 10, budget = 30;
        var tpe = Enumerable.Range(0, seeds).Select(s => SyntheticObjectives.BestFound(new TpeTuner(s), budget)).ToArray();
        var random = Enumerable.Range(0, seeds).Select(s => SyntheticObjectives.BestFound(new RandomTuner(s), budget)).ToArray();
        int wins = tpe.Zip(random).Count(p => p.First > p.Second);
        Console.WriteLine($"{budget} trials, 5-dimensional fine-tuning objective (optimum {SyntheticObjectives.FineTuningOptimum}):");
        Console.WriteLine($"  TPE    mean best {tpe.Average():F4}: {string.Join(" ", tpe.Select(v => v.ToString("F3")))}");
        Console.WriteLine($"  random mean best {random.Average():F4}: {string.Join(" ", random.Select(v => v.ToString("F3")))}");
        Console.WriteLine($"  TPE better on {wins} of {seeds} seeds");
        Assert.IsTrue(tpe.Average() > random.Average() + 0.05, $"TPE {tpe.Average():F4} vs random {random.Average():F4}");
        Assert.IsTrue(wins >= 7, $"TPE better on only {wins} of {seeds} seeds");
    }

    [TestMethod]
    public void TunersAreReproducibleBySeed()
    {
        foreach (var make in new Func<int, ITuner>[] { s => new TpeTuner(s), s => new RandomTuner(s), s => new GridTuner(5, true, s) })
        {
            string[] Keys(int seed) => Sweep(make(seed), 15, SyntheticObjectives.FineTuningSpace(), SyntheticObjectives.FineTuning)
                .Trials.Select(t => t.Parameters.Key).ToArray();
            CollectionAssert.AreEqual(Keys(3), Keys(3), make(0).GetType().Name);
            CollectionAssert.AreNotEqual(Keys(3), Keys(4), make(0).GetType().Name);
        }
    }

    [TestMethod]
    public void TpeSpendsItsBudgetOnTheBetterOfTwoCandidates()
    {
        // Two "trainers" with the same space; the second one's best is far better.
        var space = Space2D();
        var result = new MLContext(seed: 0).Sweeps().CreateExperiment()
            .AddTrialRunner("weak", space, t => new TrialOutcome(0.5 * Objective2D(t.Parameters)))
            .AddTrialRunner("strong", space.Clone(), t => new TrialOutcome(Objective2D(t.Parameters)))
            .SetMetric(SweepMetric.MicroAccuracy)
            .SetTuner(new TpeTuner(seed: 5))
            .SetPruner(null)
            .SetBudget(maxTrials: 40)
            .RunAsync().GetAwaiter().GetResult();
        Assert.AreEqual("strong", result.Parameters.Candidate);
        int strongLate = result.Trials.Skip(20).Count(t => t.Candidate == "strong");
        Assert.IsTrue(strongLate >= 14, $"only {strongLate} of the last 20 trials ran the better candidate");
    }

    [TestMethod]
    public void DuplicateProposalsAreNotRunAgain()
    {
        // 2 × 3 = 6 configurations: TPE keeps proposing the best one, the experiment runs each once, then stops.
        var space = new SearchSpace().AddChoice("BatchSize", 16, 32, 64).AddBoolean("Flag");
        var r = Sweep(new TpeTuner(0) { StartupTrials = 2 }, 50, space, p => p.Get<int>("BatchSize") + (p.Get<bool>("Flag") ? 1 : 0));
        Assert.AreEqual(6, r.Trials.Count);
        Assert.AreEqual(6, r.Trials.Select(t => t.Parameters.Key).Distinct().Count());
        Assert.AreEqual(SweepStopReason.SearchSpaceExhausted, r.StopReason);
        Assert.AreEqual(65, r.Metric);
    }

    [TestMethod]
    public void AutoMLStyleTunerSettersUseTheSweepSeed()
    {
        string[] Keys(Func<SweepExperiment, SweepExperiment> set) =>
            set(new MLContext().Sweeps().CreateExperiment()
                    .AddTrialRunner("synthetic", Space2D(), t => new TrialOutcome(Objective2D(t.Parameters)))
                    .SetPruner(null).SetBudget(maxTrials: 12))
                .SetSeed(4).RunAsync().GetAwaiter().GetResult().Trials.Select(t => t.Parameters.Key).ToArray();
        CollectionAssert.AreEqual(Keys(e => e.SetTuner(new RandomTuner(4))), Keys(e => e.SetRandomSearchTuner()));
        CollectionAssert.AreEqual(Keys(e => e.SetTuner(new GridTuner(5, true, 4))), Keys(e => e.SetGridSearchTuner()));
        CollectionAssert.AreEqual(Keys(e => e.SetTuner(new TpeTuner(4))), Keys(e => e.SetTpeTuner()));
        CollectionAssert.AreEqual(Keys(e => e.SetTuner(new TpeTuner(4))), Keys(e => e), "TPE is the default");
    }
}
