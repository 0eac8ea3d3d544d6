using System.Text.Json;
using MLNetLlmClassifier.Cli.Commands;
using MLNetLlmClassifier.Data;

namespace MLNetLlmClassifier.Tests.Cli;

/// <summary>The compare job on a tiny setting: every registered family, the report folder, the console table.</summary>
[TestClass]
public class CompareCommandTests
{
    [TestMethod]
    public void ComparesEveryRegisteredFamilyAndWritesTheReport()
    {
        var root = Path.Combine(Path.GetTempPath(), $"compare-{Guid.NewGuid():N}");
        try
        {
            var table = MLNetLlmClassifier.Cli.EmbeddedData.LoadAgNewsSample(renameLabels: true);
            var settings = new CompareCommand.CompareSettings
            {
                Output = Path.Combine(root, "report"),
                ModelsFolder = Path.Combine(root, "models"),
                Split = StratifiedSplit.Split(StratifiedSplit.Sample(table, 24, seed: 1), 0.5, 0.25, 0.25, seed: 1),
                DataSource = "embedded sample, 24 rows per class",
                EpochScale = 0.2,
                Device = "cpu",
                CommandLine = "test",
            };
            var report = CompareCommand.Run(settings);
            Assert.AreEqual(5, report.Models.Count, "SDCA, ML.NET TextClassification, BERT, prompted Qwen3, Qwen3 + linear head");
            CollectionAssert.Contains(report.Models.Select(m => m.Name).ToList(), "ML.NET TextClassification (NAS-BERT)");
            CollectionAssert.Contains(report.Models.Select(m => m.Name).ToList(), "Qwen3 + linear head");
            foreach (var f in new[] { "report.md", "report.json", "learning-curves.png", "quality-vs-throughput.png" })
                Assert.IsTrue(File.Exists(Path.Combine(settings.Output, f)), f);
            Assert.AreEqual(5, Directory.GetFiles(settings.Output, "confusion-*.png").Length);
            using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(settings.Output, "report.json")));
            Assert.AreEqual(5, json.RootElement.GetProperty("models").GetArrayLength());
            var table2 = report.ToConsoleTable();
            foreach (var s in new[] { "micro accuracy", "macro F1", "weighted F1", "log-loss", "training rows/s", "inference rows/s", "peak memory", "parameters", "device" })
                StringAssert.Contains(table2, s);
            StringAssert.Contains(string.Join("\n", report.AllWarnings), "RANDOM");
        }
        finally
        {
            if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
        }
    }

    [TestMethod]
    public void UnknownModelAndPresetAreClearErrors()
    {
        var (code, output) = CliTests.Run("compare", "--models", "sdca,gpt", "--out", Path.Combine(Path.GetTempPath(), $"c-{Guid.NewGuid():N}"));
        Assert.AreEqual(1, code);
        StringAssert.Contains(output, "gpt");
        (code, output) = CliTests.Run("compare", "--preset", "imagenet", "--out", Path.Combine(Path.GetTempPath(), $"c-{Guid.NewGuid():N}"));
        Assert.AreEqual(1, code);
        StringAssert.Contains(output, "imagenet");
    }
}
