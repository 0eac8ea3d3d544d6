using System.CommandLine;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.Json;
using Microsoft.ML;
using MLNetLlmClassifier.Data;

namespace MLNetLlmClassifier.Cli.Commands;

/// <summary>Options and helpers several commands share.</summary>
internal static class CliCommon
{
    /// <summary>The data-file options: which columns hold the label and the text.</summary>
    internal sealed class DataOptions
    {
        public readonly Option<string> LabelColumn = new("--label-column")
        { Description = "Label column: 0-based index or header name. Default 0 (AG News).", DefaultValueFactory = _ => "0" };
        public readonly Option<string> TextColumn = new("--text-column")
        { Description = "Text column(s): indexes or header names, comma-separated; several are joined with a space. Default 1,2 (AG News title, description).", DefaultValueFactory = _ => "1,2" };
        public readonly Option<string?> Text2Column = new("--text2-column")
        { Description = "Optional second text column for sentence pairs." };
        public readonly Option<bool?> HasHeader = new("--has-header")
        { Description = "Whether the first row is a header. Default: auto (a header when columns are named)." };
        public readonly Option<string?> LabelNames = new("--label-names")
        { Description = "Rename labels as written in the file, e.g. 1=World,2=Sports,3=Business,4=Sci/Tech (every label must be listed)." };

        public void AddTo(Command c)
        {
            c.Options.Add(LabelColumn);
            c.Options.Add(TextColumn);
            c.Options.Add(Text2Column);
            c.Options.Add(HasHeader);
            c.Options.Add(LabelNames);
        }

        public TextFileOptions Read(ParseResult r) => new()
        {
            LabelColumn = r.GetValue(LabelColumn)!,
            TextColumns = TextFileOptions.ParseColumnList(r.GetValue(TextColumn)!),
            Sentence2Column = r.GetValue(Text2Column),
            HasHeader = r.GetValue(HasHeader),
            LabelNames = r.GetValue(LabelNames) is { } names ? Configuration.OptionsBinder.ParseMap(names, "--label-names") : null,
        };

        /// <summary>
        /// The options as given, each one not given on the command line taken from <paramref name="remembered"/> (the columns a
        /// saved model was trained with, <see cref="ModelFile.ReadColumns"/>) when there is one.
        /// </summary>
        public TextFileOptions Read(ParseResult r, TextFileOptions? remembered)
        {
            var given = Read(r);
            if (remembered is null) return given;
            bool Given(Option o) => r.GetResult(o) is { Implicit: false };
            return new TextFileOptions
            {
                LabelColumn = Given(LabelColumn) ? given.LabelColumn : remembered.LabelColumn,
                TextColumns = Given(TextColumn) ? given.TextColumns : remembered.TextColumns,
                Sentence2Column = Given(Text2Column) ? given.Sentence2Column : remembered.Sentence2Column,
                HasHeader = Given(HasHeader) ? given.HasHeader : remembered.HasHeader,
                LabelNames = Given(LabelNames) ? given.LabelNames : remembered.LabelNames,
            };
        }

        /// <summary>Whether any of the column options was given on the command line.</summary>
        public bool AnyGiven(ParseResult r) =>
            new Option[] { LabelColumn, TextColumn, Text2Column, HasHeader, LabelNames }.Any(o => r.GetResult(o) is { Implicit: false });
    }

    /// <summary>The global <c>--verbose</c> option (on the root command, recursive): print the stack trace of a failure.</summary>
    public static readonly Option<bool> Verbose = new("--verbose")
    {
        Description = "On failure, print the full exception with its stack trace after the one-line error (also: environment variable MLNETLLM_VERBOSE=1).",
        Recursive = true,
    };

    /// <summary>The global <c>--log-file</c> option: everything printed also goes to this file, and progress is plain timestamped lines.</summary>
    public static readonly Option<string?> LogFile = new("--log-file")
    {
        Description = "Also write everything the command prints to this file (appended); progress is then plain timestamped lines instead of a live bar.",
        Recursive = true,
    };

    /// <summary>Whether a <c>--log-file</c> is being written (progress is then plain lines, which read well in a file).</summary>
    public static bool LoggingToFile { get; private set; }

    /// <summary>Environment variable that turns on <see cref="Verbose"/> when set to 1 or true.</summary>
    public const string VerboseVariable = "MLNETLLM_VERBOSE";

    /// <summary>Longest error line printed (the rest is in the --verbose output).</summary>
    private const int MaxErrorLine = 4000;

    /// <summary>Runs a command body inside the CLI's error boundary (see <see cref="Run(bool, Func{int}, string)"/>), verbose as the parse result says.</summary>
    public static int Run(ParseResult r, Func<int> body)
    {
        if (r.GetValue(LogFile) is not { } path) return Run(r.GetValue(Verbose), body);
        StreamWriter file;
        try
        {
            file = new StreamWriter(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read)) { AutoFlush = true };
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            Console.Error.WriteLine($"error: --log-file {path} cannot be written: {OneLine(e.Message)}");
            return 1;
        }
        var (stdout, stderr) = (Console.Out, Console.Error);
        using (file)
        {
            Console.SetOut(new TeeWriter(stdout, file));
            Console.SetError(new TeeWriter(stderr, file));
            LoggingToFile = true;
            try
            {
                file.WriteLine($"[{DateTime.Now:yyyy-MM-dd HH:mm:ss}] mlnet-llm {string.Join(' ', r.Tokens.Select(t => t.Value))}");
                return Run(r.GetValue(Verbose), body);
            }
            finally
            {
                LoggingToFile = false;
                Console.SetOut(stdout);
                Console.SetError(stderr);
            }
        }
    }

    /// <summary>Writes to two writers (the console and the log file).</summary>
    private sealed class TeeWriter(TextWriter first, TextWriter second) : TextWriter
    {
        public override System.Text.Encoding Encoding => first.Encoding;
        public override void Write(char value) { first.Write(value); second.Write(value); }
        public override void Write(string? value) { first.Write(value); second.Write(value); }
        public override void WriteLine(string? value) { first.WriteLine(value); second.WriteLine(value); }
        public override void Flush() { first.Flush(); second.Flush(); }
    }

    /// <summary>As <see cref="Run(ParseResult, Func{int})"/>, with the line printed when the command is cancelled.</summary>
    public static int Run(ParseResult r, string cancelledMessage, Func<int> body) => Run(r.GetValue(Verbose), body, cancelledMessage);

    /// <summary>What a cancelled command says unless it says otherwise.</summary>
    internal const string DefaultCancelledMessage = "Cancelled; nothing was written (an existing output file is unchanged).";

    /// <summary>
    /// The CLI's one error boundary: runs a command body and turns any failure into one line <c>error: ...</c> on stderr
    /// and exit code 1 (130 for a cancellation). Wrappers (TargetInvocationException, AggregateException,
    /// TypeInitializationException) are unwrapped to their cause first. The full exception with its stack trace follows
    /// only when <paramref name="verbose"/> is true or the environment variable MLNETLLM_VERBOSE is 1.
    /// </summary>
    public static int Run(bool verbose, Func<int> body, string cancelledMessage = DefaultCancelledMessage)
    {
        ArgumentNullException.ThrowIfNull(body);
        try
        {
            return body();
        }
        catch (Exception caught)
        {
            var e = Unwrap(caught);
            if (e is OperationCanceledException)
            {
                Console.Error.WriteLine(cancelledMessage);
                return 130;
            }
            Console.Error.WriteLine(ErrorLine(e));
            if (verbose || Environment.GetEnvironmentVariable(VerboseVariable) is "1" or "true" or "TRUE" or "True")
                Console.Error.WriteLine(caught.ToString());
            return 1;
        }
    }

    /// <summary>The cause of a wrapped failure: inner exceptions of reflection, type initialisers and single-cause aggregates.</summary>
    internal static Exception Unwrap(Exception e)
    {
        for (int depth = 0; depth < 32; depth++)
        {
            Exception? inner = e switch
            {
                TargetInvocationException or TypeInitializationException => e.InnerException,
                AggregateException a => a.Flatten().InnerExceptions.FirstOrDefault(),
                _ => null,
            };
            if (inner is null) break;
            e = inner;
        }
        return e;
    }

    /// <summary>One line for an exception: "error: " and its message with line breaks folded; a kind for runtime failures.</summary>
    internal static string ErrorLine(Exception e)
    {
        string message = e switch
        {
            // TorchSharp's native errors carry the C++ backtrace after the first line.
            ExternalException => $"native error (TorchSharp): {FirstLine(e.Message)}",
            OutOfMemoryException => $"out of memory: {OneLine(e.Message)}",
            OverflowException => $"arithmetic overflow (a value too large for its type): {OneLine(e.Message)}",
            ArgumentException or InvalidDataException or FormatException or IOException or UnauthorizedAccessException
                or InvalidOperationException or NotSupportedException or Hub.HubException or Checkpoints.CheckpointMismatchException
                or Training.TrainingDivergedException or JsonException => OneLine(e.Message),
            // Anything else is a bug or an unexpected failure: name its type so that it can be reported.
            _ => $"{e.GetType().Name}: {OneLine(e.Message)}",
        };
        if (message.Length > MaxErrorLine) message = message[..MaxErrorLine] + " ... (--verbose prints all)";
        return "error: " + message;
    }

    /// <summary>Lines joined by "; ", or by a space after a line that ends with ':' (a heading such as "missing (2):").</summary>
    private static string OneLine(string message)
    {
        var sb = new System.Text.StringBuilder();
        foreach (var line in message.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0))
        {
            if (sb.Length > 0) sb.Append(sb[^1] == ':' ? " " : "; ");
            sb.Append(line);
        }
        return sb.ToString();
    }

    private static string FirstLine(string message) =>
        message.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.Length > 0) ?? "";

    /// <summary>
    /// Checks, before any work, that a file can be written at <paramref name="path"/> (given by <paramref name="option"/>):
    /// not an existing folder, and its nearest existing folder writable. Nothing is created.
    /// </summary>
    /// <exception cref="ArgumentException">One line naming the option and the path.</exception>
    public static void CheckOutputFile(string path, string option)
    {
        string full = FullPath(path, option);
        if (Directory.Exists(full))
            throw new ArgumentException($"{option} {path} is an existing folder: give the path of the file to write, e.g. {Path.Combine(path, "model.zip")}.");
        CheckWritable(Path.GetDirectoryName(full) ?? full, path, option);
    }

    /// <summary>
    /// Checks, before any work, that a folder can be written at <paramref name="path"/> (given by <paramref name="option"/>):
    /// not an existing file, and its parent (or nearest existing ancestor) writable. Nothing is created.
    /// </summary>
    /// <exception cref="ArgumentException">One line naming the option and the path.</exception>
    public static void CheckOutputFolder(string path, string option)
    {
        string full = FullPath(path, option);
        if (File.Exists(full))
            throw new ArgumentException($"{option} {path} is an existing file: give a folder.");
        CheckWritable(Path.GetDirectoryName(full) ?? full, path, option);
    }

    private static string FullPath(string path, string option)
    {
        if (string.IsNullOrWhiteSpace(path)) throw new ArgumentException($"{option} is empty.");
        try
        {
            return Path.GetFullPath(path);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw new ArgumentException($"{option} {path} is not a valid path: {e.Message}", e);
        }
    }

    /// <summary>The nearest existing ancestor of <paramref name="folder"/> must be a folder where a file can be created.</summary>
    private static void CheckWritable(string folder, string path, string option)
    {
        string? dir = folder;
        while (dir is not null && !Directory.Exists(dir))
        {
            if (File.Exists(dir))
                throw new ArgumentException($"{option} {path}: {dir} is a file, not a folder.");
            dir = Path.GetDirectoryName(dir);
        }
        if (dir is null)
            throw new ArgumentException($"{option} {path}: no folder of that path exists.");
        var probe = Path.Combine(dir, $".mlnetllm-write-test-{Guid.NewGuid():N}");
        try
        {
            using (new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose)) { }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ArgumentException($"{option} {path}: the folder {dir} is not writable ({OneLine(e.Message)}).", e);
        }
    }

    /// <summary>
    /// Saves an ML.NET model atomically (<see cref="IO.AtomicFile"/>: a temporary file in the same folder, flushed to disk,
    /// then one rename). Cancelling <paramref name="ct"/> (Ctrl-C) stops the save at its next write; the earlier file stays.
    /// <paramref name="columns"/>, when given, records the data-file columns the model was trained with (see <see cref="ModelFile.ColumnsEntry"/>).
    /// </summary>
    public static void SaveModelAtomically(MLContext ml, ITransformer model, DataViewSchema schema, string path, TextFileOptions? columns = null, CancellationToken ct = default)
    {
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        IO.AtomicFile.Write(full, s => ml.Model.Save(model, schema, s),
            columns is null ? null : tmp => ModelFile.WriteColumns(tmp, columns), ct);
    }

    /// <summary>
    /// Takes an exclusive lock on an output file for as long as it is written (<c>&lt;path&gt;.lock</c> next to it, removed
    /// on release; a lock left by a killed process does not block).
    /// </summary>
    /// <exception cref="IOException">Another process (or command) writes the same file: one line naming the option, the file and the owner.</exception>
    public static IO.ExclusiveFileLock LockOutputFile(string path, string option)
    {
        var full = Path.GetFullPath(path);
        return IO.ExclusiveFileLock.Acquire(full + ".lock", (owner, lockFile) =>
            $"{option} {path} is being written by another process ({owner}; lock file {lockFile}): wait for it to finish or choose another {option}.",
            deleteOnRelease: true);
    }

    /// <summary>Prints what looked wrong in the data files (<see cref="TextClassificationTable.Warnings"/>) to stderr, one line each.</summary>
    public static void PrintWarnings(params TextClassificationTable?[] tables)
    {
        foreach (var t in tables)
            foreach (var w in t?.Warnings ?? [])
                Console.Error.WriteLine("warning: " + w);
    }

    /// <summary>Prints progress lines with a timestamp (plain text, suitable for logs and CI).</summary>
    public static IProgress<Training.TrainingProgress> ConsoleProgress(string prefix, int everySteps = 10) =>
        new InlineProgress<Training.TrainingProgress>(p =>
        {
            if (p.Kind == Training.TrainingEventKind.Step && p.Step != 1 && p.Step % everySteps != 0 && p.Step != p.TotalSteps) return;
            Console.WriteLine($"[{DateTime.Now:HH:mm:ss}] {prefix}{p.Message}");
        });

    /// <summary>IProgress that reports on the calling thread (Progress&lt;T&gt; posts to the thread pool and reorders lines).</summary>
    internal sealed class InlineProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
