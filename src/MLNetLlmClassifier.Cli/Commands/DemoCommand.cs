using System.CommandLine;
using Microsoft.ML;
using MLNetLlmClassifier.Bert;
using MLNetLlmClassifier.Data;

namespace MLNetLlmClassifier.Cli.Commands;

/// <summary>
/// <c>mlnet-llm demo</c>: the main job on the embedded default. Splits the embedded AG News sample
/// (2,000 rows) 70/10/20 stratified, creates a tiny random BERT (no pretrained weights are needed),
/// fine-tunes it from scratch, evaluates it on the held-out part and saves the model.
/// Pretrained weights give the real accuracy: pass --model with a Hugging Face BERT folder.
/// </summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var output = new Option<string>("--out") { Description = "Working folder. Default runs/demo.", DefaultValueFactory = _ => Path.Combine("runs", "demo") };
        var model = new Option<string?>("--model") { Description = "A Hugging Face BERT folder to use instead of a tiny random one (e.g. bert-base-cased)." };
        var epochs = new Option<double>("--epochs") { Description = "Epochs. Default 5 (from scratch).", DefaultValueFactory = _ => 5 };
        var lr = new Option<double>("--lr") { Description = "Learning rate. Default 1e-3 (from scratch); use 1e-5..5e-5 with pretrained weights.", DefaultValueFactory = _ => 1e-3 };
        var cmd = new Command("demo", "Train and evaluate the BERT trainer on the embedded AG News sample (tiny random checkpoint by default).");
        foreach (var o in new Option[] { output, model, epochs, lr }) cmd.Options.Add(o);
        cmd.SetAction(r => CliCommon.Run(r, () =>
        {
            var dir = r.GetValue(output)!;
            Directory.CreateDirectory(dir);
            var modelPath = r.GetValue(model);
            if (modelPath is null)
            {
                modelPath = EmbeddedData.TinyRandomCheckpoint(BertFamily.Instance, dir);
                Console.WriteLine($"No pretrained weights: using a tiny random BERT at {modelPath}. Accuracy from scratch on 1,400 rows is far below a pretrained model's;");
                Console.WriteLine("run `mlnet-llm demo --model <bert-base-cased folder> --lr 2e-5 --epochs 2` for the real thing.");
            }
            var sample = EmbeddedData.LoadAgNewsSample(renameLabels: true);
            var split = StratifiedSplit.Split(sample, 0.7, 0.1, 0.2, seed: 1);
            var options = (BertTextClassificationTrainer.Options)ClassifierPipeline.NewOptions(BertFamily.Instance, modelPath, pairs: false);
            BertFamily.Instance.ApplyFromScratchPreset(options, epochScale: 1);
            options.NumberOfEpochs = r.GetValue(epochs);
            options.LearningRate = r.GetValue(lr);
            options.Seed = 1;
            options.Progress = CliCommon.ConsoleProgress("");
            var ml = new MLContext(seed: 1);
            Console.WriteLine($"Training on {split.Train.Count} rows, validating on {split.Valid.Count}, testing on {split.Test.Count} (embedded AG News sample, stratified, seed 1).");
            var (pipeline, classifier) = ClassifierPipeline.Fit(ml, BertFamily.Instance, options, split.Train, split.Valid);
            using ((IDisposable)classifier)
            {
                var report = EvaluateCommand.Evaluate(ml, pipeline, split.Test);
                Console.WriteLine();
                Console.WriteLine(report.ToMarkdownTable());
                var zip = Path.Combine(dir, "model.zip");
                CliCommon.SaveModelAtomically(ml, pipeline, split.Train.ToDataView(ml).Schema, zip);
                Console.WriteLine($"Saved {zip}. Try: mlnet-llm predict --model {zip} --text \"Stocks rally as the Fed holds rates\"");
            }
            return 0;
        }));
        return cmd;
    }
}
