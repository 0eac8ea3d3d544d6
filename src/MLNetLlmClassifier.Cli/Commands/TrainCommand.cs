using System.CommandLine;
using System.Diagnostics;
using Microsoft.ML;
using MLNetLlmClassifier.Data;
using MLNetLlmClassifier.Families;

namespace MLNetLlmClassifier.Cli.Commands;

/// <summary><c>mlnet-llm train</c>: fine-tunes a trainer on a CSV/TSV file and saves the ML.NET pipeline (.zip).</summary>
internal static class TrainCommand
{
    // The CLI's families (CliFamilies) are registered before anything here looks a family up.
    static TrainCommand() => CliFamilies.EnsureRegistered();

    public static Command Create()
    {
        var trainer = new Option<string>("--trainer") { Description = $"The model family: {ClassifierFamilies.Names} (aliases such as qwen3 work too). Default bert.", DefaultValueFactory = _ => "bert" };
        var model = new Option<string?>("--model") { Description = "Hugging Face model folder (see init-model for a random one); families trained from a checkpoint need it." };
        var train = new Option<string>("--train") { Description = "Training data: CSV or TSV.", Required = true };
        var valid = new Option<string?>("--valid") { Description = "Optional validation data, same columns." };
        var output = new Option<string>("--out") { Description = "Where to write the trained ML.NET model (.zip).", Required = true };
        var data = new CliCommon.DataOptions();
        var flags = new OptionFlagsCli();
        var settings = new OptionSettingsCli();
        var cmd = new Command("train", "Fine-tune a text classifier and save the ML.NET model.");
        foreach (var o in new Option[] { trainer, model, train, valid, output }) cmd.Options.Add(o);
        data.AddTo(cmd);
        flags.AddTo(cmd);
        settings.AddTo(cmd);
        cmd.SetAction(r => CliCommon.Run(r, () =>
        {
            // Before anything else: a bad --out must not cost a training run.
            CliCommon.CheckOutputFile(r.GetValue(output)!, "--out");
            // One writer per --out: a second train (or demo) on the same file fails here, before it trains.
            using var outLock = CliCommon.LockOutputFile(r.GetValue(output)!, "--out");
            var fileOptions = data.Read(r);
            var trainTable = TextClassificationFile.Load(r.GetValue(train)!, fileOptions);
            if (trainTable.Labels.Count < 2)
                throw new ArgumentException($"--train {trainTable.Source}: the label column holds {trainTable.Labels.Count} class(es) " +
                    $"({string.Join(", ", trainTable.Labels.Take(3))}); a classifier needs at least two (is --label-column the right column?).");
            var validTable = r.GetValue(valid) is { } v ? TextClassificationFile.Load(v, fileOptions) : null;
            CliCommon.PrintWarnings(trainTable, validTable);
            var family = ClassifierFamilies.Get(r.GetValue(trainer)!, "--trainer");
            var modelPath = r.GetValue(model);
            if (family.UsesCheckpoint && modelPath is null) throw new ArgumentException($"--model is required for the {family.Name} family (a Hugging Face folder; init-model makes a random one).");
            var options = ClassifierPipeline.NewOptions(family, modelPath, trainTable.HasText2);
            flags.Apply(r, family, options);
            ModelOptionsConfig.Apply(settings.Read(r), family, options, "--config/--set");
            using var ctrlC = CtrlCCancellation.Hook();
            int seed = 1;
            if (options is TransformerTrainerOptions t)
            {
                seed = t.Seed ??= 1;
                t.CancellationToken = ctrlC.Token;
            }
            var ml = new MLContext(seed: seed);
            Console.WriteLine($"Training {family.Name} on {trainTable.Count} rows of {trainTable.Source}" +
                              (validTable is null ? "" : $", validating on {validTable.Count} rows") + ".");
            var sw = Stopwatch.StartNew();
            // A live bar with ETA on a terminal (it fits 80 columns), plain timestamped lines when redirected or with --log-file.
            var name = family.DisplayName;
            var (pipeline, fitted) = CompareProgress.Run([name], progress =>
            {
                if (options is TransformerTrainerOptions tt)
                    tt.Progress = new CliCommon.InlineProgress<Training.TrainingProgress>(p => progress.Report(name, p));
                progress.Begin(name, "preparing");
                var result = ClassifierPipeline.Fit(ml, family, options, trainTable, validTable);
                progress.End(name, "trained");
                return result;
            });
            using (fitted as IDisposable)
            {
                CliCommon.SaveModelAtomically(ml, pipeline, trainTable.ToDataView(ml).Schema, r.GetValue(output)!, fileOptions, ctrlC.Token);
                if (fitted is TextClassifierTransformer { TrainingSummary: { } s })
                {
                    Console.WriteLine($"Trained in {sw.Elapsed.TotalSeconds:F1} s ({s.Steps} steps, {s.RowsPerSecond:F1} rows/s); saved {r.GetValue(output)}.");
                    if (s.Best is { } best) Console.WriteLine($"Best validation: macro-F1 {best.MacroF1:F4}, accuracy {best.Accuracy:F4} at step {best.Step}.");
                }
                else Console.WriteLine($"Trained in {sw.Elapsed.TotalSeconds:F1} s; saved {r.GetValue(output)}.");
            }
            return 0;
        }));
        return cmd;
    }
}
