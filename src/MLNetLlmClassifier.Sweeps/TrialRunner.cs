using Microsoft.ML;

namespace MLNetLlmClassifier.Sweeps;

/// <summary>
/// Runs one trial: trains with <see cref="TrialContext.Parameters"/>, calls <see cref="TrialContext.Report"/> at each
/// evaluation, stops with <see cref="OperationCanceledException"/> when <see cref="TrialContext.CancellationToken"/> is
/// cancelled (the pruner or the sweep's budget), and returns the final metric. Anything else it throws fails the trial
/// (recorded with the reason; the sweep goes on). Trials run one after another on the sweep's thread.
/// </summary>
public interface ITrialRunner
{
    /// <summary>Runs the trial.</summary>
    Task<TrialOutcome> RunAsync(TrialContext trial);
}

/// <summary>The result of a trial that ran to the end.</summary>
/// <param name="Metric">The sweep's metric on the validation set.</param>
public sealed record TrialOutcome(double Metric)
{
    /// <summary>The fitted model, or null (synthetic objectives). The sweep keeps the best one and disposes the others.</summary>
    public ITransformer? Model { get; init; }

    /// <summary>What to dispose when this trial is not (or no longer) the best; default the model if it is disposable.</summary>
    public IDisposable? Resources { get; init; }

    /// <summary>Every metric by name, for the leaderboard; default just the sweep's metric.</summary>
    public IReadOnlyDictionary<string, double>? Metrics { get; init; }
}

/// <summary>A trial in progress: its parameters, the report callback the pruner listens to, and its cancellation.</summary>
public sealed class TrialContext
{
    private readonly List<IntermediateValue> _reports = new();
    private readonly Func<TrialContext, bool> _shouldPrune;
    private readonly CancellationTokenSource _prune;

    internal TrialContext(int trialId, TrialParameters parameters, int seed, Func<TrialContext, bool> shouldPrune,
        Action<TrialContext, IntermediateValue>? onReport, CancellationToken sweepToken)
    {
        TrialId = trialId;
        Parameters = parameters;
        Seed = seed;
        _shouldPrune = shouldPrune;
        OnReport = onReport;
        _prune = CancellationTokenSource.CreateLinkedTokenSource(sweepToken);
        SweepToken = sweepToken;
    }

    /// <summary>0-based trial number.</summary>
    public int TrialId { get; }

    /// <summary>The hyperparameters to train with.</summary>
    public TrialParameters Parameters { get; }

    /// <summary>A training seed for trainers whose options leave it unset (the same for every trial: trials differ by their parameters only).</summary>
    public int Seed { get; }

    /// <summary>Cancelled when the pruner stops this trial or the sweep is cancelled or out of time: stop and throw <see cref="OperationCanceledException"/>.</summary>
    public CancellationToken CancellationToken => _prune.Token;

    /// <summary>Whether the pruner stopped this trial.</summary>
    public bool IsPruned { get; private set; }

    /// <summary>The values reported so far.</summary>
    public IReadOnlyList<IntermediateValue> Reports => _reports;

    internal CancellationToken SweepToken { get; }

    internal Action<TrialContext, IntermediateValue>? OnReport { get; }

    /// <summary>
    /// Reports the metric after <paramref name="resource"/> units of training (epochs for the trainers). The pruner decides
    /// at once; when it stops the trial, <see cref="CancellationToken"/> is cancelled and this returns true.
    /// Reports after that are ignored.
    /// </summary>
    public bool Report(double resource, double value, long step = 0)
    {
        if (IsPruned) return true;
        if (!double.IsFinite(resource))
            throw new ArgumentOutOfRangeException(nameof(resource), resource, "A trial must report a finite resource (e.g. epochs).");
        if (_reports.Count > 0 && resource < _reports[^1].Resource)
            throw new ArgumentOutOfRangeException(nameof(resource), resource, $"Trial {TrialId} reported resource {resource} after {_reports[^1].Resource}: reports must not go back.");
        var report = new IntermediateValue(resource, value, step);
        _reports.Add(report);
        OnReport?.Invoke(this, report);
        if (!_prune.IsCancellationRequested && _shouldPrune(this))
        {
            IsPruned = true;
            _prune.Cancel();
        }
        return IsPruned;
    }

    internal void Dispose() => _prune.Dispose();
}

/// <summary>An <see cref="ITrialRunner"/> from a delegate: the way to sweep a synthetic objective or any custom training code.</summary>
public sealed class DelegateTrialRunner : ITrialRunner
{
    private readonly Func<TrialContext, Task<TrialOutcome>> _run;

    /// <summary>Wraps an asynchronous trial function.</summary>
    public DelegateTrialRunner(Func<TrialContext, Task<TrialOutcome>> run) => _run = run ?? throw new ArgumentNullException(nameof(run));

    /// <summary>Wraps a synchronous trial function.</summary>
    public DelegateTrialRunner(Func<TrialContext, TrialOutcome> run)
    {
        ArgumentNullException.ThrowIfNull(run);
        _run = t => Task.FromResult(run(t));
    }

    /// <inheritdoc/>
    public Task<TrialOutcome> RunAsync(TrialContext trial) => _run(trial);
}
