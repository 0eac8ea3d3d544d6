using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using MLNetLlmClassifier.Training;

namespace MLNetLlmClassifier.Reports;

/// <summary>
/// A side-by-side comparison of several classifiers trained and tested on one split: a console table, and a folder
/// with report.md, report.json and PNG charts (learning curves, one confusion matrix per model, quality against
/// throughput).
/// </summary>
/// <example>
/// <code>
/// var report = new ComparisonReport([sdca, bert, qwen3])
/// {
///     DataSource = "ag_news test.csv", TrainRows = 6000, ValidationRows = 800, TestRows = 800, Seed = 42,
///     CommandLine = "mlnet-llm compare --data test.csv",
///     Warnings = ["tiny random checkpoints: accuracy is not representative"],
/// };
/// Console.Write(report.ToConsoleTable());
/// report.WriteFolder("compare-out");
/// </code>
/// </example>
public sealed class ComparisonReport
{
    /// <summary>The <c>format</c> written to report.json; <see cref="WriteFolder"/> only replaces folders that hold a version of it.</summary>
    public const string Format = FormatFamily + "1";
    private const string FormatFamily = "mlnet-llm-comparison/";

    /// <summary>File name of the learning-curve chart.</summary>
    public const string LearningCurvesFile = "learning-curves.png";
    /// <summary>File name of the quality-against-throughput chart.</summary>
    public const string QualityVsThroughputFile = "quality-vs-throughput.png";
    /// <summary>File name of the Markdown report.</summary>
    public const string MarkdownFile = "report.md";
    /// <summary>File name of the JSON report.</summary>
    public const string JsonFile = "report.json";

    private readonly string[] _slugs;

    /// <summary>Creates a report over the given results, in the order given (it is the column order).</summary>
    /// <exception cref="ArgumentException">No results, a null result, two results with the same name, or a result with a bad figure (the message names it).</exception>
    public ComparisonReport(IEnumerable<ModelRunResult> models)
    {
        ArgumentNullException.ThrowIfNull(models);
        var list = models.ToArray();
        if (list.Length == 0) throw new ArgumentException("A comparison needs at least one model result.", nameof(models));
        for (int i = 0; i < list.Length; i++)
        {
            if (list[i] is null) throw new ArgumentException($"Model result {i} is null.", nameof(models));
            list[i].Validate();
        }
        var duplicate = list.GroupBy(m => m.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw new ArgumentException($"Two model results are named '{duplicate.Key}'; names must be unique.", nameof(models));
        Models = list;
        _slugs = UniqueSlugs(list.Select(m => m.Name));
    }

    /// <summary>The results, in column order.</summary>
    public IReadOnlyList<ModelRunResult> Models { get; }

    /// <summary>Heading of report.md.</summary>
    public string Title { get; init; } = "Model comparison";
    /// <summary>Where the data came from, e.g. a file path or "AG News (embedded sample)".</summary>
    public string? DataSource { get; init; }
    /// <summary>Rows in the training split.</summary>
    public long? TrainRows { get; init; }
    /// <summary>Rows in the validation split (used for learning curves and early stopping).</summary>
    public long? ValidationRows { get; init; }
    /// <summary>Rows in the test split (every model's <see cref="ModelRunResult.Test"/> should have this many).</summary>
    public long? TestRows { get; init; }
    /// <summary>The seed of the split and of training.</summary>
    public int? Seed { get; init; }
    /// <summary>The command that produced the report, to rerun it.</summary>
    public string? CommandLine { get; init; }
    /// <summary>When the comparison ran; left out of the report when null (keeps the output reproducible).</summary>
    public DateTimeOffset? CreatedAt { get; init; }
    /// <summary>Caveats shown before the results, e.g. that tiny random checkpoints make accuracy meaningless.</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];

    /// <summary>
    /// <see cref="Warnings"/> plus those the report finds itself: models tested on different numbers of rows or
    /// different class lists, or on a number of rows other than <see cref="TestRows"/>.
    /// </summary>
    public IReadOnlyList<string> AllWarnings
    {
        get
        {
            var all = new List<string>(Warnings);
            if (Models.Select(m => m.Test.Rows).Distinct().Count() > 1)
                all.Add("models were tested on different numbers of rows (" + string.Join(", ", Models.Select(m => $"{m.Name}: {m.Test.Rows}")) + "); their figures are not comparable");
            else if (TestRows is long n && Models[0].Test.Rows != n)
                all.Add($"the test split has {n} rows but the models were tested on {Models[0].Test.Rows}");
            if (Models.Select(m => string.Join("\n", m.Test.PerClass.Select(p => p.Label))).Distinct().Count() > 1)
                all.Add("models were tested on different class lists (" + string.Join("; ", Models.Select(m => $"{m.Name}: {string.Join(", ", m.Test.PerClass.Select(p => p.Label))}")) + ")");
            return all;
        }
    }

    /// <summary>The model with the highest test macro-F1 (the first one on ties).</summary>
    public ModelRunResult Best => Models.MaxBy(m => double.IsFinite(m.Test.MacroF1) ? m.Test.MacroF1 : double.NegativeInfinity)!;

    /// <summary>The file-name-safe slug of a model's name ("Qwen3 prompted" → "qwen3-prompted"), unique within the report.</summary>
    public string SlugOf(ModelRunResult model) => _slugs[IndexOf(model)];

    /// <summary>File name of a model's confusion-matrix chart, "confusion-&lt;slug&gt;.png".</summary>
    public string ConfusionFileOf(ModelRunResult model) => $"confusion-{SlugOf(model)}.png";

    /// <summary>
    /// The side-by-side table for the terminal: quality on the test set (micro accuracy, macro and weighted
    /// precision/recall/F1, log-loss) and cost (training time and rows/s, inference rows/s, peak memory,
    /// parameters, device), one column per model; then the best model, the models' notes and the warnings.
    /// </summary>
    public string ToConsoleTable()
    {
        var sb = new StringBuilder(TextTable.Render(TableRows(), markdown: false));
        var best = Best;
        sb.Append('\n').Append(CultureInfo.InvariantCulture, $"best macro-F1: {best.Name} ({Fmt.Metric(best.Test.MacroF1)})\n");
        foreach (var m in Models.Where(m => !string.IsNullOrWhiteSpace(m.Notes)))
            sb.Append(CultureInfo.InvariantCulture, $"note: {m.Name}: {m.Notes}\n");
        foreach (var w in AllWarnings)
            sb.Append(CultureInfo.InvariantCulture, $"warning: {w}\n");
        return sb.ToString();
    }

    /// <summary>The contents of report.md: header, warnings, the table, the charts and per-model sections with per-class figures.</summary>
    public string ToMarkdown()
    {
        var sb = new StringBuilder();
        sb.Append("# ").Append(Title).Append("\n\n");
        foreach (var line in HeaderLines())
            sb.Append("- ").Append(line.Key).Append(": ").Append(line.Value).Append('\n');
        sb.Append('\n');
        foreach (var w in AllWarnings)
            sb.Append("> **Warning:** ").Append(w).Append("\n\n");

        sb.Append("## Results\n\n");
        var rows = TableRows();
        BoldBest(rows);
        sb.Append(TextTable.Render(rows, markdown: true)).Append('\n');
        var best = Best;
        sb.Append(CultureInfo.InvariantCulture, $"Best test macro-F1: **{best.Name}** ({Fmt.Metric(best.Test.MacroF1)}).");
        sb.Append(Models.Count > 1 ? " The best value of each quality row is in bold.\n\n" : "\n\n");

        sb.Append("## Learning curves\n\n");
        sb.Append("Validation macro-F1 and log-loss during training. Models without evaluations during training are dashed horizontal lines at their test figure.\n\n");
        sb.Append("![Learning curves](").Append(LearningCurvesFile).Append(")\n\n");
        sb.Append("## Quality against throughput\n\n");
        sb.Append("![Test macro-F1 and inference rows per second](").Append(QualityVsThroughputFile).Append(")\n\n");

        sb.Append("## Models\n");
        foreach (var m in Models)
        {
            sb.Append("\n### ").Append(m.Name).Append("\n\n");
            sb.Append("- kind: ").Append(JsonNamingPolicy.CamelCase.ConvertName(m.Kind.ToString())).Append('\n');
            sb.Append("- device: ").Append(m.Device).Append('\n');
            if (!string.IsNullOrWhiteSpace(m.Notes)) sb.Append("- notes: ").Append(m.Notes).Append('\n');
            if (m.Training is TrainingSummary t) sb.Append("- training: ").Append(TrainingLine(t)).Append('\n');
            sb.Append('\n').Append("![Confusion matrix of ").Append(m.Name).Append("](").Append(ConfusionFileOf(m)).Append(")\n\n");
            var perClass = new List<string[]> { (string[])["class", "precision", "recall", "F1", "support", "predicted"] };
            perClass.AddRange(m.Test.PerClass.Select(p => new[]
            {
                p.Label, Fmt.Metric(p.Precision), Fmt.Metric(p.Recall), Fmt.Metric(p.F1), Fmt.Int(p.Support), Fmt.Int(p.Predicted),
            }));
            sb.Append(TextTable.Render(perClass, markdown: true));
        }
        return sb.ToString();
    }

    /// <summary>
    /// The contents of report.json (camelCase): format, title, createdAt, dataSource, split {train, validation,
    /// test}, seed, commandLine, warnings, bestModel, charts, and models [{name, slug, kind, device, notes,
    /// trainingSeconds, trainRowsPerSecond, inferenceRowsPerSecond, peakMemoryMiB, parameterCount, confusionChart,
    /// test (as <see cref="Evaluation.EvaluationReport.ToJson"/>), training {steps, epochs, seconds, rowsPerSecond,
    /// stoppedEarly, truncatedRows, best, stepLosses} or null, evaluations [{step, epoch, logLoss, accuracy,
    /// macroF1, rows}]}]. Unknown and non-finite figures are null.
    /// </summary>
    public string ToJson()
    {
        using var buffer = new MemoryStream();
        // Relaxed escaping: the file is read by people and JSON parsers, never embedded in HTML, so keep ` and ' as they are.
        var options = new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        using (var w = new Utf8JsonWriter(buffer, options))
        {
            w.WriteStartObject();
            w.WriteString("format", Format);
            w.WriteString("title", Title);
            if (CreatedAt is DateTimeOffset at) w.WriteString("createdAt", at);
            else w.WriteNull("createdAt");
            StringOrNull(w, "dataSource", DataSource);
            w.WriteStartObject("split");
            Number(w, "train", TrainRows);
            Number(w, "validation", ValidationRows);
            Number(w, "test", TestRows);
            w.WriteEndObject();
            Number(w, "seed", Seed);
            StringOrNull(w, "commandLine", CommandLine);
            w.WriteStartArray("warnings");
            foreach (var s in AllWarnings) w.WriteStringValue(s);
            w.WriteEndArray();
            w.WriteString("bestModel", Best.Name);
            w.WriteStartObject("charts");
            w.WriteString("learningCurves", LearningCurvesFile);
            w.WriteString("qualityVsThroughput", QualityVsThroughputFile);
            w.WriteEndObject();
            w.WriteStartArray("models");
            foreach (var m in Models) WriteModel(w, m);
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>
    /// Writes report.md, report.json, learning-curves.png, quality-vs-throughput.png and one confusion-&lt;slug&gt;.png
    /// per model into <paramref name="folder"/>. The files are built in a temporary sibling folder that then takes
    /// the place of <paramref name="folder"/>, so a failed write leaves any earlier report there intact, and a
    /// rewrite leaves no stale files from the earlier one.
    /// </summary>
    /// <param name="folder">The output folder; created if missing. If it exists it must be empty or hold an earlier comparison report (a report.json of any version of <see cref="Format"/>): other folders are never replaced.</param>
    /// <exception cref="IOException"><paramref name="folder"/> is a file, or a folder that is not an earlier report.</exception>
    public void WriteFolder(string folder)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        ReportFolder.Replace(folder, FormatFamily, temp =>
        {
            Write(temp, MarkdownFile, Encoding.UTF8.GetBytes(ToMarkdown()));
            Write(temp, JsonFile, Encoding.UTF8.GetBytes(ToJson() + "\n"));
            Write(temp, LearningCurvesFile, ComparisonCharts.LearningCurves(Models));
            Write(temp, QualityVsThroughputFile, ComparisonCharts.QualityVsThroughput(Models));
            foreach (var m in Models)
                Write(temp, ConfusionFileOf(m), ComparisonCharts.Confusion(m));
        });
    }

    /// <summary>Test hook: called after each file is written into the temporary folder (a test throws from it to simulate a failed write).</summary>
    internal Action<string>? AfterFileWritten { get; set; }

    private void Write(string folder, string name, byte[] bytes)
    {
        string path = Path.Combine(folder, name);
        using (var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write))
        {
            stream.Write(bytes);
            stream.Flush(flushToDisk: true);
        }
        AfterFileWritten?.Invoke(path);
    }

    /// <summary>The table's rows: a header with the model names, section headings (single cells) and one row per figure.</summary>
    private List<string[]> TableRows()
    {
        var rows = new List<string[]> { (string[])["", .. Models.Select(m => m.Name)] };
        void Row(string label, Func<ModelRunResult, string> cell) => rows.Add([label, .. Models.Select(cell)]);
        long testRows = Models[0].Test.Rows;
        rows.Add([Models.All(m => m.Test.Rows == testRows) ? $"quality (test set, {Fmt.Int(testRows)} rows)" : "quality (test set)"]);
        foreach (var (label, metric) in QualityRows)
            Row("  " + label, m => Fmt.Metric(metric(m)));
        rows.Add(["cost"]);
        Row("  training time", m => Fmt.Duration(m.TrainingSeconds));
        Row("  training rows/s", m => Fmt.Rate(m.TrainRowsPerSecond));
        Row("  inference rows/s", m => Fmt.Rate(m.InferenceRowsPerSecond));
        Row("  peak memory", m => Fmt.Memory(m.PeakMemoryMiB));
        Row("  parameters", m => Fmt.Count(m.ParameterCount));
        Row("  device", m => m.Device);
        return rows;
    }

    /// <summary>The quality rows in table order; log-loss is the only one where lower is better.</summary>
    private static readonly (string Label, Func<ModelRunResult, double> Metric)[] QualityRows =
    [
        ("micro accuracy", m => m.Test.MicroAccuracy),
        ("macro precision", m => m.Test.MacroPrecision),
        ("macro recall", m => m.Test.MacroRecall),
        ("macro F1", m => m.Test.MacroF1),
        ("weighted precision", m => m.Test.WeightedPrecision),
        ("weighted recall", m => m.Test.WeightedRecall),
        ("weighted F1", m => m.Test.WeightedF1),
        ("log-loss", m => m.Test.LogLoss),
    ];

    /// <summary>Bolds the best model's cell in each quality row (Markdown only; ties all bold).</summary>
    private void BoldBest(List<string[]> rows)
    {
        if (Models.Count < 2) return;
        for (int q = 0; q < QualityRows.Length; q++)
        {
            var (label, metric) = QualityRows[q];
            var values = Models.Select(metric).ToArray();
            var finite = values.Where(double.IsFinite).ToArray();
            if (finite.Length == 0) continue;
            double best = label == "log-loss" ? finite.Min() : finite.Max();
            var row = rows[2 + q]; // after the header and the "quality" heading, in QualityRows order (TableRows)
            for (int i = 0; i < values.Length; i++)
                if (values[i] == best) row[i + 1] = $"**{row[i + 1]}**";
        }
    }

    private IEnumerable<KeyValuePair<string, string>> HeaderLines()
    {
        var inv = CultureInfo.InvariantCulture;
        if (DataSource is not null) yield return new("data", DataSource);
        if (TrainRows is not null || ValidationRows is not null || TestRows is not null)
            yield return new("split", $"train {Opt(TrainRows)}, validation {Opt(ValidationRows)}, test {Opt(TestRows)} rows");
        if (Seed is int seed) yield return new("seed", seed.ToString(inv));
        if (CommandLine is not null) yield return new("command", $"`{CommandLine.Replace("`", "'", StringComparison.Ordinal)}`");
        if (CreatedAt is DateTimeOffset at) yield return new("created", at.ToString("u", inv));
        yield return new("models", string.Join(", ", Models.Select(m => m.Name)));
        static string Opt(long? n) => n is long v ? Fmt.Int(v) : "n/a";
    }

    private static string TrainingLine(TrainingSummary t)
    {
        var inv = CultureInfo.InvariantCulture;
        var s = $"{Fmt.Int(t.Steps)} steps, {t.Epochs.ToString("F2", inv)} epochs, {Fmt.Duration(t.Seconds)}, {Fmt.Rate(t.RowsPerSecond)} rows/s";
        if (t.Best is EvaluationRecord b)
            s += $"; best validation at step {Fmt.Int(b.Step)} (macro-F1 {Fmt.Metric(b.MacroF1)}, log-loss {Fmt.Metric(b.LogLoss)})";
        if (t.StoppedEarly) s += "; stopped early";
        if (t.TruncatedRows > 0) s += $"; {Fmt.Int(t.TruncatedRows)} training rows truncated";
        return s;
    }

    private void WriteModel(Utf8JsonWriter w, ModelRunResult m)
    {
        w.WriteStartObject();
        w.WriteString("name", m.Name);
        w.WriteString("slug", SlugOf(m));
        w.WriteString("kind", JsonNamingPolicy.CamelCase.ConvertName(m.Kind.ToString()));
        w.WriteString("device", m.Device);
        StringOrNull(w, "notes", m.Notes);
        Number(w, "trainingSeconds", m.TrainingSeconds);
        Number(w, "trainRowsPerSecond", m.TrainRowsPerSecond);
        Number(w, "inferenceRowsPerSecond", m.InferenceRowsPerSecond);
        Number(w, "peakMemoryMiB", m.PeakMemoryMiB);
        Number(w, "parameterCount", m.ParameterCount);
        w.WriteString("confusionChart", ConfusionFileOf(m));
        w.WritePropertyName("test");
        using (var test = JsonDocument.Parse(m.Test.ToJson(indented: false)))
            test.WriteTo(w); // re-written rather than raw, so it is indented like the rest

        if (m.Training is TrainingSummary t)
        {
            w.WriteStartObject("training");
            w.WriteNumber("steps", t.Steps);
            Number(w, "epochs", t.Epochs);
            Number(w, "seconds", t.Seconds);
            Number(w, "rowsPerSecond", t.RowsPerSecond);
            w.WriteBoolean("stoppedEarly", t.StoppedEarly);
            w.WriteNumber("truncatedRows", t.TruncatedRows);
            w.WritePropertyName("best");
            if (t.Best is EvaluationRecord best) WriteEvaluation(w, best);
            else w.WriteNullValue();
            w.WriteStartArray("stepLosses");
            foreach (float loss in t.StepLosses)
                if (float.IsFinite(loss)) w.WriteNumberValue(loss);
                else w.WriteNullValue();
            w.WriteEndArray();
            w.WriteEndObject();
        }
        else w.WriteNull("training");
        w.WriteStartArray("evaluations");
        foreach (var e in m.Evaluations) WriteEvaluation(w, e);
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void WriteEvaluation(Utf8JsonWriter w, EvaluationRecord e)
    {
        w.WriteStartObject();
        w.WriteNumber("step", e.Step);
        Number(w, "epoch", e.Epoch);
        Number(w, "logLoss", e.LogLoss);
        Number(w, "accuracy", e.Accuracy);
        Number(w, "macroF1", e.MacroF1);
        w.WriteNumber("rows", e.Rows);
        w.WriteEndObject();
    }

    private static void Number(Utf8JsonWriter w, string name, double? v)
    {
        if (v is double d && double.IsFinite(d)) w.WriteNumber(name, d);
        else w.WriteNull(name);
    }

    private static void Number(Utf8JsonWriter w, string name, long? v)
    {
        if (v is long n) w.WriteNumber(name, n);
        else w.WriteNull(name);
    }

    private static void StringOrNull(Utf8JsonWriter w, string name, string? v)
    {
        if (v is null) w.WriteNull(name);
        else w.WriteString(name, v);
    }

    private int IndexOf(ModelRunResult model)
    {
        for (int i = 0; i < Models.Count; i++)
            if (ReferenceEquals(Models[i], model)) return i;
        throw new ArgumentException($"Model '{model?.Name}' is not in this report.", nameof(model));
    }

    /// <summary>
    /// Lower-case ASCII letters and digits, other runs of characters as one '-'; "-2", "-3"... on collisions;
    /// <paramref name="fallback"/> for a name with no letter or digit.
    /// </summary>
    internal static string[] UniqueSlugs(IEnumerable<string> names, string fallback = "model")
    {
        var used = new HashSet<string>(StringComparer.Ordinal);
        var slugs = new List<string>();
        foreach (var name in names)
        {
            var sb = new StringBuilder();
            foreach (char c in name.ToLowerInvariant())
                if (c is >= 'a' and <= 'z' or >= '0' and <= '9') sb.Append(c);
                else if (sb.Length > 0 && sb[^1] != '-') sb.Append('-');
            string slug = sb.ToString().Trim('-');
            if (slug.Length == 0) slug = fallback;
            string unique = slug;
            for (int n = 2; !used.Add(unique); n++) unique = $"{slug}-{n}";
            slugs.Add(unique);
        }
        return slugs.ToArray();
    }
}
