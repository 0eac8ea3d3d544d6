using System.Diagnostics;
using MLNetLlmClassifier.Training;
using Spectre.Console;

namespace MLNetLlmClassifier.Cli.Commands;

/// <summary>
/// Live progress of the compare job: one Spectre.Console bar per model (step, loss, rows/s, ETA) on a
/// terminal, plain timestamped log lines when the output is redirected or under CI.
/// </summary>
internal abstract class CompareProgress
{
    public static bool Interactive =>
        !Console.IsOutputRedirected && !CliCommon.LoggingToFile && Environment.GetEnvironmentVariable("CI") is null && AnsiConsole.Profile.Capabilities.Interactive;

    /// <summary>Width of the bar itself: 40 columns on a wide terminal, down to 10 so that an 80-column one keeps bar and ETA on one line.</summary>
    internal static int BarWidth(int consoleWidth) => Math.Clamp(consoleWidth - 62, 10, 40);

    /// <summary>Room for a task's description beside the bar, percentage, elapsed and remaining time and spinner.</summary>
    internal static int DescriptionWidth(int consoleWidth) => Math.Max(16, consoleWidth - BarWidth(consoleWidth) - 40);

    /// <summary><paramref name="text"/> cut to <paramref name="width"/> characters (an ellipsis marks the cut).</summary>
    internal static string Fit(string text, int width) => text.Length <= width ? text : text[..(width - 1)] + "…";

    /// <summary>Runs <paramref name="body"/> with the progress display appropriate to the console.</summary>
    public static T Run<T>(IReadOnlyList<string> models, Func<CompareProgress, T> body)
    {
        if (!Interactive) return body(new Plain());
        T result = default!;
        int width = AnsiConsole.Profile.Width;
        AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn { Width = BarWidth(width) }, new PercentageColumn(),
                     new ElapsedTimeColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx => result = body(new Live(ctx, models, DescriptionWidth(width))));
        return result;
    }

    /// <summary>A model starts (preparing data, building its checkpoint, tokenising).</summary>
    public abstract void Begin(string model, string what);

    /// <summary>A training progress report of the model.</summary>
    public abstract void Report(string model, TrainingProgress p);

    /// <summary>The model is done (trained and evaluated).</summary>
    public abstract void End(string model, string summary);

    /// <summary>A free-form line.</summary>
    public abstract void Log(string line);

    private sealed class Plain : CompareProgress
    {
        private static void Write(string line) => Console.WriteLine($"[{DateTime.Now:HH:mm:ss}] {line}");
        public override void Begin(string model, string what) => Write($"{model}: {what}");
        public override void Report(string model, TrainingProgress p)
        {
            if (p.Kind == TrainingEventKind.Step && p.Step != 1 && p.Step % 20 != 0 && p.Step != p.TotalSteps) return;
            Write($"{model}: {p.Message}");
        }
        public override void End(string model, string summary) => Write($"{model}: {summary}");
        public override void Log(string line) => Write(line);
    }

    private sealed class Live : CompareProgress
    {
        private readonly ProgressContext _ctx;
        private readonly Dictionary<string, ProgressTask> _tasks = new();
        private readonly int _width;

        public Live(ProgressContext ctx, IReadOnlyList<string> models, int width)
        {
            _ctx = ctx;
            _width = width;
            foreach (var m in models)
                _tasks[m] = ctx.AddTask(Text($"{m}: waiting"), autoStart: false, maxValue: 1);
        }

        private string Text(string description) => Markup.Escape(Fit(description, _width));

        public override void Begin(string model, string what)
        {
            var t = _tasks[model];
            t.Description = Text($"{model}: {what}");
            if (!t.IsStarted) t.StartTask();
        }

        public override void Report(string model, TrainingProgress p)
        {
            if (p.Kind is TrainingEventKind.Plan or TrainingEventKind.Warning)
            {
                Log($"{model}: {p.Message}");
                return;
            }
            var t = _tasks[model];
            if (p.TotalSteps > 0) { t.MaxValue = p.TotalSteps; t.Value = p.Step; }
            t.Description = p.Kind switch
            {
                TrainingEventKind.Step => Text($"{model}: {p.Step}/{p.TotalSteps} loss {p.Loss:F3} {p.RowsPerSecond:F0} rows/s"),
                TrainingEventKind.Evaluation => Text($"{model}: eval F1 {p.Evaluation!.MacroF1:F3} at {p.Step}"),
                _ => t.Description,
            };
            _ctx.Refresh();
        }

        public override void End(string model, string summary)
        {
            var t = _tasks[model];
            t.Description = Text($"{model}: {summary}");
            t.Value = t.MaxValue;
            t.StopTask();
        }

        public override void Log(string line) => AnsiConsole.MarkupLine(Markup.Escape(line));
    }
}

/// <summary>Samples the process working set in the background, to report a model's peak memory.</summary>
internal sealed class MemorySampler : IDisposable
{
    private readonly Timer _timer;
    private long _peak;

    public MemorySampler()
    {
        _peak = Current();
        _timer = new Timer(_ => Sample(), null, 0, 100);
    }

    private static long Current()
    {
        using var p = Process.GetCurrentProcess();
        return p.WorkingSet64;
    }

    private void Sample()
    {
        long now = Current();
        long seen;
        do { seen = Interlocked.Read(ref _peak); } while (now > seen && Interlocked.CompareExchange(ref _peak, now, seen) != seen);
    }

    /// <summary>Highest working set seen so far, in MiB.</summary>
    public double PeakMiB
    {
        get { Sample(); return Interlocked.Read(ref _peak) / (1024.0 * 1024); }
    }

    public void Dispose() => _timer.Dispose();
}
