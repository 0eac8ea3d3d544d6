using System.Globalization;

namespace MLNetLlmClassifier.Sweeps;

/// <summary>Hears what a sweep does, as it happens (on the sweep's thread). Every method has an empty default.</summary>
public interface ISweepMonitor
{
    /// <summary>A trial starts.</summary>
    void TrialStarted(int trialId, TrialParameters parameters) { }

    /// <summary>A running trial reported a value (before the pruner decides).</summary>
    void TrialReported(int trialId, IntermediateValue value) { }

    /// <summary>A trial finished and was appended to the results; <paramref name="isBest"/> when it is the new best.</summary>
    void TrialFinished(TrialRecord record, bool isBest) { }

    /// <summary>Anything else worth a line: resuming, budget reached, a dropped partial line...</summary>
    void Message(string message) { }
}

/// <summary>Writes one line per trial event to a <see cref="TextWriter"/> (e.g. Console.Out).</summary>
public sealed class TextWriterSweepMonitor : ISweepMonitor
{
    private readonly TextWriter _writer;

    /// <summary>Creates the monitor.</summary>
    public TextWriterSweepMonitor(TextWriter writer) => _writer = writer ?? throw new ArgumentNullException(nameof(writer));

    /// <inheritdoc/>
    public void TrialStarted(int trialId, TrialParameters parameters) => _writer.WriteLine($"trial {trialId} start: {parameters}");

    /// <inheritdoc/>
    public void TrialFinished(TrialRecord record, bool isBest) => _writer.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"trial {record.TrialId} {record.Status.ToString().ToLowerInvariant()}: metric {(record.Metric is { } m ? m.ToString("F4", CultureInfo.InvariantCulture) : "-")}" +
        $"{(record.Resource is { } e ? $" at epoch {e:0.##} (step {record.Step})" : "")}, {record.Seconds:F1} s{(isBest ? " (best so far)" : "")}{(record.Error is null ? "" : " - " + record.Error)}"));

    /// <inheritdoc/>
    public void Message(string message) => _writer.WriteLine(message);
}

/// <summary>
/// Draws the charts of a sweep (metric against trial, and each parameter against the metric) as PNG files. The core
/// library only prepares the data (<see cref="SweepChartData"/>); a renderer lives where the chart library does
/// (MLNetLlmClassifier.Reports) and is given to <see cref="SweepExperiment.SetChartRenderer"/>.
/// </summary>
public interface ISweepChartRenderer
{
    /// <summary>Writes the charts into <paramref name="folder"/> and returns the files written.</summary>
    IReadOnlyList<string> Render(SweepChartData data, string folder);
}

/// <summary>One trial's point on a parameter-versus-metric chart.</summary>
/// <param name="TrialId">The trial.</param>
/// <param name="X">The parameter's value for numeric dimensions; the choice's index for choices.</param>
/// <param name="Label">The value as text (a choice's label).</param>
/// <param name="Metric">The trial's metric (the last reported value for pruned trials).</param>
/// <param name="Status">How the trial ended (charts usually mark pruned trials apart).</param>
public sealed record ParameterPoint(int TrialId, double X, string Label, double Metric, TrialStatus Status);

/// <summary>The points of one parameter of one candidate.</summary>
/// <param name="Candidate">The candidate (trainer).</param>
/// <param name="Name">The parameter.</param>
/// <param name="Dimension">Its search dimension (log scale, choice labels...).</param>
/// <param name="Points">One per trial of the candidate that has a metric.</param>
public sealed record ParameterSeries(string Candidate, string Name, SearchDimension Dimension, IReadOnlyList<ParameterPoint> Points);

/// <summary>What the sweep charts show, ready to plot.</summary>
public sealed class SweepChartData
{
    /// <summary>Prepares the chart data of the finished trials.</summary>
    public SweepChartData(IReadOnlyList<TrialRecord> trials, SweepMetric metric)
    {
        ArgumentNullException.ThrowIfNull(trials);
        Metric = metric;
        Trials = trials.OrderBy(t => t.TrialId).ToList();
        bool max = metric.IsMaximized();
        var best = new List<(int, double)>();
        double? running = null;
        foreach (var t in Trials.Where(t => t.Status == TrialStatus.Completed && t.Metric is { } m && double.IsFinite(m)))
        {
            double m = t.Metric!.Value;
            if (running is null || (max ? m > running : m < running)) running = m;
            best.Add((t.TrialId, running.Value));
        }
        BestSoFar = best;
        Parameters = Trials.GroupBy(t => t.Candidate)
            .SelectMany(g => g.First().Parameters.Space.Select(d => new ParameterSeries(g.Key, d.Name, d,
                g.Where(t => t.Metric is { } m && double.IsFinite(m))
                 .Select(t => new ParameterPoint(t.TrialId, PositionOf(d, t.Parameters[d.Name]), t.Parameters.Format(d.Name), t.Metric!.Value, t.Status))
                 .ToList())))
            .ToList();
    }

    /// <summary>The metric.</summary>
    public SweepMetric Metric { get; }

    /// <summary>Every finished trial, in trial order (metric against trial: plot <see cref="TrialRecord.Metric"/> by status).</summary>
    public IReadOnlyList<TrialRecord> Trials { get; }

    /// <summary>The best completed metric so far after each completed trial (the usual optimisation trace).</summary>
    public IReadOnlyList<(int TrialId, double Metric)> BestSoFar { get; }

    /// <summary>Each parameter of each candidate against the metric.</summary>
    public IReadOnlyList<ParameterSeries> Parameters { get; }

    /// <summary>
    /// Where a value of <paramref name="dimension"/> sits on its chart axis (<see cref="ParameterPoint.X"/>): the value itself for
    /// numeric dimensions, the choice's index for choices (e.g. to place a trial that has no metric).
    /// </summary>
    public static double PositionOf(SearchDimension dimension, object? value)
    {
        ArgumentNullException.ThrowIfNull(dimension);
        return dimension is ChoiceDimension c ? c.IndexOf(value) : Convert.ToDouble(value, CultureInfo.InvariantCulture);
    }
}
