using System.CommandLine;
using MLNetLlmClassifier.Cli.Commands;

namespace MLNetLlmClassifier.Cli;

/// <summary>mlnet-llm: train, evaluate, compare and serve transformer text classifiers from the command line.</summary>
public static class Program
{
    static Program() => CliFamilies.EnsureRegistered();

    public static int Main(string[] args) => Build().Parse(args).Invoke();

    /// <summary>The command tree (also used by the tests).</summary>
    public static RootCommand Build()
    {
        var root = new RootCommand("mlnet-llm: fine-tune, compare and ship transformer text classifiers (BERT, Qwen3 prompted decoder) inside ML.NET.");
        root.Options.Add(CliCommon.Verbose);
        root.Options.Add(CliCommon.LogFile);
        root.Subcommands.Add(CompareCommand.Create());
        root.Subcommands.Add(DemoCommand.Create());
        root.Subcommands.Add(InitModelCommand.Create());
        root.Subcommands.Add(TrainCommand.Create());
        root.Subcommands.Add(EvaluateCommand.Create());
        root.Subcommands.Add(PredictCommand.Create());
        root.Subcommands.Add(TokenizeCommand.Create());
        root.Subcommands.Add(LogitsCommand.Create());
        root.Subcommands.Add(BenchCommand.Create());
        root.Subcommands.Add(EstimateMemoryCommand.Create());
        root.Subcommands.Add(SweepCommand.Create());
        root.Subcommands.Add(OptionsCommand.Create());
        root.Subcommands.Add(ExportCommand.Create());
        root.Subcommands.Add(Serving.ServeCommand.Create());
        root.Subcommands.Add(Serving.ServeBenchCommand.Create());
        return root;
    }
}
