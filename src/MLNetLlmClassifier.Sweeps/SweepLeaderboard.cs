using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using MLNetLlmClassifier.IO;

namespace MLNetLlmClassifier.Sweeps;

/// <summary>
/// The trials of a sweep ranked best first (completed by metric, then pruned by how far they got and their last value,
/// then failed), as JSON and Markdown: each trial's trainer, parameters, metric, time and how far it got.
/// </summary>
public sealed class SweepLeaderboard
{
    /// <summary>Ranks the trials.</summary>
    public SweepLeaderboard(IEnumerable<TrialRecord> trials, SweepMetric metric)
    {
        ArgumentNullException.ThrowIfNull(trials);
        Metric = metric;
        Ranked = Rank(trials, metric.IsMaximized());
    }

    /// <summary>The metric.</summary>
    public SweepMetric Metric { get; }

    /// <summary>The trials, best first.</summary>
    public IReadOnlyList<TrialRecord> Ranked { get; }

    /// <summary>The best completed trial, or null when none completed.</summary>
    public TrialRecord? Best => Ranked.FirstOrDefault(r => r.Status == TrialStatus.Completed && r.Metric is { } m && double.IsFinite(m));

    /// <summary>Finished trials best first: completed by score, then pruned by how far they got and their last score, then failed.</summary>
    public static IReadOnlyList<TrialRecord> Rank(IEnumerable<TrialRecord> trials, bool maximize) =>
        trials.OrderBy(r => Group(r, maximize))
            .ThenByDescending(r => r.Status == TrialStatus.Completed ? 0 : r.Resource ?? 0)
            .ThenByDescending(r => r.Score(maximize) ?? double.NegativeInfinity)
            .ThenBy(r => r.TrialId)
            .ToList();

    private static int Group(TrialRecord r, bool maximize) =>
        r.Score(maximize) is null || r.Status == TrialStatus.Failed ? 2 : r.Status == TrialStatus.Completed ? 0 : 1;

    /// <summary>The leaderboard as JSON.</summary>
    public JsonObject ToJson()
    {
        var trials = new JsonArray();
        int rank = 1;
        foreach (var r in Ranked)
        {
            var o = SweepResultsFile.ToJson(r);
            o.Remove("kind");
            o.Remove("reports");
            var ordered = new JsonObject { ["rank"] = rank++ };
            foreach (var (k, v) in o.ToList())
            {
                o.Remove(k);
                ordered[k] = v;
            }
            trials.Add(ordered);
        }
        return new JsonObject
        {
            ["metric"] = Metric.ToString(),
            ["maximize"] = Metric.IsMaximized(),
            ["bestTrialId"] = Best?.TrialId,
            ["completed"] = Ranked.Count(r => r.Status == TrialStatus.Completed),
            ["pruned"] = Ranked.Count(r => r.Status == TrialStatus.Pruned),
            ["failed"] = Ranked.Count(r => r.Status == TrialStatus.Failed),
            ["totalSeconds"] = Math.Round(Ranked.Sum(r => r.Seconds), 3),
            ["trials"] = trials,
        };
    }

    /// <summary>The leaderboard as a Markdown document with one table row per trial.</summary>
    public string ToMarkdown()
    {
        var ci = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine("# Sweep leaderboard").AppendLine();
        sb.AppendLine(ci, $"Metric: **{Metric}** ({(Metric.IsMaximized() ? "higher" : "lower")} is better), on the validation set. " +
                          $"{Ranked.Count} trials: {Ranked.Count(r => r.Status == TrialStatus.Completed)} completed, " +
                          $"{Ranked.Count(r => r.Status == TrialStatus.Pruned)} pruned, {Ranked.Count(r => r.Status == TrialStatus.Failed)} failed; " +
                          $"{Ranked.Sum(r => r.Seconds):F1} s in trials.");
        if (Best is { } best)
            sb.AppendLine().AppendLine(ci, $"Best: trial {best.TrialId} ({best.Candidate}), {Metric} {best.Metric!.Value:F4}: {Escape(best.Parameters.ToString())}.");
        sb.AppendLine();
        var names = Ranked.SelectMany(r => r.Parameters.Keys).Distinct(StringComparer.Ordinal).ToList();
        sb.Append("| rank | trial | trainer | status | ").Append(Metric).Append(" | reached | time (s) |");
        foreach (var n in names) sb.Append(' ').Append(Escape(n)).Append(" |");
        sb.AppendLine();
        sb.Append("|---:|---:|---|---|---:|---|---:|");
        foreach (var _ in names) sb.Append("---|");
        sb.AppendLine();
        int rank = 1;
        foreach (var r in Ranked)
        {
            string metric = r.Status != TrialStatus.Failed && r.Metric is { } m && double.IsFinite(m) ? m.ToString("F4", ci) + (r.Status == TrialStatus.Pruned ? " †" : "") : "–";
            string reached = r.Resource is { } res ? $"epoch {res.ToString("0.##", ci)}, step {r.Step}" : r.Status == TrialStatus.Completed ? "end" : "–";
            sb.Append(ci, $"| {rank++} | {r.TrialId} | {Escape(r.Candidate)} | {r.Status.ToString().ToLowerInvariant()} | {metric} | {reached} | {r.Seconds:F1} |");
            foreach (var n in names) sb.Append(' ').Append(r.Parameters.ContainsKey(n) ? Escape(Shorten(r.Parameters.Format(n))) : "").Append(" |");
            sb.AppendLine();
        }
        if (Ranked.Any(r => r.Status == TrialStatus.Pruned))
            sb.AppendLine().AppendLine("† pruned: the last value reported before the pruner stopped the trial (the training loop's evaluation; see docs/sweeps.md for the metric it stands for).");
        var failed = Ranked.Where(r => r.Status == TrialStatus.Failed).ToList();
        if (failed.Count > 0)
        {
            sb.AppendLine().AppendLine("## Failed trials").AppendLine();
            foreach (var r in failed) sb.AppendLine(ci, $"- trial {r.TrialId} ({Escape(r.Candidate)}): {Escape(r.Error ?? "unknown error")}");
        }
        return sb.ToString();
    }

    /// <summary>Writes <c>leaderboard.json</c> and <c>leaderboard.md</c> into <paramref name="folder"/>, each atomically.</summary>
    public void Write(string folder)
    {
        Directory.CreateDirectory(folder);
        var json = ToJson().ToJsonString(new JsonSerializerOptions { WriteIndented = true });
        AtomicFile.WriteAllBytes(Path.Combine(folder, "leaderboard.json"), Encoding.UTF8.GetBytes(json + "\n"));
        AtomicFile.WriteAllBytes(Path.Combine(folder, "leaderboard.md"), Encoding.UTF8.GetBytes(ToMarkdown()));
    }

    private static string Shorten(string s) => s.Length <= 40 ? s : s[..37] + "...";

    private static string Escape(string s) => s.Replace("\\", "\\\\").Replace("|", "\\|").Replace("\r", " ").Replace("\n", " ");
}
