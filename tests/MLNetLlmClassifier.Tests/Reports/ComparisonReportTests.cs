using System.Text.Json;
using MLNetLlmClassifier.Families;
using MLNetLlmClassifier.Reports;
using MLNetLlmClassifier.Training;

namespace MLNetLlmClassifier.Tests.Reports;

[TestClass]
public class ComparisonReportTests
{
    private string _root = "";

    [TestInitialize]
    public void CreateRoot()
    {
        _root = Path.Combine(Path.GetTempPath(), "mlnet-llm-report-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_root);
    }

    [TestCleanup]
    public void DeleteRoot()
    {
        if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true);
    }

    private string[] Siblings(string folder) =>
        Directory.GetFileSystemEntries(Path.GetDirectoryName(folder)!).Select(Path.GetFileName).Where(n => n != Path.GetFileName(folder)).ToArray()!;

    [TestMethod]
    public void WriteFolderWritesTheReportTheJsonAndEveryChart()
    {
        var report = ReportFixtures.Report();
        string folder = Path.Combine(_root, "out");
        report.WriteFolder(folder);

        var expected = new[] { "report.md", "report.json", "learning-curves.png", "quality-vs-throughput.png",
            "confusion-ml-net-sdca.png", "confusion-bert.png", "confusion-qwen3-prompted.png" };
        CollectionAssert.AreEquivalent(expected, Directory.GetFiles(folder).Select(Path.GetFileName).ToArray());
        foreach (var png in expected.Where(f => f.EndsWith(".png", StringComparison.Ordinal)))
        {
            var (w, h) = PngAssert.IsChart(Path.Combine(folder, png));
            Assert.IsTrue(w >= 400 && h >= 300, $"{png} is only {w}x{h}");
        }
        // Every model is drawn in its own colour (ScottPlot's Category10, in model order) in the learning curves and the quality chart.
        string[] modelColours = ["#1f77b4", "#ff7f0e", "#2ca02c"];
        foreach (var chart in new[] { "learning-curves.png", "quality-vs-throughput.png" })
            for (int i = 0; i < report.Models.Count; i++)
                Assert.IsGreaterThan(100, PngAssert.PixelsNear(Path.Combine(folder, chart), modelColours[i], 20), $"{chart}: {report.Models[i].Name} is not drawn");
        Assert.IsEmpty(Siblings(folder), "no temporary folder is left beside the report");
    }

    [TestMethod]
    public void ReportJsonHoldsEveryFigure()
    {
        var models = ReportFixtures.ThreeModels();
        string folder = Path.Combine(_root, "out");
        ReportFixtures.Report(models).WriteFolder(folder);

        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "report.json")));
        var root = doc.RootElement;
        Assert.AreEqual(ComparisonReport.Format, root.GetProperty("format").GetString());
        Assert.AreEqual(6000, root.GetProperty("split").GetProperty("train").GetInt64());
        Assert.AreEqual(JsonValueKind.Null, root.GetProperty("split").GetProperty("test").ValueKind);
        Assert.AreEqual(42, root.GetProperty("seed").GetInt32());
        StringAssert.Contains(root.GetProperty("warnings")[0].GetString(), "tiny random checkpoints");
        Assert.AreEqual("BERT", root.GetProperty("bestModel").GetString());

        var json = root.GetProperty("models");
        Assert.AreEqual(3, json.GetArrayLength());
        for (int i = 0; i < 3; i++)
        {
            var m = json[i];
            var test = m.GetProperty("test");
            Assert.AreEqual(models[i].Name, m.GetProperty("name").GetString());
            Assert.AreEqual(models[i].Test.MacroF1, test.GetProperty("macroF1").GetDouble(), 1e-12);
            Assert.AreEqual(models[i].Test.WeightedRecall, test.GetProperty("weightedRecall").GetDouble(), 1e-12);
            Assert.AreEqual(models[i].Test.LogLoss, test.GetProperty("logLoss").GetDouble(), 1e-12);
            Assert.AreEqual(models[i].Test.ConfusionCounts[2][2], test.GetProperty("confusionMatrix").GetProperty("counts")[2][2].GetInt64());
            Assert.AreEqual(models[i].InferenceRowsPerSecond!.Value, m.GetProperty("inferenceRowsPerSecond").GetDouble(), 1e-9);
            Assert.AreEqual(models[i].ParameterCount!.Value, m.GetProperty("parameterCount").GetInt64());
            Assert.AreEqual(models[i].PeakMemoryMiB!.Value, m.GetProperty("peakMemoryMiB").GetDouble());
            Assert.AreEqual(models[i].TrainingSeconds!.Value, m.GetProperty("trainingSeconds").GetDouble(), 1e-9);
            Assert.AreEqual(models[i].Evaluations.Count, m.GetProperty("evaluations").GetArrayLength());
        }
        Assert.AreEqual("classicMlNet", json[0].GetProperty("kind").GetString());
        Assert.AreEqual(JsonValueKind.Null, json[0].GetProperty("training").ValueKind);
        Assert.AreEqual(JsonValueKind.Null, json[0].GetProperty("notes").ValueKind);
        var bert = json[1];
        Assert.AreEqual("confusion-bert.png", bert.GetProperty("confusionChart").GetString());
        Assert.AreEqual(200, bert.GetProperty("training").GetProperty("steps").GetInt64());
        Assert.AreEqual(200, bert.GetProperty("training").GetProperty("stepLosses").GetArrayLength());
        Assert.AreEqual(models[1].Training!.Best!.MacroF1, bert.GetProperty("training").GetProperty("best").GetProperty("macroF1").GetDouble(), 1e-12);
        Assert.AreEqual(0.25, bert.GetProperty("evaluations")[0].GetProperty("epoch").GetDouble());
        // The training summary's rows/s stands in for the training rows/s not given explicitly.
        Assert.AreEqual(models[1].Training!.RowsPerSecond, bert.GetProperty("trainRowsPerSecond").GetDouble(), 1e-9);
    }

    [TestMethod]
    public void MarkdownHasTheHeaderTheTableTheChartsAndPerClassFigures()
    {
        var report = ReportFixtures.Report();
        string folder = Path.Combine(_root, "out");
        report.WriteFolder(folder);
        string md = File.ReadAllText(Path.Combine(folder, "report.md"));
        Assert.AreEqual(report.ToMarkdown(), md);

        StringAssert.StartsWith(md, "# Model comparison\n");
        StringAssert.Contains(md, "- seed: 42");
        StringAssert.Contains(md, "- split: train 6,000, validation 800, test n/a rows");
        StringAssert.Contains(md, "> **Warning:** tiny random checkpoints");
        var lines = md.Split('\n');
        string header = lines.Single(l => l.StartsWith("|  ", StringComparison.Ordinal) && l.Contains("ML.NET SDCA", StringComparison.Ordinal));
        StringAssert.Contains(header, " BERT |");
        StringAssert.Contains(header, "| Qwen3 prompted |");
        string f1Row = lines.Single(l => l.StartsWith("|   macro F1 ", StringComparison.Ordinal));
        var bert = report.Models[1].Test;
        StringAssert.Contains(f1Row, $"**{bert.MacroF1:F4}**", "the best macro-F1 is bold");
        Assert.IsTrue(lines.Any(l => l.StartsWith("|   inference rows/s", StringComparison.Ordinal)));
        Assert.IsTrue(lines.Any(l => l.StartsWith("|   parameters ", StringComparison.Ordinal) && l.Contains("109.5M", StringComparison.Ordinal)));
        foreach (var file in new[] { "learning-curves.png", "quality-vs-throughput.png", "confusion-bert.png", "confusion-qwen3-prompted.png" })
            StringAssert.Contains(md, $"]({file})");
        StringAssert.Contains(md, "| Sci/Tech ");
        StringAssert.Contains(md, "- notes: tiny random checkpoint");
        StringAssert.Contains(md, "- training: 200 steps, 2.00 epochs");
    }

    [TestMethod]
    public void ConsoleTableIsAlignedAndListsQualityCostNotesAndWarnings()
    {
        var report = ReportFixtures.Report();
        string table = report.ToConsoleTable();
        var lines = table.Split('\n');
        int sdca = lines[0].IndexOf("ML.NET SDCA", StringComparison.Ordinal);
        Assert.IsGreaterThan(0, sdca);
        foreach (var label in new[] { "micro accuracy", "macro precision", "macro recall", "macro F1", "weighted precision",
                     "weighted recall", "weighted F1", "log-loss", "training time", "training rows/s", "inference rows/s",
                     "peak memory", "parameters", "device" })
        {
            string row = lines.Single(l => l.TrimStart().StartsWith(label + " ", StringComparison.Ordinal) && l.StartsWith("  ", StringComparison.Ordinal));
            Assert.AreEqual(lines[0].Length, row.TrimEnd().Length, $"row '{label}' is as wide as the header (columns aligned)");
        }
        StringAssert.Contains(table, "quality (test set, ");
        StringAssert.Contains(lines.Single(l => l.StartsWith("  training time", StringComparison.Ordinal)), "3.20 s");
        StringAssert.Contains(lines.Single(l => l.StartsWith("  training time", StringComparison.Ordinal)), "50.0 min");
        StringAssert.Contains(lines.Single(l => l.StartsWith("  peak memory", StringComparison.Ordinal)), "5,120 MiB");
        StringAssert.Contains(lines.Single(l => l.StartsWith("  device", StringComparison.Ordinal)), "cuda:0");
        StringAssert.Contains(table, "best macro-F1: BERT");
        StringAssert.Contains(table, "note: BERT: tiny random checkpoint");
        StringAssert.Contains(table, "warning: tiny random checkpoints");
    }

    [TestMethod]
    public void ThirtyClassConfusionMatrixIsLargerAndDecodes()
    {
        var classes = Enumerable.Range(0, 30).Select(i => $"topic {i:00}").ToArray();
        var model = new ModelRunResult
        {
            Name = "Many classes",
            Kind = ModelKind.EncoderClassifier,
            Test = ReportFixtures.Evaluation(classes, ReportFixtures.Counts(30, 60, 0.75, seed: 4), seconds: 1),
        };
        var four = new ModelRunResult { Name = "Four", Kind = ModelKind.Other, Test = ReportFixtures.ThreeModels()[1].Test };
        string many = Path.Combine(_root, "many"), small = Path.Combine(_root, "small");
        new ComparisonReport([model]).WriteFolder(many);
        new ComparisonReport([four]).WriteFolder(small);

        var (w30, h30) = PngAssert.IsChart(Path.Combine(many, "confusion-many-classes.png"));
        var (w4, h4) = PngAssert.IsChart(Path.Combine(small, "confusion-four.png"));
        Assert.IsTrue(w30 > w4 && h30 > h4, $"30 classes ({w30}x{h30}) get a bigger chart than 4 ({w4}x{h4})");
        PngAssert.IsChart(Path.Combine(many, "learning-curves.png"));
        PngAssert.IsChart(Path.Combine(many, "quality-vs-throughput.png"));
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(many, "report.json")));
        Assert.AreEqual(30, doc.RootElement.GetProperty("models")[0].GetProperty("test").GetProperty("perClass").GetArrayLength());
    }

    [TestMethod]
    public void ManyModelsWithLongNamesAndTwoClassesStillDraw()
    {
        // Six models with long names turn the bar labels; two classes (ML.NET's minimum) make the smallest matrix.
        var test = ReportFixtures.Evaluation(["yes", "no"], [[25, 0], [3, 2]], seconds: 0.5);
        var untimed = ReportFixtures.Evaluation(["yes", "no"], [[25, 0], [3, 2]], seconds: 0);
        var models = Enumerable.Range(0, 6).Select(i => new ModelRunResult
        {
            Name = $"Model number {i} with a long descriptive name",
            Kind = ModelKind.Other,
            // Model 3's scoring was not timed: its throughput is unknown (an "n/a" row, null in JSON).
            Test = i == 3 ? untimed : test,
            InferenceRowsPerSecond = i == 3 ? null : Math.Pow(10, i * 0.8),
            // One model's only evaluation has no epoch and non-finite metrics: no curve point, null in JSON.
            Evaluations = i == 0 ? [new EvaluationRecord(10, double.NaN, double.NaN, double.NaN, double.NaN, 5)] : [],
        });
        string folder = Path.Combine(_root, "out");
        var report = new ComparisonReport(models);
        report.WriteFolder(folder);
        foreach (var png in Directory.GetFiles(folder, "*.png"))
            PngAssert.IsChart(png);
        Assert.HasCount(6, Directory.GetFiles(folder, "confusion-*.png"));
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "report.json")));
        var evaluation = doc.RootElement.GetProperty("models")[0].GetProperty("evaluations")[0];
        Assert.AreEqual(10, evaluation.GetProperty("step").GetInt64());
        Assert.AreEqual(JsonValueKind.Null, evaluation.GetProperty("macroF1").ValueKind);
        Assert.AreEqual(JsonValueKind.Null, doc.RootElement.GetProperty("models")[3].GetProperty("inferenceRowsPerSecond").ValueKind);
    }

    [TestMethod]
    public void WritingAgainReplacesTheWholeFolder()
    {
        string folder = Path.Combine(_root, "out");
        ReportFixtures.Report().WriteFolder(folder);
        var first = ReportFixtures.ThreeModels();
        var second = new[] { first[0] with { Name = "Baseline" }, first[1] };
        ReportFixtures.Report(second).WriteFolder(folder);

        Assert.IsFalse(File.Exists(Path.Combine(folder, "confusion-ml-net-sdca.png")), "files of the earlier report are gone");
        Assert.IsFalse(File.Exists(Path.Combine(folder, "confusion-qwen3-prompted.png")));
        Assert.IsTrue(File.Exists(Path.Combine(folder, "confusion-baseline.png")));
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "report.json")));
        Assert.AreEqual(2, doc.RootElement.GetProperty("models").GetArrayLength());
        Assert.IsEmpty(Siblings(folder), "no temporary or old folder is left beside the report");
    }

    [TestMethod]
    public void FailedWriteLeavesTheEarlierReportIntact()
    {
        string folder = Path.Combine(_root, "out");
        ReportFixtures.Report().WriteFolder(folder);
        var before = Directory.GetFiles(folder).ToDictionary(f => Path.GetFileName(f), File.ReadAllBytes);

        var models = ReportFixtures.ThreeModels();
        var failing = ReportFixtures.Report([models[1] with { Name = "Other" }]);
        int written = 0;
        failing.AfterFileWritten = path =>
        {
            if (++written == 3) throw new IOException($"disk full while writing {path}");
        };
        var e = Assert.ThrowsExactly<IOException>(() => failing.WriteFolder(folder));
        StringAssert.Contains(e.Message, "disk full");

        var after = Directory.GetFiles(folder).ToDictionary(f => Path.GetFileName(f), File.ReadAllBytes);
        CollectionAssert.AreEquivalent(before.Keys.ToArray(), after.Keys.ToArray());
        foreach (var (name, bytes) in before)
            CollectionAssert.AreEqual(bytes, after[name], $"{name} is unchanged");
        Assert.IsEmpty(Siblings(folder), "the temporary folder is removed");
    }

    [TestMethod]
    public void RefusesToReplaceAFolderThatIsNotAReport()
    {
        string folder = Path.Combine(_root, "mine");
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "notes.txt"), "keep me");
        var e = Assert.ThrowsExactly<IOException>(() => ReportFixtures.Report().WriteFolder(folder));
        StringAssert.Contains(e.Message, folder);
        Assert.AreEqual("keep me", File.ReadAllText(Path.Combine(folder, "notes.txt")));
        Assert.HasCount(1, Directory.GetFileSystemEntries(folder));

        string file = Path.Combine(_root, "a-file");
        File.WriteAllText(file, "x");
        StringAssert.Contains(Assert.ThrowsExactly<IOException>(() => ReportFixtures.Report().WriteFolder(file)).Message, "is a file");

        string empty = Path.Combine(_root, "empty");
        Directory.CreateDirectory(empty);
        ReportFixtures.Report().WriteFolder(empty);
        Assert.IsTrue(File.Exists(Path.Combine(empty, "report.json")), "an empty folder is fine");
        Assert.HasCount(3, Directory.GetFileSystemEntries(_root), "mine, a-file, empty and nothing else");
    }

    [TestMethod]
    public void BadResultsAreRejectedWithTheModelNamed()
    {
        var models = ReportFixtures.ThreeModels();
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => new ComparisonReport([])).Message, "at least one");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => new ComparisonReport([models[0], models[1] with { Name = "ML.NET SDCA" }])).Message,
            "'ML.NET SDCA'");
        var e = Assert.ThrowsExactly<ArgumentException>(() => new ComparisonReport([models[1] with { PeakMemoryMiB = -1 }]));
        StringAssert.Contains(e.Message, "'BERT'");
        StringAssert.Contains(e.Message, "PeakMemoryMiB");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => new ComparisonReport([models[0] with { Name = " " }])).Message, "empty Name");
    }

    [TestMethod]
    public void SlugsAreFileSafeAndUnique()
    {
        CollectionAssert.AreEqual(new[] { "ml-net-sdca", "qwen3-prompted", "bert", "bert-2", "model", "caf" },
            ComparisonReport.UniqueSlugs(["ML.NET SDCA", "  Qwen3  prompted! ", "BERT", "bert", "???", "Café"]));
    }

    [TestMethod]
    public void MismatchedTestSetsAreWarnedAbout()
    {
        var models = ReportFixtures.ThreeModels();
        var classes = new[] { "a", "b", "c", "d" };
        var other = models[2] with { Test = ReportFixtures.Evaluation(classes, ReportFixtures.Counts(4, 10, 0.5, seed: 5), 1) };
        var warnings = new ComparisonReport([models[0], other]).AllWarnings;
        Assert.HasCount(2, warnings);
        StringAssert.Contains(warnings[0], "different numbers of rows");
        StringAssert.Contains(warnings[1], "different class lists");
        Assert.IsEmpty(new ComparisonReport(models.Take(1)).AllWarnings);
        var wrongSplit = new ComparisonReport(models.Take(1)) { TestRows = 5 };
        StringAssert.Contains(wrongSplit.AllWarnings.Single(), "the test split has 5 rows");
    }
}
