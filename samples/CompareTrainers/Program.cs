// Compares text classifiers on AG News news topics: the classic ML.NET pipeline (FeaturizeText + SDCA), the
// BERT trainer and the prompted Qwen3 decoder, all fitted on the same stratified split and scored by the same
// ML.NET evaluator.
//
//   dotnet run --project samples/CompareTrainers -c Release -- [--quick] [--data ag_news.csv]
//        [--bert <Hugging Face BERT folder or hub id>] [--qwen3 <Qwen3 folder or hub id>] [--epochs N]
//        [--device auto|cpu|cuda] [--out runs/samples]
//
// Without --bert / --qwen3 it trains tiny RANDOM checkpoints from scratch (no pretrained weights are needed, so it
// runs anywhere, but their accuracy says nothing about real models). --quick: 50 rows per class, 1 epoch (CI).
using System.Diagnostics;
using Microsoft.ML;
using MLNetLlmClassifier;
using MLNetLlmClassifier.Bert;
using MLNetLlmClassifier.Data;
using MLNetLlmClassifier.Hub;
using MLNetLlmClassifier.Qwen3;
using Samples;

bool quick = SampleFiles.Flag(args, "--quick");
string work = SampleFiles.Option(args, "--out") ?? Path.Combine("runs", "samples");
string device = SampleFiles.Option(args, "--device") ?? "auto";
string? bert = SampleFiles.Option(args, "--bert"), qwen3 = SampleFiles.Option(args, "--qwen3");

// 1. Data: AG News CSV (label 1-4, title, description) → rows (Label, Text), split 70/10/20 keeping the class balance.
var table = TextClassificationFile.Load(SampleFiles.Option(args, "--data") ?? SampleFiles.AgNewsSample, AgNews.Options(renameLabels: true));
if (quick) table = StratifiedSplit.Sample(table, rowsPerClass: 50, seed: 1);
var split = StratifiedSplit.Split(table, 0.7, 0.1, 0.2, seed: 1);
Console.WriteLine($"{table.Count} rows: {split.Train.Count} train, {split.Valid.Count} validation, {split.Test.Count} test.");

var ml = new MLContext(seed: 1);
IDataView train = split.Train.ToDataView(ml), valid = split.Valid.ToDataView(ml), test = split.Test.ToDataView(ml);
// Label text → key, learned once so that every trainer and the validation set share the same class numbering.
var toKey = ml.Transforms.Conversion.MapValueToKey("Label").Fit(train);
IDataView trainKeyed = toKey.Transform(train), validKeyed = toKey.Transform(valid), testKeyed = toKey.Transform(test);

// 2. The contenders. Each reads the key-typed Label and the text, and writes Score and PredictedLabel.
double? epochsOption = SampleFiles.Option(args, "--epochs") is { } e ? double.Parse(e, System.Globalization.CultureInfo.InvariantCulture) : null;
double Epochs(bool fromScratch, double pretrained) => epochsOption ?? (quick ? 1 : fromScratch ? 5 : pretrained);
string bertFolder = bert is null ? SampleFiles.TinyRandomBert(Path.Combine(work, "bert-tiny-random")) : HubModelResolver.Resolve(bert);
string qwen3Folder = qwen3 is null ? SampleFiles.TinyRandomQwen3(Path.Combine(work, "qwen3-tiny-random")) : HubModelResolver.Resolve(qwen3);
string Name(string family, string? given) => given is null ? $"{family} (tiny, random init)" : $"{family} ({Path.GetFileName(given.TrimEnd('/'))})";
var contenders = new List<(string Name, IEstimator<ITransformer> Trainer)>
{
    ("ML.NET SDCA (FeaturizeText)", ml.Transforms.Text.FeaturizeText("Features", "Text")
        .Append(ml.MulticlassClassification.Trainers.SdcaMaximumEntropy("Label", "Features"))),
    (Name("BERT", bert), ml.MulticlassClassification.Trainers.BertTextClassification(new BertTextClassificationTrainer.Options
    {
        ModelPath = bertFolder,
        Sentence1ColumnName = "Text",
        ValidationSet = validKeyed,                         // evaluated every half epoch; the best weights are kept
        EvaluationInterval = 0.5,
        NumberOfEpochs = Epochs(bert is null, pretrained: 2),
        LearningRate = bert is null ? 1e-3 : 2e-5,          // from scratch needs a far larger step than fine-tuning
        BatchSize = 32,
        MaxSequenceLength = 128,                             // AG News items are short: 128 tokens keep nearly all of them
        Device = device,
        Seed = 1,
    })),
    // The decoder answers a multiple-choice prompt listing the classes (docs/how-the-prompted-decoder-classifies.md).
    (Name("Qwen3 prompted", qwen3), ml.MulticlassClassification.Trainers.PromptedDecoderClassifier(new PromptedDecoderClassifierTrainer.Options
    {
        ModelPath = qwen3Folder,
        TextColumnName = "Text",
        LabelDisplayNames = new Dictionary<string, string> { ["Sci/Tech"] = "Science/Technology" },   // as the prompt shows it
        // A random decoder understands no instruction: from scratch, keep only the text, the options and the answer cue.
        PromptTemplate = qwen3 is null ? "{text}\n\n{options}\n\nAnswer:/no_think" : null,
        ValidationSet = validKeyed,
        EvaluationInterval = 0.5,
        NumberOfEpochs = Epochs(qwen3 is null, pretrained: 1),
        LearningRate = qwen3 is null ? 1e-3 : 1.2e-5,       // pretrained: the reference recipe, 12 rows × 8 steps per update
        BatchSize = qwen3 is null ? 32 : 12,
        GradientAccumulationSteps = qwen3 is null ? 1 : 8,
        Device = device,
        Seed = 1,
    })),
};

// 3. Fit each on the same rows, score the held-out test rows, and let ML.NET's evaluator measure them.
Console.WriteLine();
Console.WriteLine($"{"model",-36} {"train s",8} {"accuracy",9} {"macro-F1",9} {"log-loss",9}");
foreach (var (name, trainer) in contenders)
{
    var clock = Stopwatch.StartNew();
    ITransformer model = trainer.Fit(trainKeyed);
    double seconds = clock.Elapsed.TotalSeconds;
    using var owned = model as IDisposable;               // transformer models hold native tensors
    var metrics = ml.MulticlassClassification.Evaluate(model.Transform(testKeyed));
    var cm = metrics.ConfusionMatrix;
    double macroF1 = Enumerable.Range(0, cm.NumberOfClasses).Average(c =>
        cm.PerClassPrecision[c] + cm.PerClassRecall[c] is var s && s > 0 ? 2 * cm.PerClassPrecision[c] * cm.PerClassRecall[c] / s : 0);
    Console.WriteLine($"{name,-36} {seconds,8:F1} {metrics.MicroAccuracy,9:F3} {macroF1,9:F3} {metrics.LogLoss,9:F3}");
}
if (bert is null || qwen3 is null)
    Console.WriteLine("\nTiny random models trained from scratch say nothing about pretrained ones. For real weights: " +
                      "--bert google-bert/bert-base-cased --qwen3 Qwen/Qwen3-0.6B (or local folders).");
