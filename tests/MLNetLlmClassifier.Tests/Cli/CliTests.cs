using System.Text.Json;
using MLNetLlmClassifier.Cli;

namespace MLNetLlmClassifier.Tests.Cli;

/// <summary>The mlnet-llm commands, run in-process on a tiny random BERT and small files.</summary>
[TestClass]
public class CliTests
{
    private static string _root = "";
    private static string _model = "";
    private static string _train = "";
    private static string _test = "";

    [ClassInitialize]
    public static void Init(TestContext _)
    {
        _root = Path.Combine(Path.GetTempPath(), $"cli-tests-{Guid.NewGuid():N}");
        Directory.CreateDirectory(_root);
        _model = Path.Combine(_root, "bert-tiny");
        var (code, output) = Run("init-model", "--arch", "bert", "--preset", "tiny", "--vocab",
            TestPaths.Shared("models", "bert-uncased-vocab", "vocab.txt"), "--out", _model);
        Assert.AreEqual(0, code, output);
        // A file with a header, text first, label named "category".
        _train = Path.Combine(_root, "train.csv");
        _test = Path.Combine(_root, "test.csv");
        WriteCsv(_train, Bert.BertTrainerTests.Synthetic(160, 1));
        WriteCsv(_test, Bert.BertTrainerTests.Synthetic(40, 2));
    }

    [ClassCleanup]
    public static void Cleanup()
    {
        if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true);
    }

    private static void WriteCsv(string path, IEnumerable<Bert.BertTrainerTests.Row> rows) =>
        File.WriteAllLines(path, new[] { "text,category" }.Concat(rows.Select(r => $"\"{r.Sentence1}\",{r.Label}")));

    internal static (int Code, string Output) Run(params string[] args)
    {
        var stdout = Console.Out;
        var stderr = Console.Error;
        var writer = new StringWriter();
        Console.SetOut(writer);
        Console.SetError(writer);
        try
        {
            int code = MLNetLlmClassifier.Cli.Program.Build().Parse(args).Invoke();
            return (code, writer.ToString());
        }
        finally
        {
            Console.SetOut(stdout);
            Console.SetError(stderr);
        }
    }

    private static readonly string[] Columns = ["--label-column", "category", "--text-column", "text"];

    [TestMethod]
    public void TrainEvaluatePredictOnAFileWithAHeader()
    {
        var zip = Path.Combine(_root, "model.zip");
        var (code, output) = Run([.. new[] { "train", "--trainer", "bert", "--model", _model, "--train", _train, "--valid", _test, "--out", zip,
            "--epochs", "6", "--lr", "2e-3", "--batch-size", "16", "--max-length", "64", "--eval-interval", "0.5" }, .. Columns]);
        Assert.AreEqual(0, code, output);
        StringAssert.Contains(output, "Best validation");
        Assert.IsTrue(File.Exists(zip));
        Assert.AreEqual(0, Directory.GetFiles(_root, "*.tmp-*").Length, "no temporary file is left");

        (code, output) = Run([.. new[] { "evaluate", "--model", zip, "--test", _test, "--json" }, .. Columns]);
        Assert.AreEqual(0, code, output);
        using var json = JsonDocument.Parse(output);
        var root = json.RootElement;
        foreach (var field in new[] { "microAccuracy", "macroAccuracy", "macroF1", "weightedF1", "logLoss", "rows", "rowsPerSecond", "perClass" })
            Assert.IsTrue(root.TryGetProperty(field, out _), $"evaluate --json lacks {field}");
        Assert.AreEqual(40, root.GetProperty("rows").GetInt32());
        Assert.IsTrue(root.GetProperty("microAccuracy").GetDouble() > 0.85, output);
        var perClass = root.GetProperty("perClass").EnumerateArray().ToList();
        Assert.AreEqual(4, perClass.Count);
        Assert.IsTrue(perClass.All(c => c.TryGetProperty("precision", out _) && c.TryGetProperty("recall", out _) && c.TryGetProperty("f1", out _)));

        (code, output) = Run("predict", "--model", zip, "--text", "the football team scored a late goal in the league match");
        Assert.AreEqual(0, code, output);
        StringAssert.Contains(output, "PredictedLabel: Sports");
    }

    [TestMethod]
    public void LogFileGetsThePlanAndTheProgressLines()
    {
        var zip = Path.Combine(_root, "logged.zip");
        var log = Path.Combine(_root, "train.log");
        var (code, output) = Run([.. new[] { "train", "--trainer", "bert", "--model", _model, "--train", _test, "--out", zip,
            "--epochs", "1", "--batch-size", "16", "--max-length", "32", "--log-file", log }, .. Columns]);
        Assert.AreEqual(0, code, output);
        var text = File.ReadAllText(log);
        StringAssert.Contains(text, "mlnet-llm train");
        StringAssert.Contains(text, "plan: batch 16 x accumulation 1 = effective batch 16");
        StringAssert.Contains(text, "training finished after 3 steps");
        StringAssert.Contains(text, "saved " + zip);
        // Progress lines are timestamped and fit an 80-column terminal's bar layout.
        Assert.IsTrue(text.Split('\n').Any(l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^\[\d\d:\d\d:\d\d\] ")));
        foreach (int width in new[] { 80, 100, 140 })
            Assert.IsTrue(MLNetLlmClassifier.Cli.Commands.CompareProgress.BarWidth(width) + MLNetLlmClassifier.Cli.Commands.CompareProgress.DescriptionWidth(width) + 40 <= width);
    }

    [TestMethod]
    public void TrainAndPredictWithThePromptedQwen3Decoder()
    {
        var qwen = Path.Combine(_root, "qwen3-tiny");
        // The CLI's own embedded tokenizer file, as a user without a Qwen3 download has it (issue 12 item 6).
        var embedded = Path.Combine(TestPaths.RepoRoot, "src", "MLNetLlmClassifier.Cli", "Data", "qwen3-tokenizer.json.gz");
        var (code, output) = Run("init-model", "--arch", "qwen3", "--preset", "tiny", "--tokenizer", embedded, "--out", qwen);
        Assert.AreEqual(0, code, output);
        var zip = Path.Combine(_root, "qwen3.zip");
        (code, output) = Run([.. new[] { "train", "--trainer", "qwen3", "--model", qwen, "--train", _test, "--out", zip,
            "--epochs", "1", "--lr", "5e-3", "--batch-size", "16", "--max-length", "160", "--grad-accum", "1",
            "--instruction", "Read the text below and pick its topic.", "--question", "Which topic is it?" }, .. Columns]);
        Assert.AreEqual(0, code, output);
        StringAssert.Contains(output, "effective batch 16");
        StringAssert.Contains(output, "random weights (init-model)");
        (code, output) = Run("predict", "--model", zip, "--text", "the football team scored a late goal");
        Assert.AreEqual(0, code, output);
        StringAssert.Contains(output, "PredictedLabel: ");
        Assert.AreEqual(5, output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length, "the label and one line per class");
    }

    [TestMethod]
    public void DivergingTrainingLeavesThePreviousModelUntouched()
    {
        var zip = Path.Combine(_root, "keep.zip");
        File.WriteAllText(zip, "previous good model");
        var (code, output) = Run([.. new[] { "train", "--model", _model, "--train", _train, "--out", zip,
            "--lr", "1e30", "--max-grad-norm", "0", "--epochs", "1", "--batch-size", "16" }, .. Columns]);
        Assert.AreEqual(1, code, output);
        StringAssert.Contains(output, "training loss became");
        Assert.AreEqual("previous good model", File.ReadAllText(zip));
        Assert.AreEqual(0, Directory.GetFiles(_root, "keep.zip.tmp-*").Length);
    }

    [TestMethod]
    public void BadColumnAndUnknownTrainerAreClearErrors()
    {
        var (code, output) = Run("train", "--model", _model, "--train", _train, "--out", Path.Combine(_root, "x.zip"),
            "--label-column", "nope", "--text-column", "text");
        Assert.AreEqual(1, code);
        StringAssert.Contains(output, "nope");
        (code, output) = Run([.. new[] { "train", "--trainer", "svm", "--model", _model, "--train", _train, "--out", Path.Combine(_root, "x.zip") }, .. Columns]);
        Assert.AreEqual(1, code);
        StringAssert.Contains(output, "svm");
        Assert.IsFalse(File.Exists(Path.Combine(_root, "x.zip")));
    }

    [TestMethod]
    public void BenchReportsThroughputAndFractionsOfTheDeviceRate()
    {
        var (code, output) = Run("bench", "--trainer", "bert", "--model", _model, "--batch-size", "8", "--train-rows", "16", "--rows", "16",
            "--max-length", "64", "--device", "cpu", "--json");
        Assert.AreEqual(0, code, output);
        using var json = JsonDocument.Parse(output);
        var r = json.RootElement;
        foreach (var f in new[] { "trainRowsPerSecond", "inferenceRowsPerSecond", "peakWorkingSetMiB", "deviceMatmulFlopsFp32", "deviceMatmulFlopsBf16",
                     "trainFractionOfPeak", "inferenceFractionOfPeak", "meanTokens", "matmulParameters" })
            Assert.IsTrue(r.GetProperty(f).GetDouble() > 0, $"{f} = {r.GetProperty(f)}");
        Assert.IsTrue(r.GetProperty("inferenceFractionOfPeak").GetDouble() < 1, "a model cannot beat the device's matmul rate");
    }

    [TestMethod]
    public void InitModelRefusesANonEmptyFolder()
    {
        var (code, output) = Run("init-model", "--arch", "bert", "--preset", "tiny", "--vocab",
            TestPaths.Shared("models", "bert-uncased-vocab", "vocab.txt"), "--out", _model);
        Assert.AreEqual(1, code);
        StringAssert.Contains(output, "not empty");
    }

    [TestMethod]
    public void TokenizeWorksForABertFolder()
    {
        var input = Path.Combine(_root, "in.jsonl");
        var output = Path.Combine(_root, "out.jsonl");
        File.WriteAllText(input, "{\"text\": \"Hello, world!\"}\n");
        var (code, log) = Run("tokenize", "--tokenizer", _model, "--input", input, "--output", output);
        Assert.AreEqual(0, code, log);
        using var line = JsonDocument.Parse(File.ReadAllLines(output)[0]);
        CollectionAssert.AreEqual(new[] { 7592, 1010, 2088, 999 }, line.RootElement.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray());
    }
}
