using System.Diagnostics;
using System.Globalization;
using System.Text;
using TorchSharp;

namespace MLNetLlmClassifier.Torch;

/// <summary>
/// Where the time of training steps and scoring batches goes: the models, the training loop and the scorers mark their
/// phases (embedding, attention, MLP, norms, LM head, loss, backward, optimizer, ...) and, while a profiler is started on
/// the current thread, each phase's <b>exclusive</b> wall time (its own time minus that of the phases nested in it) is
/// summed. When no profiler is started a phase mark costs one thread-static read.
/// </summary>
/// <remarks>
/// On CUDA the device is synchronised at every phase boundary while profiling (kernels run asynchronously), so a profiled
/// run is slower than an unprofiled one; on the CPU, operations are synchronous and the overhead is a stopwatch read.
/// <code>
/// using var profiler = StepProfiler.Start(torch.CPU);
/// var model = pipeline.Fit(train);
/// Console.WriteLine(profiler.Format());
/// </code>
/// </remarks>
public sealed class StepProfiler : IDisposable
{
    [ThreadStatic] private static StepProfiler? t_current;

    private readonly Dictionary<string, (double Seconds, long Count)> _totals = new();
    private readonly Stack<(string Name, long Start, double Children)> _open = new();
    private readonly torch.Device? _syncDevice;
    private readonly StepProfiler? _previous;
    private int _skip;
    private bool _disposed;

    private StepProfiler(torch.Device? device, int skipSteps)
    {
        _syncDevice = device is { type: DeviceType.CUDA } ? device : null;
        _skip = skipSteps;
        _previous = t_current;
        t_current = this;
    }

    /// <summary>The phase that wraps a model's whole forward pass: its exclusive time is what no finer phase claims (residual adds, reshapes, dispose scopes).</summary>
    public const string UnattributedForward = "forward, unattributed (residuals, reshapes)";

    /// <summary>Starts recording the phases run on the current thread until disposed.</summary>
    /// <param name="device">The device the work runs on (CUDA is synchronised at phase boundaries); null for the CPU.</param>
    /// <param name="skipSteps">Training steps and scoring batches whose phases are not counted (warm-up: first-call allocations, kernel selection). Default 1.</param>
    public static StepProfiler Start(torch.Device? device = null, int skipSteps = 1)
    {
        if (skipSteps < 0) throw new ArgumentOutOfRangeException(nameof(skipSteps), skipSteps, "skipSteps must be >= 0.");
        return new StepProfiler(device, skipSteps);
    }

    /// <summary>Whether a profiler records on the current thread (callers may skip work that only feeds the profile).</summary>
    public static bool IsActive => t_current is not null;

    /// <summary>Marks a phase until the returned value is disposed; free when no profiler is started.</summary>
    public static Phase Measure(string name) => t_current is { } p ? p.Open(name) : default;

    /// <summary>Marks the end of one unit of work (a training step, a scoring batch) named <paramref name="kind"/>: counted, or skipped as warm-up.</summary>
    public static void EndOf(string kind)
    {
        var p = t_current;
        if (p is null) return;
        p.Sync();
        if (p._skip > 0)
        {
            p._skip--;
            p._totals.Clear();
            return;
        }
        var (s, c) = p._totals.GetValueOrDefault("#" + kind);
        p._totals["#" + kind] = (s, c + 1);
    }

    /// <summary>The number of units of <paramref name="kind"/> counted (after the skipped warm-up).</summary>
    public long Count(string kind) => _totals.GetValueOrDefault("#" + kind).Count;

    /// <summary>Exclusive seconds per phase, summed over the counted units, largest first.</summary>
    public IReadOnlyList<(string Phase, double Seconds, long Calls)> Phases =>
        _totals.Where(kv => !kv.Key.StartsWith('#')).Select(kv => (kv.Key, kv.Value.Seconds, kv.Value.Count))
            .OrderByDescending(x => x.Seconds).ToList();

    /// <summary>
    /// A table of the phases: milliseconds per <paramref name="kind"/> (training "step" or scoring "batch") and share of the
    /// profiled time, largest first.
    /// </summary>
    public string Format(string kind)
    {
        long n = Math.Max(1, Count(kind));
        var phases = Phases;
        double total = phases.Sum(p => p.Seconds);
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"{"phase",-34} {"ms/" + kind,10} {"share",7} {"calls/" + kind,11}");
        foreach (var (phase, seconds, calls) in phases)
            sb.AppendLine(CultureInfo.InvariantCulture, $"{phase,-34} {1000 * seconds / n,10:F2} {seconds / Math.Max(total, 1e-12),7:P1} {(double)calls / n,11:F1}");
        sb.Append(CultureInfo.InvariantCulture, $"{"total (" + Count(kind) + " " + kind + "s counted)",-34} {1000 * total / n,10:F2}");
        return sb.ToString();
    }

    private Phase Open(string name)
    {
        Sync();
        _open.Push((name, Stopwatch.GetTimestamp(), 0));
        return new Phase(this);
    }

    private void Close()
    {
        Sync();
        var (name, start, children) = _open.Pop();
        double elapsed = Stopwatch.GetElapsedTime(start).TotalSeconds;
        var (s, c) = _totals.GetValueOrDefault(name);
        _totals[name] = (s + elapsed - children, c + 1);
        if (_open.Count > 0)
        {
            var parent = _open.Pop();
            _open.Push((parent.Name, parent.Start, parent.Children + elapsed));
        }
    }

    private void Sync()
    {
        if (_syncDevice is not null) torch.cuda.synchronize(_syncDevice);
    }

    /// <summary>Stops recording on this thread (the figures stay readable).</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (t_current == this) t_current = _previous;
    }

    /// <summary>A phase being measured; disposing it ends the phase.</summary>
    public readonly struct Phase : IDisposable
    {
        private readonly StepProfiler? _owner;

        internal Phase(StepProfiler owner) => _owner = owner;

        /// <summary>Ends the phase.</summary>
        public void Dispose() => _owner?.Close();
    }
}
