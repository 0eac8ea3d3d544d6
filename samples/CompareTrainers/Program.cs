// Compares text classifiers on AG News news topics: the classic ML.NET pipeline (FeaturizeText + SDCA) and
// the BERT trainer, all fitted on the same stratified split and scored by the same ML.NET evaluator.
//
//   dotnet run --project samples/CompareTrainers -c Release -- [--quick] [--data ag_news.csv]
//        [--bert <Hugging Face BERT folder or hub id>] [--epochs N] [--device auto|cpu|cuda] [--out runs/samples]
//
// Without --bert it trains a tiny RANDOM BERT from scratch (no pretrained weights are needed, so it runs
// anywhere, but its accuracy says nothing about bert-base). --quick: 50 rows per class and 1 epoch (CI).
using System.Diagnostics;
using Microsoft.ML;
using MLNetLlmClassifier;
using MLNetLlmClassifier.Bert;
using MLNetLlmClassifier.Data;
using MLNetLlmClassifier.Hub;
using Samples;

bool quick = SampleFiles.Flag(args, "--quick");
string work = SampleFiles.Option(args, "--out") ?? Path.Combine("runs", "samples");
string device = SampleFiles.Option(args, "--device") ?? "auto";
string? bert = SampleFiles.Option(args, "--bert");

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
bool fromScratch = bert is null;
double epochs = double.Parse(SampleFiles.Option(args, "--epochs") ?? (quick ? "1" : fromScratch ? "5" : "2"), System.Globalization.CultureInfo.InvariantCulture);
string bertFolder = bert is null ? SampleFiles.TinyRandomBert(Path.Combine(work, "bert-tiny-random")) : HubModelResolver.Resolve(bert);
var contenders = new List<(string Name, IEstimator<ITransformer> Trainer)>
{
    ("ML.NET SDCA (FeaturizeText)", ml.Transforms.Text.FeaturizeText("Features", "Text")
        .Append(ml.MulticlassClassification.Trainers.SdcaMaximumEntropy("Label", "Features"))),
    (fromScratch ? "BERT (tiny, random init)" : $"BERT ({Path.GetFileName(bert!.TrimEnd('/'))})",
        ml.MulticlassClassification.Trainers.BertTextClassification(new BertTextClassificationTrainer.Options
        {
            ModelPath = bertFolder,
            Sentence1ColumnName = "Text",
            ValidationSet = validKeyed,                     // evaluated every half epoch; the best weights are kept
            EvaluationInterval = 0.5,
            NumberOfEpochs = epochs,
            LearningRate = fromScratch ? 1e-3 : 2e-5,       // from scratch needs a far larger step than fine-tuning
            BatchSize = 32,
            MaxSequenceLength = 128,                         // AG News items are short: 128 tokens keep nearly all of them
            Device = device,
            Seed = 1,
        })),
};

// 3. Fit each on the same rows, score the held-out test rows, and let ML.NET's evaluator measure them.
Console.WriteLine();
Console.WriteLine($"{"model",-34} {"train s",8} {"accuracy",9} {"macro-F1",9} {"log-loss",9}");
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
    Console.WriteLine($"{name,-34} {seconds,8:F1} {metrics.MicroAccuracy,9:F3} {macroF1,9:F3} {metrics.LogLoss,9:F3}");
}
if (fromScratch)
    Console.WriteLine("\nThe BERT row is a tiny random model trained from scratch. For real weights: --bert google-bert/bert-base-cased (or a local folder).");
