using System.CommandLine;
using Microsoft.ML;
using Microsoft.ML.Transforms;
using MLNetLlmClassifier.Families;
using MLNetLlmClassifier.Sweeps;

namespace MLNetLlmClassifier.Cli.Commands;

/// <summary>
/// <c>mlnet-llm sweep --config sweep.json</c>: a hyperparameter sweep over one or more trainers (see docs/sweeps.md
/// for the file). Interrupted sweeps continue from the results file in the output folder.
/// </summary>
internal static class SweepCommand
{
    // The CLI's families (CliFamilies) are registered before anything here looks a family up.
    static SweepCommand() => CliFamilies.EnsureRegistered();

    /// <summary>What a cancelled sweep says: finished trials are kept (unlike train, a sweep writes as it goes).</summary>
    internal const string CancelledMessage = "Cancelled; the trials that finished (and their charts) stay in the output folder: run the same command again to resume.";

    public static Command Create()
    {
        var config = new Option<string>("--config") { Description = "Sweep config (JSON, see docs/sweeps.md).", Required = true };
        var optionSettings = new OptionSettingsCli(withConfigFile: false);
        var flags = new OptionFlagsCli();
        var cmd = new Command("sweep", "Hyperparameter sweep with early pruning over the registered families (BERT, the prompted decoder, the classic baseline, ...); resumable.");
        cmd.Options.Add(config);
        flags.AddTo(cmd);
        optionSettings.AddTo(cmd);
        cmd.SetAction(r => CliCommon.Run(r, CancelledMessage, () =>
        {
            var result = Run(SweepConfig.Load(r.GetValue(config)!), Console.Out, CancellationToken.None, optionSettings.Read(r), flags.Read(r));
            using var _ = result.Model as IDisposable;
            Console.WriteLine();
            Console.WriteLine(result.Leaderboard.ToMarkdown());
            Console.WriteLine($"Best: trial {result.BestTrial.TrialId} ({result.BestTrial.Parameters.Candidate}), {result.Leaderboard.Metric} {result.Metric:F4}. Results in {result.OutputFolder}.");
            return 0;
        }));
        return cmd;
    }

    /// <summary>Builds the sweepable pipeline from the config's candidates and runs the sweep.</summary>
    /// <param name="config">The sweep file.</param>
    /// <param name="log">Where trials are reported.</param>
    /// <param name="ct">Cancels the sweep.</param>
    /// <param name="settings"><c>--set</c> values, applied after the candidate's options.</param>
    /// <param name="flags">Option flags (<c>--instruction</c>, <c>--max-length</c>, ...), set on every candidate whose family declares the option, before <paramref name="settings"/>.</param>
    internal static SweepResult Run(SweepConfig config, TextWriter log, CancellationToken ct, System.Text.Json.Nodes.JsonObject? settings = null, GivenFlags? flags = null)
    {
        flags ??= GivenFlags.None;
        flags.CheckUsedBy(config.Candidates.Select(c => ClassifierFamilies.Get(c.Trainer, $"{config.SourcePath}: candidate '{c.Name ?? c.Trainer}' has trainer")).Distinct().ToList());
        var (train, valid) = config.Data.Load(config.Seed);
        var ml = new MLContext(seed: config.Seed);
        var pipeline = new SweepablePipeline(
            prefix: ml.Transforms.Conversion.MapValueToKey("Label", keyOrdinality: ValueToKeyMappingEstimator.KeyOrdinality.ByValue),
            suffix: ml.Transforms.Conversion.MapKeyToValue("PredictedLabel"));
        foreach (var c in config.Candidates)
        {
            var family = ClassifierFamilies.Get(c.Trainer, $"{config.SourcePath}: candidate '{c.Name ?? c.Trainer}' has trainer");
            var o = ClassifierPipeline.NewOptions(family, c.Model, train.HasText2);
            c.ApplyOptions(o);
            flags.Apply(family, o, strict: false);
            ModelOptionsConfig.Apply(settings, family, o, "--set");
            pipeline.AddFamily(family, o, c.CreateSearchSpace(), c.Name ?? family.Name);
        }
        var experiment = config.Configure(ml.Sweeps().CreateExperiment()
            .SetPipeline(pipeline)
            .SetDataset(train.ToDataView(ml), valid.ToDataView(ml))
            .SetMonitor(new TextWriterSweepMonitor(log))
            .SetSweepCharts()
            .SetBestModelAmendment(tmp => ModelFile.WriteColumns(tmp, config.Data.ToTextFileOptions())));
        using var ctrlC = CtrlCCancellation.Hook(ct);
        return experiment.RunAsync(ctrlC.Token).GetAwaiter().GetResult();
    }
}
