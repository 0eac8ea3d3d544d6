using System.Globalization;
using System.Text;

namespace MLNetLlmClassifier.Reports;

/// <summary>Aligned tables as plain text or Markdown (first column left-aligned, the others right-aligned).</summary>
internal static class TextTable
{
    /// <summary>Renders rows; the first row is the header. A row with a single cell is a section heading.</summary>
    public static string Render(IReadOnlyList<string[]> rows, bool markdown)
    {
        int cols = rows[0].Length;
        var full = rows.Select(r => r.Length == 1 ? [r[0], .. Enumerable.Repeat("", cols - 1)] : r).ToList();
        if (markdown)
            full = full.Select((r, i) => rows[i].Length == 1 ? [$"**{r[0]}**", .. r[1..]] : r.Select(Escape).ToArray()).ToList();
        var width = Enumerable.Range(0, cols).Select(c => full.Max(r => r[c].Length)).ToArray();
        string Cell(string s, int c) => c == 0 ? s.PadRight(width[c]) : s.PadLeft(width[c]);

        var sb = new StringBuilder();
        for (int i = 0; i < full.Count; i++)
        {
            var cells = full[i].Select(Cell);
            sb.Append(markdown ? "| " + string.Join(" | ", cells) + " |" : string.Join("  ", cells).TrimEnd()).Append('\n');
            if (i > 0) continue;
            var rules = Enumerable.Range(0, cols).Select(c => markdown && c > 0 ? new string('-', width[c] - 1) + ":" : new string('-', width[c]));
            sb.Append(markdown ? "| " + string.Join(" | ", rules) + " |" : string.Join("  ", rules)).Append('\n');
        }
        return sb.ToString();
    }

    private static string Escape(string s) => s.Replace("|", "\\|", StringComparison.Ordinal);
}

/// <summary>Number formats shared by the tables and chart labels; "n/a" for missing or non-finite values.</summary>
internal static class Fmt
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>A metric in [0, 1] or a log-loss, four decimals.</summary>
    public static string Metric(double? v) => v is double d && double.IsFinite(d) ? d.ToString("F4", Inv) : "n/a";

    /// <summary>Seconds as "0.42 s", "12.3 s", "12.5 min" or "2.3 h".</summary>
    public static string Duration(double? seconds)
    {
        if (seconds is not double s || !double.IsFinite(s)) return "n/a";
        return s switch
        {
            < 10 => $"{s.ToString("F2", Inv)} s",
            < 120 => $"{s.ToString("F1", Inv)} s",
            < 7200 => $"{(s / 60).ToString("F1", Inv)} min",
            _ => $"{(s / 3600).ToString("F1", Inv)} h",
        };
    }

    /// <summary>A rate as "12,345", "123.4" or "1.23".</summary>
    public static string Rate(double? v)
    {
        if (v is not double d || !double.IsFinite(d)) return "n/a";
        return d switch
        {
            >= 1000 => d.ToString("N0", Inv),
            >= 10 => d.ToString("F1", Inv),
            _ => d.ToString("F2", Inv),
        };
    }

    /// <summary>Memory in MiB, "1,234 MiB".</summary>
    public static string Memory(double? mib) => mib is double m && double.IsFinite(m) ? $"{m.ToString("N0", Inv)} MiB" : "n/a";

    /// <summary>A count as "596.0M", "1.23B", "12.3k" or "812".</summary>
    public static string Count(long? n) => n switch
    {
        null => "n/a",
        >= 1_000_000_000 => $"{(n.Value / 1e9).ToString("F2", Inv)}B",
        >= 1_000_000 => $"{(n.Value / 1e6).ToString("F1", Inv)}M",
        >= 1_000 => $"{(n.Value / 1e3).ToString("F1", Inv)}k",
        _ => n.Value.ToString(Inv),
    };

    /// <summary>An integer with thousands separators.</summary>
    public static string Int(long n) => n.ToString("N0", Inv);
}
