using System.CommandLine;
using System.Diagnostics;
using Microsoft.ML;
using MLNetLlmClassifier.Data;

namespace MLNetLlmClassifier.Cli.Commands;

/// <summary><c>mlnet-llm train</c>: fine-tunes a trainer on a CSV/TSV file and saves the ML.NET pipeline (.zip).</summary>
internal static class TrainCommand
{
    public static Command Create()
    {
        var trainer = new Option<string>("--trainer") { Description = "bert or qwen3 (the prompted decoder). Default bert.", DefaultValueFactory = _ => "bert" };
        var model = new Option<string>("--model") { Description = "Hugging Face model folder (see init-model for a random one).", Required = true };
        var train = new Option<string>("--train") { Description = "Training data: CSV or TSV.", Required = true };
        var valid = new Option<string?>("--valid") { Description = "Optional validation data, same columns." };
        var output = new Option<string>("--out") { Description = "Where to write the trained ML.NET model (.zip).", Required = true };
        var data = new CliCommon.DataOptions();
        var hyper = new TrainerOptionsCli();
        var cmd = new Command("train", "Fine-tune a text classifier and save the ML.NET model.");
        foreach (var o in new Option[] { trainer, model, train, valid, output }) cmd.Options.Add(o);
        data.AddTo(cmd);
        hyper.AddTo(cmd);
        cmd.SetAction(r => CliCommon.Run(() =>
        {
            var fileOptions = data.Read(r);
            var trainTable = TextClassificationFile.Load(r.GetValue(train)!, fileOptions);
            var validTable = r.GetValue(valid) is { } v ? TextClassificationFile.Load(v, fileOptions) : null;
            var options = ClassifierPipeline.NewOptions(r.GetValue(trainer)!, r.GetValue(model)!, trainTable.HasText2);
            hyper.Apply(r, options);
            options.Progress = CliCommon.ConsoleProgress("");
            using var cts = CancelOnCtrlC();
            options.CancellationToken = cts.Token;
            var ml = new MLContext(seed: options.Seed);
            Console.WriteLine($"Training {r.GetValue(trainer)} on {trainTable.Count} rows of {trainTable.Source}" +
                              (validTable is null ? "" : $", validating on {validTable.Count} rows") + ".");
            var sw = Stopwatch.StartNew();
            var (pipeline, classifier) = ClassifierPipeline.Fit(ml, r.GetValue(trainer)!, options, trainTable, validTable);
            using (classifier)
            {
                CliCommon.SaveModelAtomically(ml, pipeline, trainTable.ToDataView(ml).Schema, r.GetValue(output)!);
                var s = classifier.TrainingSummary!;
                Console.WriteLine($"Trained in {sw.Elapsed.TotalSeconds:F1} s ({s.Steps} steps, {s.RowsPerSecond:F1} rows/s); saved {r.GetValue(output)}.");
                if (s.Best is { } best) Console.WriteLine($"Best validation: macro-F1 {best.MacroF1:F4}, accuracy {best.Accuracy:F4} at step {best.Step}.");
            }
            return 0;
        }));
        return cmd;
    }

    /// <summary>Ctrl+C cancels training cleanly (nothing is written) instead of killing the process.</summary>
    internal static CancellationTokenSource CancelOnCtrlC()
    {
        var cts = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) => { e.Cancel = true; cts.Cancel(); };
        return cts;
    }
}
