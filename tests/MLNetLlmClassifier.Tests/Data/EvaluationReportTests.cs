using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetLlmClassifier.Data;
using MLNetLlmClassifier.Evaluation;

namespace MLNetLlmClassifier.Tests.Data;

[TestClass]
public class EvaluationReportTests
{
    private const double Tol = 1e-6;

    private sealed class Scored
    {
        public string Truth { get; set; } = "";
        public string Guess { get; set; } = "";
        [VectorType(3)] public float[] Score { get; set; } = [];
    }

    /// <summary>
    /// Eight rows, classes A, B, C (keys 1, 2, 3). The prediction is the highest score; C is never predicted.
    /// Confusion (rows = truth, columns = prediction): A [3 1 0], B [1 1 0], C [1 1 0].
    /// </summary>
    private static readonly (string Truth, string Guess, float[] Score)[] Rows =
    [
        ("A", "A", [0.7f, 0.2f, 0.1f]),
        ("A", "A", [0.6f, 0.3f, 0.1f]),
        ("A", "B", [0.3f, 0.5f, 0.2f]),
        ("B", "B", [0.1f, 0.8f, 0.1f]),
        ("B", "A", [0.5f, 0.4f, 0.1f]),
        ("C", "B", [0.2f, 0.5f, 0.3f]),
        ("A", "A", [0.8f, 0.1f, 0.1f]),
        ("C", "A", [0.4f, 0.35f, 0.25f]),
    ];

    private static MulticlassClassificationMetrics Evaluate(int topK = 0)
    {
        var ml = new MLContext(seed: 0);
        var data = ml.Data.LoadFromEnumerable(Rows.Select(r => new Scored { Truth = r.Truth, Guess = r.Guess, Score = r.Score }));
        // Key-typed Label and PredictedLabel whose KeyValues are A, B, C in that order (key 1 = A).
        var keys = ml.Data.LoadFromEnumerable(new[] { "A", "B", "C" }.Select(k => new { Key = k }));
        var toKeys = ml.Transforms.Conversion.MapValueToKey("Label", "Truth", keyData: keys)
            .Append(ml.Transforms.Conversion.MapValueToKey("PredictedLabel", "Guess", keyData: keys));
        var scored = toKeys.Fit(data).Transform(data);
        Assert.IsInstanceOfType<KeyDataViewType>(scored.Schema["Label"].Type);
        return ml.MulticlassClassification.Evaluate(scored, topKPredictionCount: topK);
    }

    private static EvaluationReport Report(int topK = 0) => EvaluationReport.From(Evaluate(topK), ["A", "B", "C"], rows: 8, seconds: 2);

    [TestMethod]
    public void PerClassFiguresComeFromTheConfusionMatrix()
    {
        var r = Report();
        CollectionAssert.AreEqual(new long[] { 3, 1, 0 }, r.ConfusionCounts[0].ToArray());
        CollectionAssert.AreEqual(new long[] { 1, 1, 0 }, r.ConfusionCounts[1].ToArray());
        CollectionAssert.AreEqual(new long[] { 1, 1, 0 }, r.ConfusionCounts[2].ToArray());

        var (a, b, c) = (r.PerClass[0], r.PerClass[1], r.PerClass[2]);
        Assert.AreEqual(("A", 4L, 5L), (a.Label, a.Support, a.Predicted));
        Assert.AreEqual(3.0 / 5, a.Precision, Tol);
        Assert.AreEqual(3.0 / 4, a.Recall, Tol);
        Assert.AreEqual(2.0 / 3, a.F1, Tol); // 2·0.6·0.75 / 1.35
        Assert.AreEqual(("B", 2L, 3L), (b.Label, b.Support, b.Predicted));
        Assert.AreEqual(1.0 / 3, b.Precision, Tol);
        Assert.AreEqual(1.0 / 2, b.Recall, Tol);
        Assert.AreEqual(0.4, b.F1, Tol); // 2·(1/3)·(1/2) / (5/6)
        Assert.AreEqual(("C", 2L, 0L), (c.Label, c.Support, c.Predicted));
        Assert.AreEqual(0, c.Precision, "never predicted → precision 0");
        Assert.AreEqual(0, c.Recall);
        Assert.AreEqual(0, c.F1);
        Assert.AreEqual(-(Math.Log(0.7f) + Math.Log(0.6f) + Math.Log(0.3f) + Math.Log(0.8f)) / 4, a.LogLoss, Tol);
    }

    [TestMethod]
    public void OverallFiguresMatchHandComputation()
    {
        var r = Report();
        Assert.AreEqual(4.0 / 8, r.MicroAccuracy, Tol);
        Assert.AreEqual((0.75 + 0.5 + 0) / 3, r.MacroAccuracy, Tol);
        Assert.AreEqual((0.6 + 1.0 / 3 + 0) / 3, r.MacroPrecision, Tol);
        Assert.AreEqual((0.75 + 0.5 + 0) / 3, r.MacroRecall, Tol);
        Assert.AreEqual((2.0 / 3 + 0.4 + 0) / 3, r.MacroF1, Tol);
        Assert.AreEqual((0.6 * 4 + 1.0 / 3 * 2 + 0 * 2) / 8, r.WeightedPrecision, Tol);
        Assert.AreEqual((0.75 * 4 + 0.5 * 2 + 0 * 2) / 8, r.WeightedRecall, Tol);
        Assert.AreEqual((2.0 / 3 * 4 + 0.4 * 2 + 0 * 2) / 8, r.WeightedF1, Tol);

        // Log-loss: mean −ln(score of the true class); ML.NET scores are float32.
        float[] pTrue = [0.7f, 0.6f, 0.3f, 0.8f, 0.4f, 0.3f, 0.8f, 0.25f];
        double logLoss = -pTrue.Average(p => Math.Log(p));
        Assert.AreEqual(logLoss, r.LogLoss, Tol);
        // Reduction against the test set's priors (4/8, 2/8, 2/8): its entropy is the prior log-loss.
        double prior = -(0.5 * Math.Log(0.5) + 2 * 0.25 * Math.Log(0.25));
        Assert.AreEqual((prior - logLoss) / prior, r.LogLossReduction, Tol);

        Assert.IsNull(r.TopKAccuracy);
        Assert.AreEqual(8, r.Rows);
        Assert.AreEqual(4.0, r.RowsPerSecond, Tol);
    }

    [TestMethod]
    public void TopKAccuracyIsReportedWhenComputed()
    {
        var r = Report(topK: 2);
        Assert.AreEqual(2, r.TopK);
        Assert.AreEqual(7.0 / 8, r.TopKAccuracy!.Value, Tol, "only the last row's true class (C, 0.25) is third");
    }

    [TestMethod]
    public void JsonHasCamelCaseNamesAndTheSameFigures()
    {
        var r = Report(topK: 2);
        using var doc = JsonDocument.Parse(r.ToJson());
        var root = doc.RootElement;
        Assert.AreEqual(r.MicroAccuracy, root.GetProperty("microAccuracy").GetDouble());
        Assert.AreEqual(r.MacroAccuracy, root.GetProperty("macroAccuracy").GetDouble());
        Assert.AreEqual(r.MacroF1, root.GetProperty("macroF1").GetDouble());
        Assert.AreEqual(r.WeightedF1, root.GetProperty("weightedF1").GetDouble());
        Assert.AreEqual(r.LogLoss, root.GetProperty("logLoss").GetDouble());
        Assert.AreEqual(r.TopKAccuracy, root.GetProperty("topKAccuracy").GetDouble());
        Assert.AreEqual(8, root.GetProperty("rows").GetInt64());
        Assert.AreEqual(4.0, root.GetProperty("rowsPerSecond").GetDouble());
        var perClass = root.GetProperty("perClass").EnumerateArray().ToArray();
        Assert.AreEqual(3, perClass.Length);
        Assert.AreEqual("B", perClass[1].GetProperty("label").GetString());
        Assert.AreEqual(1.0 / 3, perClass[1].GetProperty("precision").GetDouble(), Tol);
        Assert.AreEqual(0.5, perClass[1].GetProperty("recall").GetDouble(), Tol);
        Assert.AreEqual(0.4, perClass[1].GetProperty("f1").GetDouble(), Tol);
        Assert.AreEqual(2, perClass[1].GetProperty("support").GetInt64());
        Assert.AreEqual(3, root.GetProperty("confusionMatrix").GetProperty("counts")[0][0].GetInt64());
    }

    [TestMethod]
    public void TablesShowEveryClassAndMetric()
    {
        var r = Report();
        string md = r.ToMarkdownTable();
        StringAssert.Contains(md, "| micro accuracy     | 0.5000 |");
        StringAssert.Contains(md, "| macro F1           | 0.3556 |");
        StringAssert.Contains(md, "| class | precision | recall |     F1 | support |");
        StringAssert.Contains(md, "| A     |    0.6000 | 0.7500 | 0.6667 |       4 |");
        StringAssert.Contains(md, "| C     |    0.0000 | 0.0000 | 0.0000 |       2 |");
        string text = r.ToText();
        StringAssert.Contains(text, "B         0.3333  0.5000  0.4000        2");
        Assert.IsFalse(text.Contains('|'));
    }

    [TestMethod]
    public void WrongNumberOfClassNamesIsRejected()
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => EvaluationReport.From(Evaluate(), ["A", "B"], 8, 1));
        StringAssert.Contains(e.Message, "3 classes");
    }

    [TestMethod]
    public void SaveJsonWritesTheFile()
    {
        string dir = Directory.CreateTempSubdirectory("mlnetllm-data-").FullName;
        try
        {
            string path = Path.Combine(dir, "sub", "metrics.json");
            Report().SaveJson(path);
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            Assert.AreEqual(0.5, doc.RootElement.GetProperty("microAccuracy").GetDouble());
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
