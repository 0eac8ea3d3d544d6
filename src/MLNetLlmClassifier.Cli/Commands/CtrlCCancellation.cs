using MLNetLlmClassifier.IO;

namespace MLNetLlmClassifier.Cli.Commands;

/// <summary>
/// Ctrl-C for a long command: the first press cancels <see cref="Token"/>, and the command stops at its next safe point
/// (between training steps, between sweep trials, or at the next write of a model being saved, whose earlier file then
/// stays as it was); a second press exits at once, after deleting the temporary files and folders this process is writing
/// (<see cref="TempArtifacts.DeleteTracked"/>; anything a kill leaves is removed by the next run). Dispose to unhook.
/// </summary>
internal sealed class CtrlCCancellation : IDisposable
{
    private readonly CancellationTokenSource _cts;
    private readonly TextWriter _log;
    private int _presses;

    private CtrlCCancellation(TextWriter log, bool hook, CancellationToken linked)
    {
        _cts = CancellationTokenSource.CreateLinkedTokenSource(linked);
        _log = log;
        if (hook) Console.CancelKeyPress += OnCancelKeyPress;
        Hooked = hook;
    }

    private bool Hooked { get; }

    /// <summary>Cancelled by the first Ctrl-C.</summary>
    internal CancellationToken Token => _cts.Token;

    /// <summary>Hooks Ctrl-C for the life of the result; messages go to stderr.</summary>
    internal static CtrlCCancellation Hook(CancellationToken linked = default) => new(Console.Error, hook: true, linked);

    /// <summary>An instance that is not hooked to the console, for tests (press it with <see cref="Press"/>).</summary>
    internal static CtrlCCancellation ForTest(TextWriter log) => new(log, hook: false, CancellationToken.None);

    private void OnCancelKeyPress(object? sender, ConsoleCancelEventArgs e) => e.Cancel = Press();

    /// <summary>
    /// One press of Ctrl-C. Returns true when the process should go on (the first press: the token is cancelled) and false
    /// when it should end now (a later press: temporary files are deleted first; the runtime then ends the process).
    /// </summary>
    internal bool Press()
    {
        if (Interlocked.Increment(ref _presses) == 1)
        {
            _log.WriteLine("Ctrl-C: stopping at the next safe point (files already written stay as they were); press Ctrl-C again to exit at once.");
            _cts.Cancel();
            return true;
        }
        _log.WriteLine("Ctrl-C again: exiting now.");
        TempArtifacts.DeleteTracked();
        return false;
    }

    public void Dispose()
    {
        if (Hooked) Console.CancelKeyPress -= OnCancelKeyPress;
        _cts.Dispose();
    }
}
