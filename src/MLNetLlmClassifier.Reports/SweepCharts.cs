using System.Globalization;
using MLNetLlmClassifier.IO;
using MLNetLlmClassifier.Sweeps;
using ScottPlot;
using ScottPlot.TickGenerators;
using static MLNetLlmClassifier.Reports.ChartStyle;

namespace MLNetLlmClassifier.Reports;

/// <summary>
/// Draws a sweep's charts as PNG files with ScottPlot: <c>metric-by-trial.png</c> (every trial's metric in the order the
/// trials started, with the best-so-far trace) and one <c>param-&lt;name&gt;.png</c> per parameter (the parameter's value
/// against the metric; <c>param-&lt;candidate&gt;-&lt;name&gt;.png</c> when the sweep has several candidates). Give it to
/// <see cref="SweepExperiment.SetChartRenderer"/>, or call <c>experiment.SetSweepCharts()</c>.
/// </summary>
/// <remarks>
/// Every chart shows a trial's status the same way: completed trials are filled blue circles, pruned trials hollow orange
/// circles at the last value they reported, and failed trials (with any trial that has no finite metric) red crosses in a
/// "failed" row under the data, since they have no value to place them by. The best trial is ringed in black. When the sweep
/// has several candidates, the metric-by-trial chart colours trials by candidate instead (status stays in the shape).
/// Log-scale dimensions get a log axis, choices one column per choice labelled with its label (points spread a little
/// sideways so that trials with the same choice do not hide each other).
/// </remarks>
public sealed class SweepCharts : ISweepChartRenderer
{
    /// <summary>The metric-by-trial chart's file name.</summary>
    public const string MetricByTrialFile = "metric-by-trial.png";

    private const int MetricWidth = 1000, ParameterWidth = 920, Height = 540;
    private const int MaxNameLength = 80, MaxChoiceLabelLength = 24;
    private static readonly Color CompletedColor = Color.FromHex("#1f77b4"), PrunedColor = Color.FromHex("#ff7f0e"),
        FailedColor = Color.FromHex("#d62728"), BestColor = Colors.Black, KeyColor = Color.FromHex("#555555");
    private static readonly IPalette CandidatePalette = new ScottPlot.Palettes.Category10();

    /// <summary>Writes the charts into <paramref name="folder"/> (created if missing; each file replaced atomically) and returns their paths.</summary>
    public IReadOnlyList<string> Render(SweepChartData data, string folder)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        Directory.CreateDirectory(folder);
        var written = new List<string>();
        void Write(string name, byte[] png)
        {
            string path = Path.Combine(folder, name);
            AtomicFile.WriteAllBytes(path, png);
            written.Add(path);
        }

        Write(MetricByTrialFile, MetricByTrial(data));
        var names = ParameterFileNames(data.Parameters);
        bool withCandidate = data.Parameters.Select(p => p.Candidate).Distinct().Count() > 1;
        for (int i = 0; i < names.Count; i++)
            Write(names[i], Parameter(data, data.Parameters[i], withCandidate));
        return written;
    }

    /// <summary>
    /// The file name of each parameter's chart: <c>param-</c> and a slug of the name (lower-case ASCII letters, digits and
    /// '-', at most about 80 characters, made unique), the candidate's name in front when there are several candidates.
    /// </summary>
    internal static IReadOnlyList<string> ParameterFileNames(IReadOnlyList<ParameterSeries> parameters)
    {
        bool several = parameters.Select(p => p.Candidate).Distinct().Count() > 1;
        var names = parameters.Select(p => several ? $"{p.Candidate} {p.Name}" : p.Name)
            .Select(n => n.Length > MaxNameLength ? n[..MaxNameLength] : n);
        return ComparisonReport.UniqueSlugs(names, fallback: "parameter").Select(s => $"param-{s}.png").ToArray();
    }

    /// <summary>Metric against trial number: trials by status (or candidate), failed ones in a row under the data, best so far as a step line.</summary>
    internal static byte[] MetricByTrial(SweepChartData data)
    {
        string metric = MetricName(data.Metric);
        using var plot = NewPlot($"{Capitalized(metric)} of each trial ({Direction(data.Metric)})", "trial (in the order started)", $"validation {metric}");
        var trials = data.Trials;
        var candidates = trials.Select(t => t.Candidate).Distinct().ToList();
        bool byCandidate = candidates.Count > 1;
        var y = MetricAxis.For(trials.Where(HasMetric).Select(t => t.Metric!.Value), trials.Any(t => !HasMetric(t)));
        float size = MarkerSize(trials.Count);
        var legend = new List<LegendItem>();

        // The best-so-far trace first, so that the markers are drawn over it; it runs on to the last trial.
        int lastId = trials.Count > 0 ? trials[^1].TrialId : 0;
        if (data.BestSoFar.Count > 0)
        {
            var (bestId, bestMetric) = BestOf(data);
            var line = plot.Add.ScatterLine(
                data.BestSoFar.Select(b => (double)b.TrialId).Append(Math.Max(lastId, data.BestSoFar[^1].TrialId)).ToArray(),
                data.BestSoFar.Select(b => b.Metric).Append(bestMetric).ToArray(), BestColor);
            line.ConnectStyle = ConnectStyle.StepHorizontal;
            line.LineWidth = 2;
            line.MarkerSize = 0;
            legend.Add(new LegendItem { LabelText = $"best so far (trial {bestId}: {Fmt.Metric(bestMetric)})", LineColor = BestColor, LineWidth = 2 });
        }

        foreach (var group in trials.GroupBy(t => (t.Candidate, Row: Row(t))).OrderBy(g => g.Key.Row))
        {
            var color = byCandidate ? CandidatePalette.GetColor(candidates.IndexOf(group.Key.Candidate)) : ColorOf(group.Key.Row);
            AddMarkers(plot, group.Select(t => (double)t.TrialId), group.Select(t => HasMetric(t) ? t.Metric!.Value : y.FailedRow!.Value),
                group.Key.Row, color, size);
        }
        if (byCandidate)
        {
            foreach (var c in candidates)
                legend.Add(Key($"{c} ({Count(trials.Count(t => t.Candidate == c), "trial")})", MarkerShape.FilledCircle, CandidatePalette.GetColor(candidates.IndexOf(c))));
            foreach (var row in trials.Select(Row).Distinct().Order())
                legend.Add(Key(RowLabel(row, null), ShapeOf(row), KeyColor));
        }
        else
        {
            foreach (var row in trials.Select(Row).Distinct().Order())
                legend.Add(Key(RowLabel(row, trials.Count(t => Row(t) == row)), ShapeOf(row), ColorOf(row)));
        }
        RingBest(plot, data, t => t.TrialId, size);

        y.Apply(plot);
        double pad = Math.Max(0.6, 0.02 * lastId);
        plot.Axes.SetLimitsX((trials.Count > 0 ? trials[0].TrialId : 0) - pad, lastId + pad);
        plot.Axes.Bottom.TickGenerator = new NumericAutomatic { IntegerTicksOnly = true, MinorTickGenerator = new NoMinorTicks() };
        if (trials.Count == 0) Note(plot, "no finished trials yet");
        else if (!trials.Any(HasMetric)) Note(plot, "no trial has a metric");
        return Finish(plot, legend, MetricWidth);
    }

    /// <summary>One parameter of one candidate against the metric, coloured by status.</summary>
    internal static byte[] Parameter(SweepChartData data, ParameterSeries series, bool withCandidate)
    {
        string metric = MetricName(data.Metric);
        var d = series.Dimension;
        string title = $"{Capitalized(metric)} against {series.Name}" + (withCandidate ? $" ({series.Candidate})" : "");
        string dimension = d is ChoiceDimension c ? $"choice of {c.Options.Count}" : d.ToString();
        using var plot = NewPlot(title, $"{series.Name}: {dimension}", $"validation {metric}");
        var axis = ParameterAxis.For(d, plot);

        // Completed and pruned trials with a metric are placed by it; the others (failed, or no finite metric) go to the failed row.
        var trials = data.Trials.Where(t => t.Candidate == series.Candidate).ToList();
        var scored = series.Points.Where(p => p.Status != TrialStatus.Failed).ToList();
        var unscored = trials.Where(t => !HasMetric(t))
            .Select(t => (t.TrialId, X: SweepChartData.PositionOf(d, t.Parameters[d.Name]), Row: Row(t))).ToList();
        var y = MetricAxis.For(scored.Select(p => p.Metric), unscored.Count > 0);
        float size = MarkerSize(trials.Count);
        var legend = new List<LegendItem>();

        var points = scored.Select(p => (p.TrialId, p.X, Row: Row(p.Status, true), Y: p.Metric))
            .Concat(unscored.Select(u => (u.TrialId, u.X, u.Row, Y: y.FailedRow!.Value)));
        foreach (var group in points.GroupBy(p => p.Row).OrderBy(g => g.Key))
        {
            AddMarkers(plot, group.Select(p => axis.Position(p.X, p.TrialId)), group.Select(p => p.Y), group.Key, ColorOf(group.Key), size);
            legend.Add(Key(RowLabel(group.Key, group.Count()), ShapeOf(group.Key), ColorOf(group.Key)));
        }
        var placed = series.Points.ToDictionary(p => p.TrialId);
        if (RingBest(plot, data, t => placed.TryGetValue(t.TrialId, out var p) ? axis.Position(p.X, p.TrialId) : null, size) is { } best)
            legend.Add(Key($"best trial ({best.TrialId}: {Fmt.Metric(best.Metric)})", MarkerShape.OpenCircle, BestColor, size * 2f));

        y.Apply(plot);
        if (trials.Count == 0) Note(plot, "no finished trials of this candidate yet");
        else if (scored.Count == 0) Note(plot, "no trial of this candidate has a metric");
        return Finish(plot, legend, ParameterWidth);
    }

    // ---- status rows: where a trial is drawn and how ----

    /// <summary>How a trial is drawn: a completed or pruned trial with a finite metric by its value, anything else in the failed row.</summary>
    private enum RowKind { Completed, Pruned, Failed, CompletedWithoutMetric, PrunedWithoutMetric }

    private static bool HasMetric(TrialRecord t) => t.Status != TrialStatus.Failed && t.Metric is { } m && double.IsFinite(m);

    private static RowKind Row(TrialRecord t) => Row(t.Status, HasMetric(t));

    private static RowKind Row(TrialStatus status, bool hasMetric) => (status, hasMetric) switch
    {
        (TrialStatus.Completed, true) => RowKind.Completed,
        (TrialStatus.Pruned, true) => RowKind.Pruned,
        (TrialStatus.Completed, false) => RowKind.CompletedWithoutMetric,
        (TrialStatus.Pruned, false) => RowKind.PrunedWithoutMetric,
        _ => RowKind.Failed,
    };

    private static Color ColorOf(RowKind row) => row switch
    {
        RowKind.Completed or RowKind.CompletedWithoutMetric => CompletedColor,
        RowKind.Pruned or RowKind.PrunedWithoutMetric => PrunedColor,
        _ => FailedColor,
    };

    private static MarkerShape ShapeOf(RowKind row) => row switch
    {
        RowKind.Completed => MarkerShape.FilledCircle,
        RowKind.Pruned => MarkerShape.OpenCircle,
        _ => MarkerShape.Eks,
    };

    private static string RowLabel(RowKind row, int? count)
    {
        string label = row switch
        {
            RowKind.Completed => "completed",
            RowKind.Pruned => "pruned (last reported value)",
            RowKind.Failed => "failed",
            RowKind.CompletedWithoutMetric => "completed, no finite metric",
            _ => "pruned, no finite metric",
        };
        return count is { } n ? $"{label}: {n}" : label;
    }

    private static void AddMarkers(Plot plot, IEnumerable<double> xs, IEnumerable<double> ys, RowKind row, Color color, float size)
    {
        var markers = plot.Add.Markers(xs.ToArray(), ys.ToArray(), ShapeOf(row), ShapeOf(row) == MarkerShape.Eks ? size * 0.9f : size, color);
        // Hollow and cross markers need a thicker stroke to read as well as the filled ones.
        markers.MarkerLineWidth = row == RowKind.Completed ? 1 : 2;
    }

    /// <summary>Rings the best trial where <paramref name="x"/> places it (null: not on this chart); returns it when drawn.</summary>
    private static (int TrialId, double Metric)? RingBest(Plot plot, SweepChartData data, Func<TrialRecord, double?> x, float size)
    {
        if (data.BestSoFar.Count == 0) return null;
        var (id, metric) = BestOf(data);
        var trial = data.Trials.First(t => t.TrialId == id);
        if (x(trial) is not { } position) return null;
        var ring = plot.Add.Marker(position, metric, MarkerShape.OpenCircle, size * 2f, BestColor);
        ring.MarkerLineWidth = 2;
        return (id, metric);
    }

    /// <summary>The best trial: the first completed trial that reached the final best-so-far value.</summary>
    private static (int TrialId, double Metric) BestOf(SweepChartData data)
    {
        double best = data.BestSoFar[^1].Metric;
        return data.BestSoFar.First(b => b.Metric == best);
    }

    private static LegendItem Key(string label, MarkerShape shape, Color color, float size = 9) => new()
    {
        LabelText = label,
        MarkerShape = shape,
        MarkerSize = size,
        MarkerFillColor = color,
        MarkerLineColor = color,
        MarkerLineWidth = shape == MarkerShape.FilledCircle ? 1 : 2,
        LineWidth = 0,
    };

    private static float MarkerSize(int trials) => trials switch { <= 60 => 9, <= 200 => 7, _ => 5 };

    /// <summary>Puts the legend to the right of the data and renders the chart.</summary>
    private static byte[] Finish(Plot plot, List<LegendItem> legend, int width)
    {
        // (An empty legend panel makes ScottPlot draw nothing at all.)
        if (legend.Count > 0)
        {
            plot.Legend.ManualItems.AddRange(legend);
            plot.Legend.FontSize = TickSize;
            plot.Legend.ShadowColor = Colors.Transparent;
            plot.ShowLegend(Edge.Right);
        }
        return Png(plot, width, Height);
    }

    // ---- axes ----

    /// <summary>
    /// The metric axis: the range of the metric values with a margin, ticks at round values, and, when some trials have no
    /// metric, a shaded "failed" row under the data (its own tick label, so it cannot be read as a metric value).
    /// </summary>
    private sealed record MetricAxis(double Bottom, double Top, double? FailedRow, (double Lo, double Hi)? Band, NumericManual Ticks)
    {
        public static MetricAxis For(IEnumerable<double> metrics, bool failedRow)
        {
            var values = metrics.Where(double.IsFinite).ToArray();
            double lo = values.Length > 0 ? values.Min() : 0, hi = values.Length > 0 ? values.Max() : 1;
            if (!(hi > lo))
            {
                // One value (or all equal): a band of ±5% around it (at least ±0.01) so that it sits in the middle.
                double half = Math.Max(Math.Abs(hi) * 0.05, 0.01);
                lo -= half;
                hi += half;
            }
            double span = hi - lo, margin = 0.08 * span;
            var ticks = new NumericManual();
            foreach (var (value, label) in NiceTicks(lo - margin, hi + margin)) ticks.AddMajor(value, label);
            if (!failedRow) return new MetricAxis(lo - margin, hi + margin, null, null, ticks);
            double row = lo - margin - 0.12 * span;
            ticks.AddMajor(row, "failed");
            return new MetricAxis(row - 0.1 * span, hi + margin, row, (row - 0.1 * span, lo - margin - 0.02 * span), ticks);
        }

        public void Apply(Plot plot)
        {
            if (Band is { } band)
            {
                var shade = plot.Add.VerticalSpan(band.Lo, band.Hi, Color.FromHex("#d62728").WithAlpha(0.07));
                shade.LineWidth = 0;
                // Under everything else.
                plot.MoveToBack(shade);
            }
            plot.Axes.SetLimitsY(Bottom, Top);
            plot.Axes.Left.TickGenerator = Ticks;
        }
    }

    /// <summary>How a parameter's values are placed along the bottom axis (log, choice columns, integers or plain numbers).</summary>
    private sealed class ParameterAxis
    {
        private readonly Func<double, int, double> _position;

        private ParameterAxis(Func<double, int, double> position) => _position = position;

        /// <summary>Where a trial with value (or choice index) <paramref name="x"/> is drawn.</summary>
        public double Position(double x, int trialId) => _position(x, trialId);

        /// <summary>Sets the plot's bottom axis (limits and ticks) for <paramref name="d"/> and returns how values map onto it.</summary>
        public static ParameterAxis For(SearchDimension d, Plot plot)
        {
            switch (d)
            {
                case ChoiceDimension c:
                    {
                        int k = c.Options.Count;
                        var ticks = new NumericManual();
                        var labels = ChoiceLabels(c);
                        for (int i = 0; i < k; i++) ticks.AddMajor(i, labels[i]);
                        plot.Axes.Bottom.TickGenerator = ticks;
                        plot.Axes.SetLimitsX(-0.5, k - 0.5);
                        plot.Grid.XAxisStyle.MajorLineStyle.IsVisible = false;
                        // Turned labels when they do not fit their column (at least some 550 px of data area share the columns); the first one
                        // hangs left of the data area, so the left axis is widened to hold it.
                        float widest = labels.Select(l => TextWidth(l, TickSize)).DefaultIfEmpty(0).Max(), column = 550f / k;
                        if (widest > column * 0.9f)
                        {
                            RotateBottomTicks(plot, 30, widest, TickSize);
                            plot.Axes.Left.MinimumSize = Math.Max(plot.Axes.Left.MinimumSize, widest * MathF.Cos(MathF.PI / 6) - column / 2 + 15);
                        }
                        return new ParameterAxis((x, id) => x + Jitter(id, 0.4));
                    }
                case UniformDimension { LogScale: true } u:
                    return Log(plot, u.Min, u.Max);
                case IntegerDimension { LogScale: true } n:
                    return Log(plot, n.Min, n.Max);
                case IntegerDimension n when n.Max - n.Min < 16:
                    {
                        // A short range puts many trials on the same value: a tick at each value, trials spread a little around it.
                        var ticks = new NumericManual();
                        for (int v = n.Min; v <= n.Max; v++) ticks.AddMajor(v, v.ToString(CultureInfo.InvariantCulture));
                        plot.Axes.Bottom.TickGenerator = ticks;
                        plot.Axes.SetLimitsX(n.Min - 0.5, n.Max + 0.5);
                        return new ParameterAxis((x, id) => x + Jitter(id, 0.3));
                    }
                case IntegerDimension n:
                    plot.Axes.SetLimitsX(n.Min - 0.03 * (n.Max - n.Min), n.Max + 0.03 * (n.Max - n.Min));
                    plot.Axes.Bottom.TickGenerator = new NumericAutomatic { IntegerTicksOnly = true, MinorTickGenerator = new NoMinorTicks() };
                    return new ParameterAxis((x, _) => x);
                case UniformDimension u:
                    {
                        double pad = 0.03 * (u.Max - u.Min);
                        plot.Axes.SetLimitsX(u.Min - pad, u.Max + pad);
                        return new ParameterAxis((x, _) => x);
                    }
                default:
                    throw new ArgumentException($"Sweep parameter '{d.Name}': cannot chart a dimension of type {d.GetType().Name}.", nameof(d));
            }
        }

        /// <summary>A log axis: values are drawn at log10(value), ticks labelled with the values.</summary>
        private static ParameterAxis Log(Plot plot, double min, double max)
        {
            double a = Math.Log10(min), b = Math.Log10(max), pad = 0.03 * Math.Max(b - a, 1e-9);
            plot.Axes.SetLimitsX(a - pad, b + pad);
            plot.Axes.Bottom.TickGenerator = LogTicks(a - pad, b + pad);
            return new ParameterAxis((x, _) => Math.Log10(x));
        }
    }

    /// <summary>
    /// The choices' tick labels: long ones shortened in the middle (prompt variants often differ only at the end), and
    /// numbered when shortening makes two of them equal.
    /// </summary>
    private static string[] ChoiceLabels(ChoiceDimension c)
    {
        const int head = 13, tail = MaxChoiceLabelLength - head - 3;
        var labels = c.Options.Select(o => o.Label.Length > MaxChoiceLabelLength ? o.Label[..head] + "..." + o.Label[^tail..] : o.Label).ToArray();
        return labels.Distinct(StringComparer.Ordinal).Count() == labels.Length ? labels : labels.Select((l, i) => $"{i + 1}: {l}").ToArray();
    }

    /// <summary>
    /// A deterministic sideways offset in [-width/2, width/2) for a trial (the golden-ratio sequence spreads successive
    /// trials evenly), so that trials with the same discrete value do not hide each other.
    /// </summary>
    private static double Jitter(int trialId, double width) => ((trialId * 0.6180339887498949) % 1.0 - 0.5) * width;

    /// <summary>No minor ticks (between trial numbers or integer values they would mark values that cannot occur).</summary>
    private sealed class NoMinorTicks : IMinorTickGenerator
    {
        public IEnumerable<double> GetMinorTicks(double[] majorTicks, CoordinateRange visibleRange) => [];
    }

    /// <summary>
    /// Ticks of a log axis over log10 coordinates [a, b]: each decade over about three decades; 1, 2, 5 times each decade
    /// over a few; every digit over one; round values in between when the range is under half a decade.
    /// </summary>
    private static NumericManual LogTicks(double a, double b)
    {
        var ticks = new NumericManual();
        double span = b - a;
        if (span < 0.5)
        {
            foreach (var (v, _) in NiceTicks(Math.Pow(10, a), Math.Pow(10, b)))
                if (v > 0) ticks.AddMajor(Math.Log10(v), Number(v));
            return ticks;
        }
        int[] majors = span > 3 ? [1] : span > 1.2 ? [1, 2, 5] : [1, 2, 3, 4, 5, 6, 7, 8, 9];
        for (int decade = (int)Math.Floor(a); decade <= (int)Math.Ceiling(b); decade++)
            for (int m = 1; m <= 9; m++)
            {
                double v = m * Math.Pow(10, decade), at = Math.Log10(v);
                if (at < a || at > b) continue;
                if (majors.Contains(m)) ticks.AddMajor(at, Number(v));
                else ticks.AddMinor(at);
            }
        return ticks;
    }

    /// <summary>About six ticks at round values (1, 2 or 5 times a power of ten) in [lo, hi], labelled with just enough decimals.</summary>
    private static IEnumerable<(double Value, string Label)> NiceTicks(double lo, double hi)
    {
        double raw = (hi - lo) / 6, magnitude = Math.Pow(10, Math.Floor(Math.Log10(raw))), norm = raw / magnitude;
        double step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * magnitude;
        int decimals = Math.Max(0, -(int)Math.Floor(Math.Log10(step) + 1e-9));
        for (double v = Math.Ceiling(lo / step) * step; v <= hi + step * 1e-9; v += step)
        {
            // (+ 0.0 turns a rounded -0 into 0, which would print as "-0.0".)
            double rounded = Math.Round(v, Math.Min(decimals, 15)) + 0.0;
            yield return (rounded, rounded.ToString("F" + decimals, CultureInfo.InvariantCulture));
        }
    }

    /// <summary>A parameter value for a tick: plain from 0.001 to below 10^5, else like 2e-5.</summary>
    private static string Number(double v)
    {
        if (v is >= 1e-3 and < 1e5) return v.ToString("G3", CultureInfo.InvariantCulture);
        string s = v.ToString("0.##E+0", CultureInfo.InvariantCulture);
        int e = s.IndexOf('E');
        return $"{s[..e]}e{int.Parse(s[(e + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture)}";
    }

    // ---- words ----

    private static string MetricName(SweepMetric metric) => metric switch
    {
        SweepMetric.MacroF1 => "macro-F1",
        SweepMetric.MicroAccuracy => "micro-accuracy",
        SweepMetric.MacroAccuracy => "macro-accuracy",
        SweepMetric.LogLoss => "log-loss",
        SweepMetric.LogLossReduction => "log-loss reduction",
        SweepMetric.TopKAccuracy => "top-k accuracy",
        _ => metric.ToString(),
    };

    private static string Direction(SweepMetric metric) => metric.IsMaximized() ? "higher is better" : "lower is better";

    private static string Capitalized(string s) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..];

    private static string Count(int n, string noun) => $"{n} {noun}{(n == 1 ? "" : "s")}";
}
