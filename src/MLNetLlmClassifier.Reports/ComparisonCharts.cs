using System.Globalization;
using MLNetLlmClassifier.Training;
using ScottPlot;
using SkiaSharp;
using static MLNetLlmClassifier.Reports.ChartStyle;

namespace MLNetLlmClassifier.Reports;

/// <summary>
/// The comparison's PNG charts, drawn with ScottPlot. Each model keeps one colour (Category10, by position) in
/// every chart. Panels are rendered side by side onto one Skia canvas.
/// </summary>
internal static class ComparisonCharts
{
    private static readonly IPalette Palette = new ScottPlot.Palettes.Category10();

    private static Color ColorOf(int model) => Palette.GetColor(model);

    /// <summary>
    /// Two panels, validation macro-F1 and validation log-loss against the epoch (or the optimizer step when a model
    /// did not report epochs), one line per model and a shared legend on the right. Models without (finite) evaluations
    /// during training (a classic baseline, zero-shot prompting) are dashed horizontal lines at their test figure.
    /// </summary>
    public static byte[] LearningCurves(IReadOnlyList<ModelRunResult> models)
    {
        var withCurve = models.Where(m => m.Evaluations.Count > 0).ToArray();
        // Epochs compare models with different batch sizes; steps are the fallback when epochs were not reported.
        bool byEpoch = withCurve.All(m => m.Evaluations.Any(e => e.Epoch > 0));
        string xLabel = byEpoch ? "epoch (fraction of the training split seen)" : "optimizer step";
        using var f1 = NewPlot("Validation macro-F1 (higher is better)", xLabel, "macro-F1");
        using var loss = NewPlot("Validation log-loss (lower is better)", xLabel, "log-loss");

        for (int i = 0; i < models.Count; i++)
        {
            var m = models[i];
            double X(EvaluationRecord e) => byEpoch ? e.Epoch : e.Step;
            if (!Curve(f1, m.Evaluations.Select(e => (X(e), e.MacroF1)), ColorOf(i), m.Name))
                Level(f1, m.Test.MacroF1, ColorOf(i), $"{m.Name} (test, no curve)");
            if (!Curve(loss, m.Evaluations.Select(e => (X(e), e.LogLoss)), ColorOf(i), m.Name))
                Level(loss, m.Test.LogLoss, ColorOf(i), $"{m.Name} (test, no curve)");
        }

        f1.Axes.SetLimitsY(0, 1.05);
        var lossValues = models.SelectMany(m => m.Evaluations.Count > 0 ? m.Evaluations.Select(e => e.LogLoss) : [m.Test.LogLoss])
            .Where(double.IsFinite).DefaultIfEmpty(1).ToArray();
        loss.Axes.SetLimitsY(0, Math.Max(lossValues.Max() * 1.1, 0.1));
        if (withCurve.Length == 0)
        {
            foreach (var p in new[] { f1, loss })
            {
                p.Axes.SetLimitsX(0, 1);
                Note(p, "no model reported validation evaluations during training");
            }
        }
        else
        {
            double maxX = withCurve.SelectMany(m => m.Evaluations).Select(e => byEpoch ? e.Epoch : e.Step)
                .Where(double.IsFinite).DefaultIfEmpty(0).Max();
            if (!(maxX > 0)) maxX = 1;
            foreach (var p in new[] { f1, loss }) p.Axes.SetLimitsX(0, maxX * 1.03);
        }
        // One legend for both panels, drawn to their right (Compose) instead of over the curves.
        f1.HideLegend();
        loss.HideLegend();
        return Compose([(f1, 620), (loss, 620)], height: 480, legendFrom: f1);
    }

    /// <summary>
    /// The confusion matrix as a heatmap: rows are actual classes, columns predicted ones, each cell holds its count
    /// and is shaded by the share of its row (so rare classes read as clearly as common ones). Cells shrink and the
    /// predicted-class names turn 45° as the number of classes grows.
    /// </summary>
    public static byte[] Confusion(ModelRunResult model)
    {
        var labels = model.Test.PerClass.Select(p => p.Label).ToArray();
        var counts = model.Test.ConfusionCounts;
        int k = labels.Length;
        // Cells: 110 px for a handful of classes down to 34 px at 30 (a 30x30 matrix is then about 1000 px wide).
        float cell = Math.Clamp(520f / Math.Max(k, 1), 34f, 110f);
        long maxCount = counts.SelectMany(r => r).DefaultIfEmpty(0).Max();
        int digits = maxCount.ToString(CultureInfo.InvariantCulture).Length;
        // Cell text fits the cell: DejaVu Sans digits are about 0.64 em wide.
        float countSize = Math.Clamp(Math.Min(cell / 3f, cell * 0.8f / (0.64f * digits)), 7f, 18f);
        float labelSize = k > 15 ? 11f : TickSize;

        var frac = new double[k, k];
        for (int r = 0; r < k; r++)
        {
            long rowSum = counts[r].Sum();
            for (int c = 0; c < k; c++) frac[r, c] = rowSum > 0 ? (double)counts[r][c] / rowSum : 0;
        }

        string title = $"{model.Name}: confusion matrix (test set, {Fmt.Int(model.Test.Rows)} rows)";
        using var plot = NewPlot(title, "predicted class", "actual class");
        plot.HideGrid();
        var heatmap = plot.Add.Heatmap(frac);
        // Blues runs dark to light; reversed, an empty cell is white and a full one dark blue.
        heatmap.Colormap = new ScottPlot.Colormaps.Reversed(new ScottPlot.Colormaps.Blues());
        heatmap.ManualRange = new ScottPlot.Range(0, 1);
        // Cell (r, c) is centred on (x = c, y = k - 1 - r): row 0 (the first class) at the top, as in scikit-learn.
        // (Rectangle gives the outer edges of the cells; row 0 of the intensities is drawn at the top.)
        heatmap.Rectangle = new CoordinateRect(-0.5, k - 0.5, -0.5, k - 0.5);
        var colorBar = plot.Add.ColorBar(heatmap);
        colorBar.Label = "share of the actual class's rows";
        colorBar.LabelStyle.FontSize = TickSize;
        var shares = new ScottPlot.TickGenerators.NumericManual();
        for (int pct = 0; pct <= 100; pct += 25) shares.AddMajor(pct / 100.0, $"{pct}%");
        colorBar.Axis.TickGenerator = shares;

        for (int r = 0; r < k; r++)
            for (int c = 0; c < k; c++)
            {
                var text = plot.Add.Text(counts[r][c].ToString(CultureInfo.InvariantCulture), c, k - 1 - r);
                text.Alignment = Alignment.MiddleCenter;
                text.LabelFontSize = countSize;
                text.LabelBold = r == c;
                // White on dark cells; zeros in grey so the errors that did happen stand out in a large matrix.
                text.LabelFontColor = frac[r, c] > 0.5 ? Colors.White : counts[r][c] == 0 ? Colors.Gray : Colors.Black;
            }

        var bottom = new ScottPlot.TickGenerators.NumericManual();
        var left = new ScottPlot.TickGenerators.NumericManual();
        for (int i = 0; i < k; i++)
        {
            bottom.AddMajor(i, labels[i]);
            left.AddMajor(k - 1 - i, labels[i]);
        }
        plot.Axes.Bottom.TickGenerator = bottom;
        plot.Axes.Left.TickGenerator = left;
        plot.Axes.Bottom.TickLabelStyle.FontSize = labelSize;
        plot.Axes.Left.TickLabelStyle.FontSize = labelSize;
        plot.Axes.SetLimits(-0.5, k - 0.5, -0.5, k - 0.5);

        // Fixed margins measured from the labels, so the data area is exactly k x k cells and nothing is clipped.
        float widest = labels.Select(l => TextWidth(l, labelSize)).DefaultIfEmpty(0).Max();
        float bottomTicks = widest > cell * 0.95f ? RotateBottomTicks(plot, 45, widest, labelSize) : labelSize * 1.4f;
        int leftPad = (int)(widest + 60), bottomPad = (int)(bottomTicks + 45), topPad = 50;
        int rightPad = 130;
        int side = (int)(cell * k);
        // The title is centred over the cells; a small matrix may be narrower than it, so widen both margins.
        int titleOverhang = (int)((TextWidth(title, TitleSize) + 30 - side) / 2);
        leftPad = Math.Max(leftPad, titleOverhang);
        rightPad = Math.Max(rightPad, titleOverhang);
        plot.Layout.Fixed(new PixelPadding(leftPad, rightPad, bottomPad, topPad));
        return Png(plot, leftPad + side + rightPad, topPad + side + bottomPad);
    }

    /// <summary>
    /// Two horizontal bar panels, one row per model (first model on top, names on the left): test macro-F1, and
    /// inference rows per second on a log scale when the fastest is at least 100 times the slowest (as a classic
    /// model usually is next to a transformer). Horizontal bars keep long model names readable.
    /// </summary>
    public static byte[] QualityVsThroughput(IReadOnlyList<ModelRunResult> models)
    {
        int n = models.Count;
        double RowOf(int model) => n - 1 - model;
        using var quality = NewPlot("Test macro-F1 (higher is better)", "macro-F1", "");
        using var speed = NewPlot("Inference throughput on the test set", "", "");

        for (int i = 0; i < n; i++)
        {
            double f1 = models[i].Test.MacroF1;
            HorizontalBar(quality, RowOf(i), double.IsFinite(f1) ? f1 : 0, 0, ColorOf(i), Fmt.Metric(f1));
        }
        // Room right of a full bar for its value label.
        quality.Axes.SetLimitsX(0, 1.2);
        var unit = new ScottPlot.TickGenerators.NumericManual();
        for (int t = 0; t <= 10; t += 2) unit.AddMajor(t / 10.0, (t / 10.0).ToString("0.0", CultureInfo.InvariantCulture));
        quality.Axes.Bottom.TickGenerator = unit;

        var rates = models.Select(m => m.InferenceRowsPerSecond is double r && double.IsFinite(r) && r > 0 ? r : (double?)null).ToArray();
        var known = rates.OfType<double>().ToArray();
        bool log = known.Length > 1 && known.Max() / known.Min() >= 100;
        // On the log scale a bar is log10(rows/s), drawn from the decade below the slowest model (at least 0.3
        // decades below it, so 10 rows/s is not a bar of length 0 at 10).
        double floor = log ? Math.Floor(Math.Log10(known.Min()) - 0.3) : 0;
        double upper = known.Length == 0 ? 1 : log ? Math.Ceiling(Math.Log10(known.Max()) + 0.4) : known.Max() * 1.25;
        for (int i = 0; i < n; i++)
        {
            if (rates[i] is double r)
                HorizontalBar(speed, RowOf(i), log ? Math.Log10(r) : r, floor, ColorOf(i), Fmt.Rate(r));
            else
            {
                var na = speed.Add.Text("n/a", floor, RowOf(i));
                na.Alignment = Alignment.MiddleLeft;
                na.OffsetX = 6;
                na.LabelFontSize = TickSize;
            }
        }
        speed.Axes.SetLimitsX(floor, upper);
        speed.XLabel(log ? "rows per second (log scale)" : "rows per second", AxisLabelSize);
        if (log)
        {
            var ticks = new ScottPlot.TickGenerators.NumericManual();
            for (double d = floor; d <= upper; d++)
            {
                ticks.AddMajor(d, Decade(d));
                if (d < upper)
                    for (int j = 2; j <= 9; j++) ticks.AddMinor(d + Math.Log10(j));
            }
            speed.Axes.Bottom.TickGenerator = ticks;
        }

        // Names on the left of the quality panel only; the throughput panel's rows line up with them.
        var names = new ScottPlot.TickGenerators.NumericManual();
        var blanks = new ScottPlot.TickGenerators.NumericManual();
        for (int i = 0; i < n; i++)
        {
            names.AddMajor(RowOf(i), models[i].Name);
            blanks.AddMajor(RowOf(i), "");
        }
        quality.Axes.Left.TickGenerator = names;
        speed.Axes.Left.TickGenerator = blanks;
        int namesWidth = (int)models.Select(m => TextWidth(m.Name, TickSize)).Max() + 25;
        int dataHeight = Math.Max(200, 60 * n), dataWidth = 420;
        const int top = 50, bottom = 60, right = 30;
        foreach (var (p, left) in new[] { (quality, namesWidth), (speed, 25) })
        {
            p.Axes.SetLimitsY(-0.6, n - 0.4);
            p.HideGrid();
            p.Grid.XAxisStyle.MajorLineStyle.IsVisible = true;
            p.Layout.Fixed(new PixelPadding(left, right, bottom, top));
        }
        return Compose([(quality, namesWidth + dataWidth + right), (speed, 25 + dataWidth + right)], top + dataHeight + bottom, legendFrom: null);
    }

    private static void HorizontalBar(Plot plot, double row, double value, double valueBase, Color color, string label)
    {
        var bar = new Bar
        {
            Position = row,
            Value = value,
            ValueBase = valueBase,
            FillColor = color,
            Size = 0.6,
            Orientation = Orientation.Horizontal,
            ValueLabel = label,
        };
        plot.Add.Bars(new[] { bar }).ValueLabelStyle.FontSize = TickSize;
    }

    private static string Decade(double exponent) => exponent switch
    {
        >= 9 => $"{Math.Pow(10, exponent - 9):0}G",
        >= 6 => $"{Math.Pow(10, exponent - 6):0}M",
        >= 3 => $"{Math.Pow(10, exponent - 3):0}k",
        >= 0 => Math.Pow(10, exponent).ToString("0", CultureInfo.InvariantCulture),
        _ => Math.Pow(10, exponent).ToString("0.###", CultureInfo.InvariantCulture),
    };

    /// <summary>Draws a model's curve through its finite points; false when it has none (the caller draws a level instead).</summary>
    private static bool Curve(Plot plot, IEnumerable<(double X, double Y)> points, Color color, string name)
    {
        var finite = points.Where(p => double.IsFinite(p.X) && double.IsFinite(p.Y)).ToArray();
        if (finite.Length == 0) return false;
        var line = plot.Add.ScatterLine(finite.Select(p => p.X).ToArray(), finite.Select(p => p.Y).ToArray(), color);
        line.LineWidth = 2;
        line.MarkerSize = 7;
        line.MarkerShape = MarkerShape.FilledCircle;
        line.LegendText = name;
        return true;
    }

    private static void Level(Plot plot, double y, Color color, string name)
    {
        if (!double.IsFinite(y)) return;
        var line = plot.Add.HorizontalLine(y, 2, color, LinePattern.Dashed);
        line.LegendText = name;
    }

    /// <summary>Renders the panels side by side on a white canvas, with <paramref name="legendFrom"/>'s legend to their right.</summary>
    private static byte[] Compose(IReadOnlyList<(Plot Plot, int Width)> panels, int height, Plot? legendFrom)
    {
        foreach (var p in panels) Finish(p.Plot);
        using var legend = legendFrom?.GetLegendImage();
        int panelsWidth = panels.Sum(p => p.Width);
        int width = panelsWidth + (legend is null ? 0 : legend.Width + 20);
        using var surface = SKSurface.Create(new SKImageInfo(width, height))
            ?? throw new InvalidOperationException($"Skia could not create a {width}x{height} drawing surface.");
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        using var paint = Paint.NewDisposablePaint();
        // Each panel is rendered to its own image first: Plot.Render onto a shared canvas clears all of it.
        int x = 0;
        foreach (var (plot, panelWidth) in panels)
        {
            using var panel = plot.GetImage(panelWidth, height);
            panel.Render(canvas, new PixelRect(x, x + panelWidth, height, 0), paint, antiAlias: true);
            x += panelWidth;
        }
        if (legend is not null)
        {
            float y = (height - legend.Height) / 2f;
            legend.Render(canvas, new PixelRect(x + 5, x + 5 + legend.Width, y + legend.Height, y), paint, antiAlias: true);
        }
        using var image = surface.Snapshot();
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }
}
