using System.CommandLine;
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetLlmClassifier.Cli.Commands;

/// <summary><c>mlnet-llm predict</c>: classify one text with a saved model through a PredictionEngine.</summary>
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

    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Trained ML.NET model (.zip).", Required = true };
        var text = new Option<string>("--text") { Description = "The text to classify.", Required = true };
        var text2 = new Option<string?>("--text2") { Description = "Second text, for sentence-pair models." };
        var cmd = new Command("predict", "Classify a text with a trained model.");
        cmd.Options.Add(model);
        cmd.Options.Add(text);
        cmd.Options.Add(text2);
        cmd.SetAction(r => CliCommon.Run(r, () =>
        {
            var ml = new MLContext(seed: 1);
            var loaded = ModelFile.Load(ml, r.GetValue(model)!);
            using var _ = loaded as IDisposable;
            var view = r.GetValue(text2) is { } second
                ? ml.Data.LoadFromEnumerable(new[] { new PairInput { Text = r.GetValue(text)!, Text2 = second } })
                : ml.Data.LoadFromEnumerable(new[] { new Input { Text = r.GetValue(text)! } });
            var scored = loaded.Transform(view);
            var o = ml.Data.CreateEnumerable<Output>(scored, reuseRowObject: false).Single();
            var classNames = EvaluateCommand.ClassNames(scored);
            // Families whose Score holds logits (ML.NET's TextClassification) are shown as probabilities, as ours are.
            var probabilities = EvaluateCommand.ScoresAreLogits(loaded) ? EvaluateCommand.SoftmaxOf(o.Score) : o.Score;
            Console.WriteLine($"PredictedLabel: {o.PredictedLabel}");
            foreach (var (name, p) in classNames.Zip(probabilities).OrderByDescending(x => x.Second))
                Console.WriteLine($"  {p.ToString("F4", CultureInfo.InvariantCulture)}  {name}");
            return 0;
        }));
        return cmd;
    }
}
