using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.ML.Data;
using MLNetLlmClassifier.Checkpoints;
using MLNetLlmClassifier.IO;

namespace MLNetLlmClassifier.Evaluation;

/// <summary>Precision, recall and F1 of one class, from the confusion matrix.</summary>
/// <param name="Label">Class name.</param>
/// <param name="Precision">Correct predictions of the class / all predictions of the class; 0 when the class was never predicted.</param>
/// <param name="Recall">Correct predictions of the class / rows of the class; 0 when the class has no rows.</param>
/// <param name="F1">Harmonic mean of precision and recall; 0 when both are 0.</param>
/// <param name="Support">Rows whose true label is the class.</param>
/// <param name="Predicted">Rows predicted as the class.</param>
/// <param name="LogLoss">Mean log-loss over the class's rows (ML.NET's PerClassLogLoss; 0 when it has none).</param>
public sealed record ClassReport(string Label, double Precision, double Recall, double F1, long Support, long Predicted, double LogLoss);

/// <summary>
/// A multiclass evaluation in one object: ML.NET's overall metrics plus per-class precision/recall/F1 and their
/// macro and support-weighted averages, all computed from <see cref="MulticlassClassificationMetrics.ConfusionMatrix"/>
/// counts (rows = true class, columns = predicted class). Renders as JSON, a Markdown table or console text.
/// </summary>
/// <remarks>
/// <para>Conventions (as scikit-learn's <c>zero_division=0</c>): a class that is never predicted has precision 0;
/// a class with no rows has recall 0; F1 is 0 when precision + recall is 0.</para>
/// <para>Macro averages are plain means over the classes that have rows or predictions (a class with neither
/// is left out, as scikit-learn leaves out labels absent from both y_true and y_pred). Weighted averages weight each
/// class by its support. Note ML.NET's <see cref="MacroAccuracy"/> is the mean recall over classes with rows.</para>
/// <para>Values that are not finite are written as <c>null</c> in JSON and "n/a" in tables.</para>
/// </remarks>
public sealed class EvaluationReport
{
    private EvaluationReport() { }

    /// <summary>Fraction of rows predicted correctly (ML.NET micro-accuracy).</summary>
    public double MicroAccuracy { get; private init; }
    /// <summary>Mean per-class recall over classes with rows (ML.NET macro-accuracy).</summary>
    public double MacroAccuracy { get; private init; }
    /// <summary>Mean natural-log loss of the true class's score (ML.NET clamps scores to [1e-15, 1]).</summary>
    public double LogLoss { get; private init; }
    /// <summary>ML.NET's log-loss reduction relative to predicting the test set's class priors (1 = perfect, 0 = no better than priors).</summary>
    public double LogLossReduction { get; private init; }
    /// <summary>Mean precision over the classes with rows or predictions.</summary>
    public double MacroPrecision { get; private init; }
    /// <summary>Mean recall over the classes with rows or predictions.</summary>
    public double MacroRecall { get; private init; }
    /// <summary>Mean F1 over the classes with rows or predictions.</summary>
    public double MacroF1 { get; private init; }
    /// <summary>Support-weighted mean precision.</summary>
    public double WeightedPrecision { get; private init; }
    /// <summary>Support-weighted mean recall (equals <see cref="MicroAccuracy"/> when every row has a known class).</summary>
    public double WeightedRecall { get; private init; }
    /// <summary>Support-weighted mean F1.</summary>
    public double WeightedF1 { get; private init; }
    /// <summary>The K of <see cref="TopKAccuracy"/>, or 0 when the evaluation did not compute it.</summary>
    public int TopK { get; private init; }
    /// <summary>Fraction of rows whose true class is among the K highest scores; null when not computed.</summary>
    public double? TopKAccuracy { get; private init; }
    /// <summary>Rows evaluated, as given by the caller.</summary>
    public long Rows { get; private init; }
    /// <summary>Seconds the scoring took, as given by the caller.</summary>
    public double Seconds { get; private init; }
    /// <summary><see cref="Rows"/> / <see cref="Seconds"/>; 0 when no time was given.</summary>
    public double RowsPerSecond { get; private init; }
    /// <summary>Per-class figures in class-index order.</summary>
    public IReadOnlyList<ClassReport> PerClass { get; private init; } = [];
    /// <summary>Confusion counts: <c>ConfusionCounts[actual][predicted]</c>, classes in <see cref="PerClass"/> order.</summary>
    public IReadOnlyList<IReadOnlyList<long>> ConfusionCounts { get; private init; } = [];

    /// <summary>Builds the report from ML.NET metrics.</summary>
    /// <param name="m">Metrics from <c>mlContext.MulticlassClassification.Evaluate</c>.</param>
    /// <param name="classNames">Names of the classes in key order (key 1 first), one per confusion-matrix class.</param>
    /// <param name="rows">Rows evaluated.</param>
    /// <param name="seconds">Wall-clock seconds spent scoring them (for rows/second; 0 if unknown).</param>
    /// <exception cref="ArgumentException">The number of class names differs from the number of classes in the metrics.</exception>
    public static EvaluationReport From(MulticlassClassificationMetrics m, IReadOnlyList<string> classNames, long rows, double seconds)
    {
        ArgumentNullException.ThrowIfNull(m);
        ArgumentNullException.ThrowIfNull(classNames);
        var cm = m.ConfusionMatrix;
        int k = cm.NumberOfClasses;
        if (classNames.Count != k)
            throw new ArgumentException($"{classNames.Count} class name(s) given ({string.Join(", ", classNames)}) but the metrics have {k} classes.", nameof(classNames));
        if (rows < 0) throw new ArgumentOutOfRangeException(nameof(rows), rows, "must be >= 0.");

        // Counts are doubles in ML.NET (they hold weights in weighted evaluations); unweighted they are whole numbers.
        var counts = cm.Counts.Select(r => (IReadOnlyList<long>)r.Select(c => (long)Math.Round(c)).ToArray()).ToArray();
        var perClass = new ClassReport[k];
        for (int c = 0; c < k; c++)
        {
            long tp = counts[c][c];
            long support = counts[c].Sum();
            long predicted = counts.Sum(r => r[c]);
            double precision = predicted > 0 ? (double)tp / predicted : 0;
            double recall = support > 0 ? (double)tp / support : 0;
            double f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0;
            double logLoss = c < m.PerClassLogLoss.Count ? m.PerClassLogLoss[c] : double.NaN;
            perClass[c] = new ClassReport(classNames[c], precision, recall, f1, support, predicted, logLoss);
        }

        var present = perClass.Where(p => p.Support > 0 || p.Predicted > 0).ToArray();
        long totalSupport = perClass.Sum(p => p.Support);
        double Macro(Func<ClassReport, double> f) => present.Length > 0 ? present.Average(f) : 0;
        double Weighted(Func<ClassReport, double> f) => totalSupport > 0 ? perClass.Sum(p => f(p) * p.Support) / totalSupport : 0;

        return new EvaluationReport
        {
            MicroAccuracy = m.MicroAccuracy,
            MacroAccuracy = m.MacroAccuracy,
            LogLoss = m.LogLoss,
            LogLossReduction = m.LogLossReduction,
            MacroPrecision = Macro(p => p.Precision),
            MacroRecall = Macro(p => p.Recall),
            MacroF1 = Macro(p => p.F1),
            WeightedPrecision = Weighted(p => p.Precision),
            WeightedRecall = Weighted(p => p.Recall),
            WeightedF1 = Weighted(p => p.F1),
            TopK = m.TopKPredictionCount,
            TopKAccuracy = m.TopKPredictionCount > 0 ? m.TopKAccuracy : null,
            Rows = rows,
            Seconds = seconds,
            RowsPerSecond = seconds > 0 ? rows / seconds : 0,
            PerClass = perClass,
            ConfusionCounts = counts,
        };
    }

    /// <summary>
    /// JSON with camelCase names: microAccuracy, macroAccuracy, macroPrecision, macroRecall, macroF1,
    /// weightedPrecision, weightedRecall, weightedF1, logLoss, logLossReduction, topK and topKAccuracy (when
    /// computed), rows, seconds, rowsPerSecond, perClass [{label, precision, recall, f1, support, predicted, logLoss}],
    /// confusionMatrix {labels, counts[actual][predicted]}.
    /// </summary>
    public string ToJson(bool indented = true)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = indented }))
        {
            w.WriteStartObject();
            Number(w, "microAccuracy", MicroAccuracy);
            Number(w, "macroAccuracy", MacroAccuracy);
            Number(w, "macroPrecision", MacroPrecision);
            Number(w, "macroRecall", MacroRecall);
            Number(w, "macroF1", MacroF1);
            Number(w, "weightedPrecision", WeightedPrecision);
            Number(w, "weightedRecall", WeightedRecall);
            Number(w, "weightedF1", WeightedF1);
            Number(w, "logLoss", LogLoss);
            Number(w, "logLossReduction", LogLossReduction);
            if (TopKAccuracy is double topK)
            {
                w.WriteNumber("topK", TopK);
                Number(w, "topKAccuracy", topK);
            }
            w.WriteNumber("rows", Rows);
            Number(w, "seconds", Seconds);
            Number(w, "rowsPerSecond", RowsPerSecond);
            w.WriteStartArray("perClass");
            foreach (var p in PerClass)
            {
                w.WriteStartObject();
                w.WriteString("label", p.Label);
                Number(w, "precision", p.Precision);
                Number(w, "recall", p.Recall);
                Number(w, "f1", p.F1);
                w.WriteNumber("support", p.Support);
                w.WriteNumber("predicted", p.Predicted);
                Number(w, "logLoss", p.LogLoss);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartObject("confusionMatrix");
            w.WriteStartArray("labels");
            foreach (var p in PerClass) w.WriteStringValue(p.Label);
            w.WriteEndArray();
            w.WriteStartArray("counts");
            foreach (var row in ConfusionCounts)
            {
                w.WriteStartArray();
                foreach (long c in row) w.WriteNumberValue(c);
                w.WriteEndArray();
            }
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>Writes <see cref="ToJson"/> to a file atomically.</summary>
    public void SaveJson(string path) => AtomicFile.WriteAllText(path, ToJson() + "\n");

    /// <summary>Two Markdown tables: the overall metrics, then per-class precision/recall/F1/support.</summary>
    public string ToMarkdownTable() => Render(markdown: true);

    private static readonly string[] MetricHeader = ["metric", "value"];
    private static readonly string[] PerClassHeader = ["class", "precision", "recall", "F1", "support"];

    /// <summary>The same tables as plain aligned text, for the console.</summary>
    public string ToText() => Render(markdown: false);

    /// <inheritdoc />
    public override string ToString() => ToText();

    private string Render(bool markdown)
    {
        var overall = new List<string[]>
        {
            MetricHeader,
            new[] { "micro accuracy", F(MicroAccuracy) },
            new[] { "macro accuracy", F(MacroAccuracy) },
            new[] { "macro precision", F(MacroPrecision) },
            new[] { "macro recall", F(MacroRecall) },
            new[] { "macro F1", F(MacroF1) },
            new[] { "weighted precision", F(WeightedPrecision) },
            new[] { "weighted recall", F(WeightedRecall) },
            new[] { "weighted F1", F(WeightedF1) },
            new[] { "log-loss", F(LogLoss) },
            new[] { "log-loss reduction", F(LogLossReduction) },
        };
        if (TopKAccuracy is double topK) overall.Add([$"top-{TopK} accuracy", F(topK)]);
        overall.Add(["rows", Rows.ToString(CultureInfo.InvariantCulture)]);
        overall.Add(["rows/second", F(RowsPerSecond, "F1")]);

        var perClass = new List<string[]> { PerClassHeader };
        perClass.AddRange(PerClass.Select(p => new[] { p.Label, F(p.Precision), F(p.Recall), F(p.F1), p.Support.ToString(CultureInfo.InvariantCulture) }));

        var sb = new StringBuilder();
        Table(sb, overall, markdown);
        sb.Append('\n');
        Table(sb, perClass, markdown);
        return sb.ToString();
    }

    /// <summary>Appends an aligned table: first column left-aligned, the rest right-aligned.</summary>
    private static void Table(StringBuilder sb, List<string[]> rows, bool markdown)
    {
        int cols = rows[0].Length;
        var width = Enumerable.Range(0, cols).Select(c => rows.Max(r => r[c].Length)).ToArray();
        string Cell(string s, int c) => c == 0 ? s.PadRight(width[c]) : s.PadLeft(width[c]);
        for (int i = 0; i < rows.Count; i++)
        {
            var cells = rows[i].Select((s, c) => Cell(markdown ? s.Replace("|", "\\|", StringComparison.Ordinal) : s, c));
            sb.Append(markdown ? "| " + string.Join(" | ", cells) + " |" : string.Join("  ", cells).TrimEnd()).Append('\n');
            if (i == 0)
            {
                var rules = Enumerable.Range(0, cols).Select(c => markdown
                    ? (c == 0 ? new string('-', width[c]) : new string('-', width[c] - 1) + ":")
                    : new string('-', width[c]));
                sb.Append(markdown ? "| " + string.Join(" | ", rules) + " |" : string.Join("  ", rules)).Append('\n');
            }
        }
    }

    private static string F(double v, string format = "F4") =>
        double.IsFinite(v) ? v.ToString(format, CultureInfo.InvariantCulture) : "n/a";

    private static void Number(Utf8JsonWriter w, string name, double v)
    {
        if (double.IsFinite(v)) w.WriteNumber(name, v);
        else w.WriteNull(name);
    }
}
