// Serves a saved model.zip: loads it in a fresh MLContext and classifies texts through a PredictionEngine,
// one line in, one line out (predicted label, its probability, the text).
//
//   dotnet run --project samples/ServeModel -c Release -- [--model model.zip] [--text "..."]... [--quick] [--out runs/samples]
//   echo "Stocks rally as the Fed holds rates" | dotnet run --project samples/ServeModel -c Release -- --model model.zip
//
// Any model.zip whose pipeline reads Label and Text and writes PredictedLabel (text) and Score works: those of
// `mlnet-llm demo` and `mlnet-llm train`, or your own mlContext.Model.Save of MapValueToKey → trainer → MapKeyToValue.
// Without --model it first trains a tiny random BERT on the AG News sample and saves it (--quick: seconds, not accurate).
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetLlmClassifier;
using MLNetLlmClassifier.Bert;
using MLNetLlmClassifier.Data;
using Samples;

string modelPath = SampleFiles.Option(args, "--model")
    ?? TrainAndSave(SampleFiles.Option(args, "--out") ?? Path.Combine("runs", "samples"), SampleFiles.Flag(args, "--quick"));

// A process that did not train the model registers our loaders once per MLContext, then loads as usual.
var ml = new MLContext();
ml.ComponentCatalog.RegisterMLNetLlmClassifier();
ITransformer model = ml.Model.Load(modelPath, out _);
using var owned = model as IDisposable;                    // frees the model's native tensors at the end

// A PredictionEngine scores one row at a time and is not thread-safe: keep one per thread (or a pool) in a server.
var engine = ml.Model.CreatePredictionEngine<NewsItem, NewsPrediction>(model);
VBuffer<ReadOnlyMemory<char>> classes = default;
engine.OutputSchema["Score"].GetSlotNames(ref classes);      // the class of each Score slot
Console.Error.WriteLine($"Loaded {modelPath}: classes {string.Join(", ", classes.DenseValues())}.");

var texts = args.Select((a, i) => (a, i)).Where(x => x.i > 0 && args[x.i - 1] == "--text").Select(x => x.a).ToList();
if (texts.Count == 0 && !Console.IsInputRedirected) Console.Error.WriteLine("Type a text per line; Ctrl+D ends.");
foreach (var text in texts.Count > 0 ? texts : ReadLines(Console.In))
{
    var p = engine.Predict(new NewsItem { Text = text });
    float best = p.Score.Max();
    Console.WriteLine($"{p.PredictedLabel}\t{best.ToString("F3", CultureInfo.InvariantCulture)}\t{text}");
}

static IEnumerable<string> ReadLines(TextReader reader)
{
    while (reader.ReadLine() is { } line)
        if (line.Trim().Length > 0) yield return line;
}

// The sample's own model: MapValueToKey → BERT (tiny, random init, trained from scratch) → MapKeyToValue, saved with its input schema.
static string TrainAndSave(string folder, bool quick)
{
    var ml = new MLContext(seed: 1);
    var table = TextClassificationFile.Load(SampleFiles.AgNewsSample, AgNews.Options(renameLabels: true));
    if (quick) table = StratifiedSplit.Sample(table, rowsPerClass: 50, seed: 1);
    IDataView train = table.ToDataView(ml);
    var pipeline = ml.Transforms.Conversion.MapValueToKey("Label")
        .Append(ml.MulticlassClassification.Trainers.BertTextClassification(new BertTextClassificationTrainer.Options
        {
            ModelPath = SampleFiles.TinyRandomBert(Path.Combine(folder, "bert-tiny-random")),
            Sentence1ColumnName = "Text", NumberOfEpochs = quick ? 1 : 3, LearningRate = 1e-3, BatchSize = 32, MaxSequenceLength = 128, Seed = 1,
        }))
        .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel"));
    Console.Error.WriteLine($"No --model: training a tiny random BERT on {table.Count} AG News rows...");
    using var model = pipeline.Fit(train);
    string path = Path.Combine(folder, "serve-model.zip");
    ml.Model.Save(model, train.Schema, path + ".tmp");      // write, then rename: a reader never sees half a file
    File.Move(path + ".tmp", path, overwrite: true);
    return path;
}

/// <summary>One input row. The names are the model's input columns (those of TextClassificationTable: Label, Text).</summary>
internal sealed class NewsItem
{
    /// <summary>Not used for predicting, but the saved pipeline starts with MapValueToKey(Label), which needs the column.</summary>
    public string Label { get; set; } = "";
    public string Text { get; set; } = "";
}

/// <summary>The pipeline's outputs: the label (after MapKeyToValue) and the probability of each class.</summary>
internal sealed class NewsPrediction
{
    public string PredictedLabel { get; set; } = "";
    public float[] Score { get; set; } = [];
}
