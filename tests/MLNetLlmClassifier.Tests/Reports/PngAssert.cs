using System.Buffers.Binary;
using SkiaSharp;

namespace MLNetLlmClassifier.Tests.Reports;

/// <summary>Checks on the PNG charts the reports write.</summary>
internal static class PngAssert
{
    /// <summary>
    /// Checks the PNG signature and IHDR size, decodes the whole image and checks it is not blank and that data is drawn: at least
    /// <paramref name="minColouredSamples"/> coloured pixels among every other pixel of every other row (0 for a chart with no data).
    /// </summary>
    public static (int Width, int Height) IsChart(string path, int minColouredSamples = 20)
    {
        byte[] bytes = File.ReadAllBytes(path);
        CollectionAssert.AreEqual(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, bytes[..8], $"{path} has no PNG signature");
        Assert.AreEqual("IHDR", System.Text.Encoding.ASCII.GetString(bytes, 12, 4));
        int width = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16)), height = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(20));
        using var bitmap = SKBitmap.Decode(bytes);
        Assert.IsNotNull(bitmap, $"{path} does not decode");
        Assert.AreEqual((width, height), (bitmap.Width, bitmap.Height));
        // Text and axes make dark pixels; a chart that failed to draw is white.
        int dark = 0;
        for (int y = 0; y < bitmap.Height; y += 2)
            for (int x = 0; x < bitmap.Width; x += 2)
                if (bitmap.GetPixel(x, y) is { Red: < 80, Green: < 80, Blue: < 80 }) dark++;
        Assert.IsGreaterThan(200, dark, $"{path} looks blank");
        // The data (curves, bars, markers, heatmap cells) is drawn in colour; axes, grid and text are grey or black. A chart whose data
        // failed to draw has its axes only, so it must also have enough saturated pixels.
        int coloured = 0;
        for (int y = 0; y < bitmap.Height; y += 2)
            for (int x = 0; x < bitmap.Width; x += 2)
                if (Saturation(bitmap.GetPixel(x, y)) >= 60) coloured++;
        Assert.IsGreaterThanOrEqualTo(minColouredSamples, coloured, $"{path} has axes but no data drawn in colour ({coloured} coloured samples)");
        return (width, height);
    }

    private static int Saturation(SKColor c) => Math.Max(c.Red, Math.Max(c.Green, c.Blue)) - Math.Min(c.Red, Math.Min(c.Green, c.Blue));

    /// <summary>How many pixels of the image are within <paramref name="tolerance"/> (per channel) of the colour <paramref name="hex"/> ("#rrggbb").</summary>
    public static int PixelsNear(string path, string hex, int tolerance = 30)
    {
        var target = SKColor.Parse(hex);
        using var bitmap = SKBitmap.Decode(path);
        return bitmap.Pixels.Count(c =>
            Math.Abs(c.Red - target.Red) <= tolerance && Math.Abs(c.Green - target.Green) <= tolerance && Math.Abs(c.Blue - target.Blue) <= tolerance);
    }
}
