using System.CommandLine;
using Microsoft.ML;
using Microsoft.ML.Transforms;
using MLNetLlmClassifier.Bert;
using MLNetLlmClassifier.Sweeps;

namespace MLNetLlmClassifier.Cli.Commands;

/// <summary>
/// <c>mlnet-llm sweep --config sweep.json</c>: a hyperparameter sweep over one or more trainers (see docs/sweeps.md
/// for the file). Interrupted sweeps continue from the results file in the output folder.
/// </summary>
internal static class SweepCommand
{
    public static Command Create()
    {
        var config = new Option<string>("--config") { Description = "Sweep config (JSON, see docs/sweeps.md).", Required = true };
        var cmd = new Command("sweep", "Hyperparameter sweep with early pruning over BERT, the prompted decoder and the classic baseline; resumable.");
        cmd.Options.Add(config);
        cmd.SetAction(r => CliCommon.Run(() =>
        {
            var result = Run(SweepConfig.Load(r.GetValue(config)!), Console.Out, CancellationToken.None);
            using var _ = result.Model as IDisposable;
            Console.WriteLine();
            Console.WriteLine(result.Leaderboard.ToMarkdown());
            Console.WriteLine($"Best: trial {result.BestTrial.TrialId} ({result.BestTrial.Parameters.Candidate}), {result.Leaderboard.Metric} {result.Metric:F4}. Results in {result.OutputFolder}.");
            return 0;
        }));
        return cmd;
    }

    /// <summary>Builds the sweepable pipeline from the config's candidates and runs the sweep.</summary>
    internal static SweepResult Run(SweepConfig config, TextWriter log, CancellationToken ct)
    {
        var (train, valid) = config.Data.Load(config.Seed);
        var ml = new MLContext(seed: config.Seed);
        var pipeline = new SweepablePipeline(
            prefix: ml.Transforms.Conversion.MapValueToKey("Label", keyOrdinality: ValueToKeyMappingEstimator.KeyOrdinality.ByValue),
            suffix: ml.Transforms.Conversion.MapKeyToValue("PredictedLabel"));
        foreach (var c in config.Candidates)
        {
            var name = c.Name ?? c.Trainer;
            switch (c.Trainer.ToLowerInvariant())
            {
                case "sdca":
                    pipeline.AddSdcaTextBaseline(ClassifierPipeline.TextColumn, "Label", c.CreateSearchSpace(), name);
                    break;
                case "bert":
                {
                    var o = (BertTextClassificationTrainer.Options)ClassifierPipeline.NewOptions("bert", c.Model ?? "", train.HasText2);
                    c.ApplyOptions(o);
                    pipeline.AddBert(o, c.CreateSearchSpace(), name);
                    break;
                }
                default:
                    throw new ArgumentException($"{config.SourcePath}: candidate '{name}' has trainer '{c.Trainer}'; use sdca or bert.");
            }
        }
        var experiment = config.Configure(ml.Sweeps().CreateExperiment()
            .SetPipeline(pipeline)
            .SetDataset(train.ToDataView(ml), valid.ToDataView(ml))
            .SetMonitor(new TextWriterSweepMonitor(log))
            .SetSweepCharts());
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        Console.CancelKeyPress += (_, e) => { e.Cancel = true; cts.Cancel(); };
        return experiment.RunAsync(cts.Token).GetAwaiter().GetResult();
    }
}
