namespace MLNetLlmClassifier.Sweeps;

/// <summary>How a trial ended.</summary>
public enum TrialStatus
{
    /// <summary>Trained to the end and evaluated on the validation set.</summary>
    Completed,
    /// <summary>Stopped early by the pruner; <see cref="TrialRecord.Metric"/> is its last reported value.</summary>
    Pruned,
    /// <summary>Threw (out of memory, non-finite loss, an invalid combination of options...); <see cref="TrialRecord.Error"/> says why.</summary>
    Failed,
}

/// <summary>A value a trial reported while training (for the trainers: an evaluation on the validation set).</summary>
/// <param name="Resource">How far the trial got, in the unit the trial uses: epochs for the trainers.</param>
/// <param name="Value">The metric at that point (same direction as the sweep's metric; for the trainers see <see cref="SweepMetrics.IntermediateValue"/>).</param>
/// <param name="Step">Optimizer step (0 when the trial has none).</param>
public sealed record IntermediateValue(double Resource, double Value, long Step = 0);

/// <summary>One finished trial, as appended to the results file and shown in the leaderboard.</summary>
public sealed record TrialRecord
{
    /// <summary>0-based trial number, in the order trials were started.</summary>
    public required int TrialId { get; init; }

    /// <summary>The trial's candidate (trainer) and hyperparameters.</summary>
    public required TrialParameters Parameters { get; init; }

    /// <summary>The candidate (trainer) the trial ran.</summary>
    public string Candidate => Parameters.Candidate;

    /// <summary>How it ended.</summary>
    public required TrialStatus Status { get; init; }

    /// <summary>The sweep's metric: on the validation set when completed, the last reported value when pruned, null when failed before any report.</summary>
    public double? Metric { get; init; }

    /// <summary>Every multiclass metric of a completed trial (MicroAccuracy, MacroAccuracy, LogLoss, LogLossReduction, MacroF1, TopKAccuracy) by name.</summary>
    public IReadOnlyDictionary<string, double> Metrics { get; init; } = new Dictionary<string, double>();

    /// <summary>Values reported while training, in order (the learning curve the pruner saw).</summary>
    public IReadOnlyList<IntermediateValue> Reports { get; init; } = Array.Empty<IntermediateValue>();

    /// <summary>How far it got: the resource (epochs) of its last report, or null when it reported nothing.</summary>
    public double? Resource => Reports.Count == 0 ? null : Reports[^1].Resource;

    /// <summary>The optimizer step of its last report, or null.</summary>
    public long? Step => Reports.Count == 0 ? null : Reports[^1].Step;

    /// <summary>Wall-clock seconds the trial ran.</summary>
    public double Seconds { get; init; }

    /// <summary>Why it failed (exception type and message) or was pruned; null when completed.</summary>
    public string? Error { get; init; }

    /// <summary>When it started (UTC).</summary>
    public DateTimeOffset StartedUtc { get; init; }

    /// <summary>
    /// The metric oriented so that higher is better (negated when the metric is minimized), or null when there is none.
    /// </summary>
    public double? Score(bool maximize) => Metric is { } m && double.IsFinite(m) ? (maximize ? m : -m) : null;
}
