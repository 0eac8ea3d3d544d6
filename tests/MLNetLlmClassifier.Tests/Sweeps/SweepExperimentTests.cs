using System.Text;
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetLlmClassifier.Sweeps;
using MLNetLlmClassifier.Tests.Checkpoints;

namespace MLNetLlmClassifier.Tests.Sweeps;

/// <summary>The experiment loop on synthetic trials: resume, failures, memory, budgets, reports.</summary>
[TestClass]
public class SweepExperimentTests
{
    /// <summary>A synthetic fine-tuning trial with a learning curve (reported every 0.1 epoch over NumberOfEpochs).</summary>
    private static TrialOutcome Curve(TrialContext t) =>
        PrunerTests.TrainCurve(t, SyntheticObjectives.FineTuning(t.Parameters), t.Parameters.Get<int>("NumberOfEpochs"));

    private static SweepExperiment Experiment(string? folder, Func<TrialContext, TrialOutcome> run, int trials, int seed = 3)
    {
        var e = new MLContext(seed: 0).Sweeps().CreateExperiment()
            .AddTrialRunner("synthetic", SyntheticObjectives.FineTuningSpace(), run)
            .SetMetric(SweepMetric.MacroF1)
            .SetSeed(seed)
            .SetPruner(new SuccessiveHalvingPruner(minResource: 0.3))
            .SetBudget(maxTrials: trials);
        return folder is null ? e : e.SetOutputFolder(folder);
    }

    [TestMethod]
    public void ResumesAfterACrashWithoutRepeatingAFinishedTrial()
    {
        using var dir = new TempFolder();
        string folder = dir.File("sweep"), reference = dir.File("reference");

        // Session 1 "crashes" in the middle of trial 7: its runner kills the sweep (as a kill or Ctrl+C would) after two reports,
        // and a half-written line is left at the end of the results file (as a crash during a write would).
        var firstSession = new List<string>();
        using var kill = new CancellationTokenSource();
        var crashed = Assert.ThrowsExactly<OperationCanceledException>(() => Experiment(folder, t =>
        {
            firstSession.Add(t.Parameters.Key);
            if (t.TrialId == 7)
            {
                t.Report(0.1, 0.3, 1);
                t.Report(0.2, 0.3, 2);
                kill.Cancel();
                t.CancellationToken.ThrowIfCancellationRequested();
            }
            return Curve(t);
        }, trials: 20).RunAsync(kill.Token).GetAwaiter().GetResult());
        string results = Path.Combine(folder, SweepExperiment.ResultsFileName);
        Assert.AreEqual(1 + 7, File.ReadAllLines(results).Length, "header and trials 0-6");
        File.AppendAllText(results, "{\"kind\":\"trial\",\"trialId\":7,\"candid");

        // Session 2: a new process (new objects) on the same folder.
        var secondSession = new List<(int Id, string Key)>();
        var resumed = Experiment(folder, t => { secondSession.Add((t.TrialId, t.Parameters.Key)); return Curve(t); }, trials: 20)
            .RunAsync().GetAwaiter().GetResult();

        var finishedBefore = firstSession.Take(7).ToHashSet();
        Assert.AreEqual(7, secondSession[0].Id, "continues at the interrupted trial");
        Assert.IsFalse(secondSession.Any(s => finishedBefore.Contains(s.Key)), "a finished trial ran again");
        Assert.AreEqual(13, secondSession.Count);
        CollectionAssert.AreEqual(Enumerable.Range(0, 20).ToArray(), resumed.Trials.Select(t => t.TrialId).ToArray());
        var lines = File.ReadAllLines(results);
        Assert.AreEqual(21, lines.Length);
        foreach (var line in lines) JsonDocument.Parse(line); // the partial line is gone, every line is whole JSON

        // The interrupted-and-resumed sweep is the sweep that was never interrupted: same proposals, same pruning, same best.
        var straight = Experiment(reference, Curve, trials: 20).RunAsync().GetAwaiter().GetResult();
        CollectionAssert.AreEqual(straight.Trials.Select(t => $"{t.Parameters.Key} {t.Status} {t.Metric}").ToArray(),
                                  resumed.Trials.Select(t => $"{t.Parameters.Key} {t.Status} {t.Metric}").ToArray());
        Assert.AreEqual(straight.Metric, resumed.Metric);
        Assert.IsTrue(resumed.Trials.Any(t => t.Status == TrialStatus.Pruned), "pruning was active");

        // A third run with the budget already spent runs nothing and returns the same best.
        var again = Experiment(folder, t => throw new AssertFailedException("no trial should run"), trials: 20).RunAsync().GetAwaiter().GetResult();
        Assert.AreEqual(resumed.BestTrial.TrialId, again.BestTrial.TrialId);
        Assert.AreEqual(SweepStopReason.TrialBudget, again.StopReason);
    }

    [TestMethod]
    public void RefusesToResumeADifferentSweep()
    {
        using var dir = new TempFolder();
        Experiment(dir.Path, Curve, trials: 2).RunAsync().GetAwaiter().GetResult();
        var otherSpace = new MLContext().Sweeps().CreateExperiment()
            .AddTrialRunner("synthetic", SyntheticObjectives.FineTuningSpace().Set(new UniformDimension("WarmupRatio", 0, 0.3)), Curve)
            .SetBudget(maxTrials: 3).SetOutputFolder(dir.Path);
        var ex = Assert.ThrowsExactly<InvalidOperationException>(() => otherSpace.RunAsync().GetAwaiter().GetResult());
        StringAssert.Contains(ex.Message, "'synthetic'");
        StringAssert.Contains(ex.Message, "WarmupRatio");
        var otherMetric = Experiment(dir.Path, Curve, trials: 3).SetMetric(SweepMetric.LogLoss);
        ex = Assert.ThrowsExactly<InvalidOperationException>(() => otherMetric.RunAsync().GetAwaiter().GetResult());
        StringAssert.Contains(ex.Message, "LogLoss");
    }

    [TestMethod]
    public void AFailedTrialIsRecordedWithItsReasonAndTheSweepGoesOn()
    {
        using var dir = new TempFolder();
        var result = Experiment(dir.Path, t =>
        {
            if (t.Parameters.Get<int>("BatchSize") == 128) throw new InvalidOperationException("CUDA out of memory (simulated)");
            if (t.Parameters.Get<double>("LearningRate") > 3e-3)
            {
                t.Report(0.1, 0.3, 1);
                throw new MLNetLlmClassifier.Training.TrainingDivergedException(2, double.NaN);
            }
            if (t.Parameters.Get<int>("NumberOfEpochs") == 6) return new TrialOutcome(double.NaN);
            return Curve(t);
        }, trials: 30).SetPruner(null).RunAsync().GetAwaiter().GetResult();

        Assert.AreEqual(30, result.Trials.Count);
        var failed = result.Trials.Where(t => t.Status == TrialStatus.Failed).ToList();
        Assert.IsTrue(failed.Any(f => f.Error!.StartsWith("InvalidOperationException: CUDA out of memory")));
        Assert.IsTrue(failed.Any(f => f.Error!.StartsWith("TrainingDivergedException:") && f.Resource == 0.1 && f.Step == 1));
        Assert.IsTrue(failed.Any(f => f.Error!.Contains("metric is NaN")));
        Assert.IsTrue(failed.All(f => f.Parameters.Get<int>("BatchSize") == 128 || f.Parameters.Get<double>("LearningRate") > 3e-3 || f.Parameters.Get<int>("NumberOfEpochs") == 6));
        Assert.AreEqual(TrialStatus.Completed, result.BestTrial.Status);
        var md = File.ReadAllText(Path.Combine(dir.Path, "leaderboard.md"));
        StringAssert.Contains(md, "## Failed trials");
        StringAssert.Contains(md, "CUDA out of memory (simulated)");
        // Failed trials rank last.
        Assert.IsTrue(result.Leaderboard.Ranked.SkipWhile(t => t.Status != TrialStatus.Failed).All(t => t.Status == TrialStatus.Failed));
    }

    /// <summary>A stand-in for a fitted model that counts how many are alive.</summary>
    private sealed class CountedModel : ITransformer, IDisposable
    {
        private readonly int[] _alive;
        public bool Disposed { get; private set; }
        public CountedModel(int[] alive) { _alive = alive; _alive[0]++; }
        public void Dispose() { if (!Disposed) { Disposed = true; _alive[0]--; } }
        public bool IsRowToRowMapper => false;
        public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => throw new NotSupportedException();
        public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => throw new NotSupportedException();
        public IDataView Transform(IDataView input) => throw new NotSupportedException();
        void ICanSaveModel.Save(ModelSaveContext ctx) => throw new NotSupportedException();
    }

    private sealed class AliveMonitor(int[] alive) : ISweepMonitor
    {
        public List<int> AfterEachTrial { get; } = new();
        public void TrialFinished(TrialRecord record, bool isBest) => AfterEachTrial.Add(alive[0]);
    }

    [TestMethod]
    public void OnlyTheBestModelStaysAliveBetweenTrials()
    {
        var alive = new int[1];
        var monitor = new AliveMonitor(alive);
        var result = Experiment(null, t =>
        {
            var model = new CountedModel(alive);
            try { Curve(t); }
            catch (OperationCanceledException) { model.Dispose(); throw; } // a pruned trainer frees its own model
            return new TrialOutcome(SyntheticObjectives.FineTuning(t.Parameters)) { Model = model };
        }, trials: 25).SetMonitor(monitor).RunAsync().GetAwaiter().GetResult();

        Assert.IsTrue(result.Trials.Any(t => t.Status == TrialStatus.Pruned));
        CollectionAssert.AreEqual(Enumerable.Repeat(1, 25).ToArray(), monitor.AfterEachTrial.ToArray(), "models alive after each trial");
        Assert.IsFalse(((CountedModel)result.Model!).Disposed);
        ((IDisposable)result.Model!).Dispose();
        Assert.AreEqual(0, alive[0]);
    }

    [TestMethod]
    public void AModelReturnedByAPrunedTrialIsDisposed()
    {
        var alive = new int[1];
        // The runner ignores the token and returns a model anyway; the sweep still records it as pruned and frees the model.
        var result = Experiment(null, t =>
        {
            for (int i = 1; i <= 30; i++) t.Report(i / 10.0, SyntheticObjectives.Curve(SyntheticObjectives.FineTuning(t.Parameters), i / 10.0), i);
            return new TrialOutcome(SyntheticObjectives.FineTuning(t.Parameters)) { Model = new CountedModel(alive) };
        }, trials: 12).RunAsync().GetAwaiter().GetResult();
        Assert.IsTrue(result.Trials.Any(t => t.Status == TrialStatus.Pruned));
        Assert.AreEqual(1, alive[0]);
        ((IDisposable)result.Model!).Dispose();
    }

    [TestMethod]
    public void TheTimeBudgetStopsTheRunningTrialWithoutRecordingIt()
    {
        var result = new MLContext().Sweeps().CreateExperiment()
            .AddTrialRunner("synthetic", new SearchSpace().AddInteger("Wait", 0, 1), t =>
            {
                if (t.TrialId == 0) return new TrialOutcome(0.5);
                t.CancellationToken.WaitHandle.WaitOne(); // a long trial, stopped by the budget
                t.CancellationToken.ThrowIfCancellationRequested();
                return new TrialOutcome(0.9);
            })
            .SetTuner(new GridTuner(shuffle: false))
            .SetBudget(maxTime: TimeSpan.FromSeconds(1))
            .RunAsync().GetAwaiter().GetResult();
        Assert.AreEqual(SweepStopReason.TimeBudget, result.StopReason);
        Assert.AreEqual(1, result.Trials.Count);
        Assert.AreEqual(0.5, result.Metric);
    }

    [TestMethod]
    public void NoCompletedTrialIsAClearError()
    {
        var ex = Assert.ThrowsExactly<InvalidOperationException>(() => Experiment(null, _ => throw new ArgumentException("bad combination"), trials: 3)
            .RunAsync().GetAwaiter().GetResult());
        StringAssert.Contains(ex.Message, "No trial completed");
        StringAssert.Contains(ex.Message, "bad combination");
    }

    [TestMethod]
    public void WritesResultsAndLeaderboards()
    {
        using var dir = new TempFolder();
        var result = Experiment(dir.Path, Curve, trials: 12).RunAsync().GetAwaiter().GetResult();

        var lines = File.ReadAllLines(Path.Combine(dir.Path, SweepExperiment.ResultsFileName));
        using (var header = JsonDocument.Parse(lines[0]))
        {
            Assert.AreEqual("sweep", header.RootElement.GetProperty("kind").GetString());
            Assert.AreEqual(3, header.RootElement.GetProperty("seed").GetInt32());
        }
        using (var first = JsonDocument.Parse(lines[1]))
        {
            var t = first.RootElement;
            Assert.AreEqual(0, t.GetProperty("trialId").GetInt32());
            Assert.AreEqual(5, t.GetProperty("parameters").EnumerateObject().Count());
            Assert.IsTrue(t.GetProperty("reports").GetArrayLength() > 0);
            Assert.IsTrue(t.GetProperty("seconds").GetDouble() >= 0);
        }
        Assert.AreEqual(result.Trials.Count, SweepResultsFile.Read(Path.Combine(dir.Path, SweepExperiment.ResultsFileName),
            [new SweepCandidateSpace("synthetic", SyntheticObjectives.FineTuningSpace())]).Count);

        using var board = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.Path, "leaderboard.json")));
        var trials = board.RootElement.GetProperty("trials").EnumerateArray().ToList();
        Assert.AreEqual(12, trials.Count);
        Assert.AreEqual(result.BestTrial.TrialId, board.RootElement.GetProperty("bestTrialId").GetInt32());
        Assert.AreEqual(result.BestTrial.TrialId, trials[0].GetProperty("trialId").GetInt32());
        Assert.AreEqual(1, trials[0].GetProperty("rank").GetInt32());

        var md = File.ReadAllText(Path.Combine(dir.Path, "leaderboard.md"));
        StringAssert.Contains(md, "| rank | trial | trainer | status | MacroF1 | reached | time (s) | LearningRate | WarmupRatio | WeightDecay | BatchSize | NumberOfEpochs |");
        StringAssert.Contains(md, $"Best: trial {result.BestTrial.TrialId} (synthetic)");
        if (result.Trials.Any(t => t.Status == TrialStatus.Pruned)) StringAssert.Contains(md, " † |");
        Assert.AreEqual(2 + 12, md.Split('\n').Count(l => l.StartsWith('|')));
    }

    [TestMethod]
    public void ChartRendererGetsTheSweepData()
    {
        using var dir = new TempFolder();
        var renderer = new RecordingRenderer();
        var result = Experiment(dir.Path, Curve, trials: 10).SetChartRenderer(renderer).RunAsync().GetAwaiter().GetResult();
        Assert.IsNotNull(renderer.Data);
        Assert.AreEqual(Path.Combine(dir.Path, "charts"), renderer.Folder);
        Assert.AreEqual(10, renderer.Data!.Trials.Count);
        Assert.AreEqual(5, renderer.Data.Parameters.Count);
        var batch = renderer.Data.Parameters.Single(p => p.Name == "BatchSize");
        Assert.IsTrue(batch.Dimension.IsCategorical);
        Assert.IsTrue(batch.Points.All(p => p.X is >= 0 and <= 4 && p.Label is "8" or "16" or "32" or "64" or "128"));
        // Best so far never gets worse and ends at the best.
        var best = renderer.Data.BestSoFar.Select(b => b.Metric).ToList();
        CollectionAssert.AreEqual(best.OrderBy(v => v).ToList(), best);
        Assert.AreEqual(result.Metric, best[^1]);
    }

    [TestMethod]
    public void AChartRendererThatThrowsLosesNothing()
    {
        using var dir = new TempFolder();
        var log = new StringWriter();
        var result = Experiment(dir.Path, Curve, trials: 3).SetMonitor(new TextWriterSweepMonitor(log))
            .SetChartRenderer(new ThrowingRenderer()).RunAsync().GetAwaiter().GetResult();
        Assert.HasCount(3, result.Trials);
        Assert.IsTrue(File.Exists(Path.Combine(dir.Path, "leaderboard.md")));
        StringAssert.Contains(log.ToString(), "Could not draw the charts");
        StringAssert.Contains(log.ToString(), "no native library");
    }

    private sealed class ThrowingRenderer : ISweepChartRenderer
    {
        public IReadOnlyList<string> Render(SweepChartData data, string folder) => throw new DllNotFoundException("no native library");
    }

    private sealed class RecordingRenderer : ISweepChartRenderer
    {
        public SweepChartData? Data { get; private set; }
        public string? Folder { get; private set; }

        public IReadOnlyList<string> Render(SweepChartData data, string folder)
        {
            Data = data;
            Folder = folder;
            return [];
        }
    }

    [TestMethod]
    public void ConfigurationErrorsAreClear()
    {
        var e = new MLContext().Sweeps().CreateExperiment();
        Assert.ThrowsExactly<ArgumentException>(() => e.SetBudget());
        Assert.ThrowsExactly<InvalidOperationException>(() => e.RunAsync().GetAwaiter().GetResult());
        e.SetBudget(maxTrials: 1);
        var ex = Assert.ThrowsExactly<InvalidOperationException>(() => e.RunAsync().GetAwaiter().GetResult());
        StringAssert.Contains(ex.Message, "Nothing to sweep");
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => e.SetMetric(SweepMetric.TopKAccuracy));
        e.SetPipeline(new SweepablePipeline().AddEstimator("x", new SearchSpace(), (ml, _) => ml.Transforms.CopyColumns("a", "b")));
        ex = Assert.ThrowsExactly<InvalidOperationException>(() => e.RunAsync().GetAwaiter().GetResult());
        StringAssert.Contains(ex.Message, "SetDataset");
    }
}
