using System.Text.RegularExpressions;
using Microsoft.ML;
using MLNetLlmClassifier.Reports;
using MLNetLlmClassifier.Sweeps;
using MLNetLlmClassifier.Tests.Checkpoints;
using MLNetLlmClassifier.Tests.Sweeps;

namespace MLNetLlmClassifier.Tests.Reports;

/// <summary>The sweep charts, drawn from hand-made trials (no training).</summary>
[TestClass]
public class SweepChartsTests
{
    private const string Blue = "#1f77b4", Orange = "#ff7f0e", Red = "#d62728";

    /// <summary>Learning rate (log), warmup (uniform), a prompt template (choice with long labels), batch size (log integer), epochs (integer).</summary>
    private static SearchSpace Space() => new SearchSpace()
        .AddLogUniform("LearningRate", 1e-6, 1e-2)
        .AddUniform("WarmupRatio", 0, 0.5)
        .Add(new ChoiceDimension("Prompt.Template", [
            new ChoiceOption("short", "Classify: {text}"),
            new ChoiceOption("instruction-with-examples", "You are a news classifier. Examples: ... {text}"),
            new ChoiceOption("json", "{\"task\":\"classify\",\"text\":\"{text}\"}"),
        ]))
        .AddInteger("BatchSize", 8, 256, logScale: true)
        .AddInteger("NumberOfEpochs", 1, 6);

    /// <summary>
    /// 30 trials of <see cref="Space"/>: every fifth fails (every other one of those after reporting a value), every third
    /// is pruned at a lower value, the rest complete with a metric that peaks at a learning rate of 2e-4.
    /// </summary>
    private static List<TrialRecord> Trials(string candidate = "bert", SearchSpace? space = null, int count = 30, int seed = 1)
    {
        space ??= Space();
        var rng = new Random(seed);
        var trials = new List<TrialRecord>();
        for (int id = 0; id < count; id++)
        {
            var values = space.ToDictionary(d => d.Name, d => d.FromUnit(rng.NextDouble()));
            var p = new TrialParameters(candidate, space, values);
            double lr = values.TryGetValue("LearningRate", out var v) ? Convert.ToDouble(v) : 1e-4;
            double metric = 0.3 + 0.6 * Math.Exp(-Math.Pow(Math.Log10(lr) + 3.7, 2) / 0.5) + 0.02 * rng.NextDouble();
            var status = id % 5 == 4 ? TrialStatus.Failed : id % 3 == 2 ? TrialStatus.Pruned : TrialStatus.Completed;
            trials.Add(new TrialRecord
            {
                TrialId = id,
                Parameters = p,
                Status = status,
                Metric = status switch
                {
                    TrialStatus.Completed => metric,
                    TrialStatus.Pruned => metric * 0.8,
                    _ => id % 10 == 9 ? 0.4 : null,
                },
                Error = status == TrialStatus.Failed ? "InvalidOperationException: the loss is NaN" : null,
            });
        }
        return trials;
    }

    private static string[] FilesIn(string folder) => Directory.GetFileSystemEntries(folder).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;

    [TestMethod]
    public void WritesTheMetricChartAndOneDecodablePngPerParameter()
    {
        using var dir = new TempFolder();
        string folder = dir.File("charts");
        var written = new SweepCharts().Render(new SweepChartData(Trials(), SweepMetric.MacroF1), folder);

        string[] expected = ["metric-by-trial.png", "param-batchsize.png", "param-learningrate.png", "param-numberofepochs.png",
            "param-prompt-template.png", "param-warmupratio.png"];
        CollectionAssert.AreEqual(expected, FilesIn(folder), "exactly these files, no temporary ones");
        CollectionAssert.AreEquivalent(expected.Select(f => Path.Combine(folder, f)).ToArray(), written.ToArray());
        foreach (var file in written)
        {
            var (w, h) = PngAssert.IsChart(file);
            Assert.IsTrue(w >= 800 && h >= 500, $"{file} is only {w}x{h}");
        }
    }

    [TestMethod]
    public void StatusesKeepTheirColoursInEveryChart()
    {
        using var dir = new TempFolder();
        new SweepCharts().Render(new SweepChartData(Trials(), SweepMetric.MacroF1), dir.File("mixed"));
        var completedOnly = Trials().Where(t => t.Status == TrialStatus.Completed).ToList();
        new SweepCharts().Render(new SweepChartData(completedOnly, SweepMetric.MacroF1), dir.File("completed"));

        foreach (var chart in new[] { "metric-by-trial.png", "param-learningrate.png", "param-prompt-template.png" })
        {
            string mixed = dir.File("mixed", chart), completed = dir.File("completed", chart);
            Assert.IsGreaterThan(300, PngAssert.PixelsNear(mixed, Blue), $"{chart}: completed trials are blue");
            Assert.IsGreaterThan(150, PngAssert.PixelsNear(mixed, Orange), $"{chart}: pruned trials are orange");
            Assert.IsGreaterThan(100, PngAssert.PixelsNear(mixed, Red), $"{chart}: failed trials are red");
            Assert.IsGreaterThan(300, PngAssert.PixelsNear(completed, Blue), $"{chart}: completed trials are blue");
            Assert.AreEqual(0, PngAssert.PixelsNear(completed, Orange), $"{chart}: no pruned trial, no orange");
            Assert.AreEqual(0, PngAssert.PixelsNear(completed, Red), $"{chart}: no failed trial, no red");
        }
    }

    [TestMethod]
    public void OddParameterNamesGiveSafeDistinctFileNames()
    {
        string[] names = ["Prompt.Instruction", "a/b\\c:d*?<>|\"", "L.R", "L R", "学习率", "..", new string('x', 300), " spaced  name ", "CON"];
        var space = new SearchSpace();
        foreach (var n in names) space.AddUniform(n, 0, 1);
        using var dir = new TempFolder();
        string folder = dir.File("charts");
        var written = new SweepCharts().Render(new SweepChartData(Trials(space: space, count: 8), SweepMetric.LogLoss), folder);

        var files = written.Select(Path.GetFileName).ToArray();
        Assert.HasCount(names.Length + 1, files);
        Assert.HasCount(files.Length, files.Distinct(StringComparer.OrdinalIgnoreCase), "distinct even on a case-insensitive file system");
        foreach (var f in files.Skip(1))
        {
            Assert.IsTrue(Regex.IsMatch(f!, "^param-[a-z0-9]+(-[a-z0-9]+)*\\.png$"), $"'{f}' is not a safe file name");
            Assert.IsLessThanOrEqualTo(100, f!.Length, $"'{f}' is too long");
        }
        CollectionAssert.Contains(files, "param-prompt-instruction.png");
        CollectionAssert.Contains(files, "param-l-r.png");
        CollectionAssert.Contains(files, "param-l-r-2.png", "names that make the same slug get distinct files");
        CollectionAssert.Contains(files, "param-parameter.png", "a name without ASCII letters or digits");
        CollectionAssert.AreEquivalent(files, FilesIn(folder), "every file is directly in the charts folder");
        foreach (var file in written) PngAssert.IsChart(file);
    }

    [TestMethod]
    public void SeveralCandidatesNameTheirParameterCharts()
    {
        var sdca = new SearchSpace().AddLogUniform("LearningRate", 1e-3, 1).AddLogUniform("L2Regularization", 1e-7, 1e-1);
        var trials = Trials("bert", count: 12).Concat(Trials("ml.net sdca", sdca, count: 12, seed: 2).Select(t => t with { TrialId = t.TrialId + 12 })).ToList();
        using var dir = new TempFolder();
        var written = new SweepCharts().Render(new SweepChartData(trials, SweepMetric.MicroAccuracy), dir.Path);

        var files = written.Select(Path.GetFileName).ToArray();
        CollectionAssert.IsSubsetOf(new[] { "metric-by-trial.png", "param-bert-learningrate.png", "param-ml-net-sdca-learningrate.png",
            "param-ml-net-sdca-l2regularization.png", "param-bert-prompt-template.png" }, files);
        Assert.HasCount(1 + 5 + 2, files);
        foreach (var file in written) PngAssert.IsChart(file);
        // Colour by candidate: the second candidate's trials are drawn in the palette's second colour (orange), even completed ones.
        Assert.IsGreaterThan(300, PngAssert.PixelsNear(written[0], Orange));
    }

    [TestMethod]
    public void ChartsWithoutAnyMetricStillDraw()
    {
        using var dir = new TempFolder();
        var failed = Trials(count: 6).Select(t => t with { Status = TrialStatus.Failed, Metric = null }).ToList();
        var written = new SweepCharts().Render(new SweepChartData(failed, SweepMetric.MacroF1), dir.File("failed"));
        Assert.HasCount(6, written);
        foreach (var file in written) PngAssert.IsChart(file);
        Assert.IsGreaterThan(100, PngAssert.PixelsNear(written[0], Red));

        var none = new SweepCharts().Render(new SweepChartData([], SweepMetric.MacroF1), dir.File("none"));
        Assert.HasCount(1, none);
        PngAssert.IsChart(none[0], minColouredSamples: 0); // no trial: axes and a note only
    }

    [TestMethod]
    public void SetSweepChartsDrawsTheChartsOfASweep()
    {
        using var dir = new TempFolder();
        var result = new MLContext(seed: 0).Sweeps().CreateExperiment()
            .AddTrialRunner("synthetic", SyntheticObjectives.FineTuningSpace(), t => new TrialOutcome(SyntheticObjectives.FineTuning(t.Parameters)))
            .SetMetric(SweepMetric.MacroF1)
            .SetSeed(1)
            .SetBudget(maxTrials: 6)
            .SetOutputFolder(dir.Path)
            .SetSweepCharts()
            .RunAsync().GetAwaiter().GetResult();

        Assert.HasCount(6, result.Trials);
        CollectionAssert.AreEqual(new[] { "metric-by-trial.png", "param-batchsize.png", "param-learningrate.png", "param-numberofepochs.png",
            "param-warmupratio.png", "param-weightdecay.png" }, FilesIn(Path.Combine(dir.Path, "charts")));
        PngAssert.IsChart(Path.Combine(dir.Path, "charts", "metric-by-trial.png"));
    }
}
