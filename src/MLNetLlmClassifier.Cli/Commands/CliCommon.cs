using System.CommandLine;
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
            LabelNames = r.GetValue(LabelNames) is { } names ? ParseLabelNames(names) : null,
        };

        private static Dictionary<string, string> ParseLabelNames(string list)
        {
            var map = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var item in list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                int eq = item.IndexOf('=');
                if (eq <= 0 || eq == item.Length - 1)
                    throw new ArgumentException($"--label-names: '{item}' is not of the form label=name.");
                if (!map.TryAdd(item[..eq].Trim(), item[(eq + 1)..].Trim()))
                    throw new ArgumentException($"--label-names: label '{item[..eq].Trim()}' is given twice.");
            }
            return map;
        }
    }

    /// <summary>Runs a command body, turning expected failures into one clear line on stderr and exit code 1.</summary>
    public static int Run(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("Cancelled; nothing was written.");
            return 130;
        }
        catch (Exception e) when (e is ArgumentException or InvalidDataException or FormatException or FileNotFoundException
                                      or DirectoryNotFoundException or InvalidOperationException or IOException
                                      or Training.TrainingDivergedException or Checkpoints.CheckpointMismatchException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
    }

    /// <summary>Saves an ML.NET model atomically: a temporary file in the same folder, then a rename.</summary>
    public static void SaveModelAtomically(MLContext ml, ITransformer model, DataViewSchema schema, string path)
    {
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var tmp = full + $".tmp-{Guid.NewGuid():N}";
        try
        {
            ml.Model.Save(model, schema, tmp);
            File.Move(tmp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
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
