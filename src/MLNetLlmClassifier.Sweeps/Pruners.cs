namespace MLNetLlmClassifier.Sweeps;

/// <summary>What a pruner sees when a running trial reports a value.</summary>
public sealed class PruningContext
{
    /// <summary>The running trial's parameters.</summary>
    public required TrialParameters Parameters { get; init; }

    /// <summary>The running trial's reports so far; the last one is new.</summary>
    public required IReadOnlyList<IntermediateValue> Reports { get; init; }

    /// <summary>Every finished trial (with its reports), in trial order.</summary>
    public required IReadOnlyList<TrialRecord> History { get; init; }

    /// <summary>Whether the metric is maximized.</summary>
    public required bool Maximize { get; init; }
}

/// <summary>
/// Decides at each intermediate report whether a running trial should stop. Pruners here are functions of the
/// history and the running trial's reports (no hidden state), so a resumed sweep prunes as the uninterrupted one would.
/// </summary>
public interface IPruner
{
    /// <summary>True to stop the trial now; it is then recorded as <see cref="TrialStatus.Pruned"/>.</summary>
    bool ShouldPrune(PruningContext context);
}

/// <summary>Never prunes.</summary>
public sealed class NoPruner : IPruner
{
    /// <inheritdoc/>
    public bool ShouldPrune(PruningContext context) => false;
}

/// <summary>
/// Asynchronous successive halving (ASHA, Li et al. 2020) in its stopping form, as Optuna's SuccessiveHalvingPruner:
/// rungs sit at resources <c>MinResource × ReductionFactor^k</c> (epochs for the trainers). When a trial first reaches a
/// rung, its value there is ranked against the values every earlier trial had at that rung; unless it is among the top
/// 1/<see cref="ReductionFactor"/> of them it stops. So with the default factor 3, a third of the trials go past the first
/// rung, a ninth past the second, and the losers spend only MinResource of training.
/// </summary>
/// <remarks>
/// Trials run one after another, so a rung needs <see cref="MinTrialsPerRung"/> values (the new one included) before
/// it prunes anything: the first trials always run to the end and set the bar. A report that jumps over several rungs
/// is checked at each of them, lowest first. A trial's value at a rung is its first report at or past the rung, so trials
/// evaluated at the same intervals compare like with like. NaN or infinite values rank last.
/// </remarks>
public sealed class SuccessiveHalvingPruner : IPruner
{
    /// <summary>Creates the pruner.</summary>
    /// <param name="minResource">The first rung, in the trials' resource unit (epochs for the trainers). Default 0.25.</param>
    /// <param name="reductionFactor">η: one in η trials is promoted past each rung. Default 3.</param>
    /// <param name="minTrialsPerRung">Values needed at a rung before it prunes. Default 3.</param>
    public SuccessiveHalvingPruner(double minResource = 0.25, double reductionFactor = 3, int minTrialsPerRung = 3)
    {
        if (!(minResource > 0) || !double.IsFinite(minResource))
            throw new ArgumentOutOfRangeException(nameof(minResource), minResource, "The first rung must be a positive resource (epochs).");
        if (!(reductionFactor > 1) || !double.IsFinite(reductionFactor))
            throw new ArgumentOutOfRangeException(nameof(reductionFactor), reductionFactor, "The reduction factor must be greater than 1.");
        if (minTrialsPerRung < 2)
            throw new ArgumentOutOfRangeException(nameof(minTrialsPerRung), minTrialsPerRung, "A rung needs at least 2 values to compare.");
        MinResource = minResource;
        ReductionFactor = reductionFactor;
        MinTrialsPerRung = minTrialsPerRung;
    }

    /// <summary>The first rung (epochs for the trainers).</summary>
    public double MinResource { get; }

    /// <summary>η: rungs are η times apart, and the top 1/η at a rung go on.</summary>
    public double ReductionFactor { get; }

    /// <summary>Values needed at a rung (the running trial's included) before it prunes.</summary>
    public int MinTrialsPerRung { get; }

    /// <summary>Compare only with trials of the same candidate (trainer): learning curves of different models differ in shape. Default true.</summary>
    public bool SameCandidateOnly { get; init; } = true;

    private const double Tolerance = 1e-9;

    /// <summary>The resource of rung k.</summary>
    public double Rung(int k) => MinResource * Math.Pow(ReductionFactor, k);

    /// <inheritdoc/>
    public bool ShouldPrune(PruningContext context)
    {
        var reports = context.Reports;
        if (reports.Count == 0) return false;
        double now = reports[^1].Resource;
        double before = reports.Count > 1 ? reports[^2].Resource : double.NegativeInfinity;
        var peers = context.History
            .Where(r => !SameCandidateOnly || r.Candidate == context.Parameters.Candidate)
            .Select(r => r.Reports).Where(r => r.Count > 0).ToList();
        for (int k = 0; Rung(k) <= now * (1 + Tolerance); k++)
        {
            double rung = Rung(k);
            if (before >= rung * (1 - Tolerance)) continue; // this rung was passed (and checked) at an earlier report
            double mine = Score(reports[^1].Value, context.Maximize);
            var others = peers.Select(r => ValueAt(r, rung)).Where(v => v is not null).Select(v => Score(v!.Value, context.Maximize)).ToList();
            if (others.Count + 1 < MinTrialsPerRung) continue;
            int keep = Math.Max(1, (int)Math.Floor((others.Count + 1) / ReductionFactor));
            int better = others.Count(o => o > mine); // ties favour the running trial
            if (better >= keep) return true;
        }
        return false;
    }

    private static double? ValueAt(IReadOnlyList<IntermediateValue> reports, double rung)
    {
        foreach (var r in reports)
            if (r.Resource >= rung * (1 - Tolerance)) return r.Value;
        return null;
    }

    private static double Score(double value, bool maximize) =>
        double.IsFinite(value) ? (maximize ? value : -value) : double.NegativeInfinity;
}
