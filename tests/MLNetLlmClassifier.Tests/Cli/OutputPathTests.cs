using System.Diagnostics;

namespace MLNetLlmClassifier.Tests.Cli;

/// <summary>
/// <c>train --out</c> and <c>compare --out</c> are checked before any training, so that a bad path does not lose a
/// trained model (issue 11: "--out is checked after training").
/// </summary>
[TestClass]
public class OutputPathTests
{
    private static TempFolder _temp = null!;
    private static string _model = "";
    private static string _train = "";

    [ClassInitialize]
    public static void Init(TestContext _)
    {
        _temp = new TempFolder();
        _model = _temp.File("bert-tiny");
        var (code, output) = CliTests.Run("init-model", "--arch", "bert", "--preset", "tiny", "--vocab",
            TestPaths.Shared("models", "bert-uncased-vocab", "vocab.txt"), "--out", _model);
        Assert.AreEqual(0, code, output);
        _train = _temp.File("train.csv");
        File.WriteAllLines(_train, new[] { "text,category" }.Concat(Bert.BertTrainerTests.Synthetic(64, 1).Select(r => $"\"{r.Sentence1}\",{r.Label}")));
    }

    [ClassCleanup]
    public static void Cleanup() => _temp?.Dispose();

    /// <summary>Paths no model can be written to: an existing folder, a folder under a file, a folder that cannot be created.</summary>
    private static IEnumerable<string> BadOutputs()
    {
        var folder = _temp.File("existing-folder");
        Directory.CreateDirectory(folder);
        yield return folder;
        var file = _temp.File("a-file.txt");
        File.WriteAllText(file, "not a folder");
        yield return Path.Combine(file, "model.zip");
        // Not writable even for root (the tests may run as root, where file permissions do not stop a write).
        yield return "/proc/mlnetllm-no-such-folder/model.zip";
    }

    private static void AssertFailsAtOnce(string[] args, string output)
    {
        var watch = Stopwatch.StartNew();
        var (code, text) = CliTests.Run(args);
        watch.Stop();
        Console.WriteLine($"{output}: exit {code} in {watch.Elapsed.TotalMilliseconds:F0} ms: {text.Trim()}");
        Assert.AreEqual(1, code, text);
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.HasCount(1, lines, text);
        StringAssert.StartsWith(lines[0], "error: --out", text);
        Assert.IsLessThan(1.0, watch.Elapsed.TotalSeconds, $"took {watch.Elapsed.TotalSeconds:F1} s: {text}");
    }

    [TestMethod]
    public void TrainRefusesABadOutBeforeTraining()
    {
        foreach (var output in BadOutputs())
            AssertFailsAtOnce(["train", "--trainer", "bert", "--model", _model, "--train", _train, "--out", output,
                "--epochs", "1", "--batch-size", "16", "--max-length", "32", "--label-column", "category", "--text-column", "text"], output);
    }

    [TestMethod]
    public void TrainRefusesAnOutThatAnotherTrainIsWritingAndKeepsTheFile()
    {
        var output = _temp.File("locked", "model.zip");
        Directory.CreateDirectory(Path.GetDirectoryName(output)!);
        File.WriteAllText(output, "the earlier model");
        string[] args = ["train", "--trainer", "bert", "--model", _model, "--train", _train, "--out", output,
            "--epochs", "1", "--batch-size", "16", "--max-length", "32", "--label-column", "category", "--text-column", "text"];
        using (MLNetLlmClassifier.Cli.Commands.CliCommon.LockOutputFile(output, "--out"))
        {
            AssertFailsAtOnce(args, output);
            var (_, text) = CliTests.Run(args);
            StringAssert.Contains(text, "is being written by another process", text);
            Assert.AreEqual("the earlier model", File.ReadAllText(output));
        }
        // Released: the train runs, replaces the file and leaves neither its lock nor a temporary file.
        var (code, log) = CliTests.Run(args);
        Assert.AreEqual(0, code, log);
        Assert.AreNotEqual("the earlier model", File.ReadAllText(output));
        CollectionAssert.AreEquivalent(new[] { "model.zip" }, Directory.GetFileSystemEntries(Path.GetDirectoryName(output)!).Select(Path.GetFileName).ToArray());
    }

    [TestMethod]
    public void TrainOnAFileWithOneClassNamesTheFile()
    {
        var oneClass = _temp.File("one-class.csv");
        File.WriteAllLines(oneClass, new[] { "text,category" }.Concat(Enumerable.Range(0, 8).Select(i => $"\"row {i}\",Sports")));
        var (code, text) = CliTests.Run("train", "--trainer", "bert", "--model", _model, "--train", oneClass, "--out", _temp.File("one.zip"),
            "--label-column", "category", "--text-column", "text");
        Assert.AreEqual(1, code, text);
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.HasCount(1, lines, text);
        StringAssert.Contains(lines[0], oneClass, text);
        StringAssert.Contains(lines[0], "1 class(es) (Sports)", text);
    }

    [TestMethod]
    public void CompareRefusesABadReportFolderBeforeTraining()
    {
        var file = _temp.File("report-is-a-file");
        File.WriteAllText(file, "x");
        foreach (var output in new[] { file, Path.Combine(file, "report"), "/proc/mlnetllm-no-such-folder/report" })
            AssertFailsAtOnce(["compare", "--models", "sdca", "--out", output], output);
    }
}
