using ScottPlot;

namespace MLNetLlmClassifier.Reports;

/// <summary>
/// What every chart of the reports shares: font sizes, an installed sans-serif font, new plots with titled axes,
/// text measurement, turned tick labels and PNG encoding.
/// </summary>
internal static class ChartStyle
{
    public const float TitleSize = 18, AxisLabelSize = 15, TickSize = 13;

    /// <summary>
    /// A sans-serif font that is installed. ScottPlot's own choice falls back to whatever Skia finds first
    /// (DejaVu Serif on a bare Debian), and asking Skia for a missing family silently gives another one, so each
    /// candidate is checked by the family it really resolves to.
    /// </summary>
    public static readonly Lazy<string> SansFont = new(() =>
        new[] { "DejaVu Sans", "Liberation Sans", "Arial", "Helvetica", "Noto Sans", "Segoe UI", "Open Sans" }
            .FirstOrDefault(name => string.Equals(Fonts.GetTypeface(name, false, false)?.FamilyName, name, StringComparison.OrdinalIgnoreCase))
        ?? Fonts.Default);

    /// <summary>Applies the font to every label of a finished plot (call after all plottables are added).</summary>
    public static Plot Finish(Plot plot)
    {
        plot.Font.Set(SansFont.Value);
        plot.Legend.FontName = SansFont.Value;
        return plot;
    }

    /// <summary>A plot with its title, axis labels and tick sizes set.</summary>
    public static Plot NewPlot(string title, string xLabel, string yLabel)
    {
        var plot = new Plot();
        plot.Title(title, TitleSize);
        plot.XLabel(xLabel, AxisLabelSize);
        plot.YLabel(yLabel, AxisLabelSize);
        plot.Axes.Bottom.TickLabelStyle.FontSize = TickSize;
        plot.Axes.Left.TickLabelStyle.FontSize = TickSize;
        return plot;
    }

    /// <summary>A boxed note at the top centre of the data area (e.g. why a chart is empty).</summary>
    public static void Note(Plot plot, string text)
    {
        var note = plot.Add.Annotation(text, Alignment.UpperCenter);
        note.LabelFontSize = TickSize;
        // Annotations do not follow the plot's font (Finish), so it is set here.
        note.LabelFontName = SansFont.Value;
        note.LabelBackgroundColor = Colors.White;
        note.LabelBorderColor = Colors.Gray;
        note.LabelShadowColor = Colors.Transparent;
    }

    /// <summary>Pixel width of a string in <see cref="SansFont"/>.</summary>
    public static float TextWidth(string text, float size)
    {
        var style = new LabelStyle { FontName = SansFont.Value, FontSize = size };
        using var paint = Paint.NewDisposablePaint();
        return style.Measure(text, paint).Width;
    }

    /// <summary>
    /// Turns the bottom tick labels by <paramref name="degrees"/> (hanging down to the left of their tick, their
    /// top right corner at the tick) and moves the axis label below them; returns the height the turned labels take.
    /// </summary>
    public static float RotateBottomTicks(Plot plot, float degrees, float widest, float size)
    {
        var axis = plot.Axes.Bottom;
        axis.TickLabelStyle.Rotation = -degrees;
        axis.TickLabelStyle.Alignment = Alignment.UpperRight;
        double radians = degrees * Math.PI / 180;
        float height = (float)(widest * Math.Sin(radians) + size * Math.Cos(radians)) + 4;
        // ScottPlot measures the axis with unturned labels and puts its label right under that height.
        if (axis is ScottPlot.AxisPanels.AxisBase panel)
        {
            var pad = panel.PaddingBetweenTickAndAxisLabels;
            panel.PaddingBetweenTickAndAxisLabels = new PixelPadding(pad.Left, pad.Right, pad.Bottom + height - size * 1.2f, pad.Top);
        }
        return height;
    }

    /// <summary>The finished plot as PNG bytes.</summary>
    public static byte[] Png(Plot plot, int width, int height) => Finish(plot).GetImageBytes(width, height, ImageFormat.Png);
}
