using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using MLNetLlmClassifier.Cli.Scoring;

namespace MLNetLlmClassifier.Cli.Commands;

/// <summary>
/// <c>mlnet-llm predict</c>: classify one text (<c>--text</c>), or score a whole file (<c>--input</c> CSV/TSV/JSONL,
/// <c>--output</c> in the same format) in batches through the model.
/// </summary>
internal static class PredictCommand
{
    public sealed class Input
    {
        public string Label { get; set; } = "";
        public string Text { get; set; } = "";
    }

    public sealed class PairInput
    {
        public string Label { get; set; } = "";
        public string Text { get; set; } = "";
        public string Text2 { get; set; } = "";
    }

    public sealed class Output
    {
        public string PredictedLabel { get; set; } = "";
        public float[] Score { get; set; } = Array.Empty<float>();
    }

    /// <summary>Seconds between progress lines while a file is scored.</summary>
    private const double ProgressIntervalSeconds = 2;

    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Trained ML.NET model (.zip).", Required = true };
        var text = new Option<string?>("--text") { Description = "The text to classify (or --input for a file)." };
        var text2 = new Option<string?>("--text2") { Description = "Second text, for sentence-pair models." };
        var input = new Option<string?>("--input") { Description = "A file to score: CSV, TSV or JSON Lines (.jsonl). Columns as in training (the model remembers them; --text-column overrides)." };
        var output = new Option<string?>("--output") { Description = "Where to write the scored file (with --input): the input's columns plus predicted_label and p_<class> (JSON Lines: predicted_label and probabilities). Written atomically." };
        var data = new CliCommon.DataOptions();
        var cmd = new Command("predict", "Classify a text, or score a CSV/TSV/JSONL file in batches, with a trained model.");
        foreach (var o in new Option[] { model, text, text2, input, output }) cmd.Options.Add(o);
        data.AddTo(cmd);
        cmd.SetAction(r => CliCommon.Run(r, () =>
        {
            string modelPath = r.GetValue(model)!;
            if (r.GetValue(input) is { } inputPath)
            {
                if (r.GetValue(text) is not null) throw new ArgumentException("Give either --text or --input, not both.");
                string outputPath = r.GetValue(output) ?? throw new ArgumentException("--input needs --output (the file to write).");
                CliCommon.CheckOutputFile(outputPath, "--output");
                if (string.Equals(Path.GetFullPath(inputPath), Path.GetFullPath(outputPath), StringComparison.Ordinal))
                    throw new ArgumentException($"--output {outputPath} is the input file: give another path.");
                var columns = data.Read(r, ModelFile.ReadColumns(modelPath));
                using var scorer = ModelScorer.Load(modelPath);
                var file = ScoringFile.Read(inputPath, columns, scorer.TakesPairs);
                ScoreFile(scorer, file, outputPath, Console.Error);
                return 0;
            }
            string one = r.GetValue(text) ?? throw new ArgumentException("Give --text (one text) or --input (a file to score).");
            using (var scorer = ModelScorer.Load(modelPath))
            {
                if (r.GetValue(text2) is null && scorer.TakesPairs) throw new ArgumentException("The model takes text pairs: give --text2 too.");
                var o = scorer.Score([new TextPair(one, scorer.TakesPairs ? r.GetValue(text2) : null)])[0];
                Console.WriteLine($"PredictedLabel: {o.Label}");
                foreach (var (name, p) in scorer.ClassNames.Zip(o.Probabilities).OrderByDescending(x => x.Second))
                    Console.WriteLine($"  {p.ToString("F4", CultureInfo.InvariantCulture)}  {name}");
            }
            return 0;
        }));
        return cmd;
    }

    /// <summary>Scores every row of <paramref name="file"/> in batches, reporting progress and rows/s, and writes the results atomically.</summary>
    internal static void ScoreFile(ModelScorer scorer, ScoringFile file, string outputPath, TextWriter log)
    {
        var sw = Stopwatch.StartNew();
        double lastReport = 0;
        var results = new List<ScoredText>(file.Rows.Count);
        foreach (var scored in scorer.ScoreAll(file.Rows))
        {
            results.Add(scored);
            double now = sw.Elapsed.TotalSeconds;
            if (now - lastReport >= ProgressIntervalSeconds && results.Count < file.Rows.Count)
            {
                lastReport = now;
                log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"[{DateTime.Now:HH:mm:ss}] scored {results.Count}/{file.Rows.Count} rows ({results.Count / now:F1} rows/s, about {(file.Rows.Count - results.Count) / (results.Count / now):F0} s left)"));
            }
        }
        double seconds = sw.Elapsed.TotalSeconds;
        file.Write(outputPath, scorer.ClassNames, results);
        log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Scored {results.Count} rows of {file.Source} in {seconds:F1} s ({results.Count / Math.Max(seconds, 1e-9):F1} rows/s); wrote {outputPath}."));
    }
}
