// Program.cs of a console app that references MLNetLlmClassifier (samples/QuickStart is this file, run by samples/run-all.sh).
// Usage: dotnet run -- data.csv bert-folder qwen3-folder
//   data.csv: a header "label,text", e.g. AG News as published (labels 1-4); folders: Hugging Face checkpoints
//   (a hub download such as google-bert/bert-base-cased and Qwen/Qwen3-0.6B, or `mlnet-llm init-model` for tiny random ones).
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetLlmClassifier;
using MLNetLlmClassifier.Bert;
using MLNetLlmClassifier.Qwen3;

string csv = args.Length > 0 ? args[0] : "data.csv";
string bertFolder = args.Length > 1 ? args[1] : "models/bert-base-cased";
string qwenFolder = args.Length > 2 ? args[2] : "models/Qwen3-0.6B";

var ml = new MLContext(seed: 1);
IDataView data = ml.Data.LoadFromTextFile<Row>(csv, separatorChar: ',', hasHeader: true, allowQuoting: true);
var split = ml.Data.TrainTestSplit(data, testFraction: 0.2, seed: 1);

// BERT: MapValueToKey → trainer → MapKeyToValue, the shape of ML.NET's own TextClassification pipeline.
var bertPipeline = ml.Transforms.Conversion.MapValueToKey("Label")
    .Append(ml.MulticlassClassification.Trainers.BertTextClassification(new BertTextClassificationTrainer.Options
    {
        ModelPath = bertFolder,
        Sentence1ColumnName = nameof(Row.Text),
        NumberOfEpochs = 2,
    }))
    .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel"));
ITransformer bert = bertPipeline.Fit(split.TrainSet);
var metrics = ml.MulticlassClassification.Evaluate(bert.Transform(split.TestSet));
Console.WriteLine($"BERT: micro accuracy {metrics.MicroAccuracy:F3}, macro accuracy {metrics.MacroAccuracy:F3}");
ml.Model.Save(bert, data.Schema, "bert-model.zip");
(bert as IDisposable)?.Dispose();                          // models hold native tensors: dispose them when done

// The prompted Qwen3 decoder: same pipeline shape; the classes become the answer options of a multiple-choice prompt.
// Display names are keyed by the labels as they appear in the label column ("1".."4" for AG News).
var qwenPipeline = ml.Transforms.Conversion.MapValueToKey("Label")
    .Append(ml.MulticlassClassification.Trainers.PromptedDecoderClassifier(new PromptedDecoderClassifierTrainer.Options
    {
        ModelPath = qwenFolder,
        TextColumnName = nameof(Row.Text),
        LabelDisplayNames = new Dictionary<string, string> { ["1"] = "World", ["2"] = "Sports", ["3"] = "Business", ["4"] = "Science/Technology" },
    }))
    .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel"));
using (var qwen = (IDisposable)qwenPipeline.Fit(split.TrainSet))
{
    var qwenMetrics = ml.MulticlassClassification.Evaluate(((ITransformer)qwen).Transform(split.TestSet));
    Console.WriteLine($"Qwen3: micro accuracy {qwenMetrics.MicroAccuracy:F3}, macro accuracy {qwenMetrics.MacroAccuracy:F3}");
}

// In another process: a plain MLContext loads it (ML.NET registers our loader from the model file), then predict as usual.
var serving = new MLContext();
ITransformer loaded = serving.Model.Load("bert-model.zip", out _);
using (loaded as IDisposable)
using (var engine = serving.Model.CreatePredictionEngine<Row, Prediction>(loaded))
{
    var p = engine.Predict(new Row { Text = "The Red Sox beat the Yankees in extra innings" });
    Console.WriteLine($"Predicted {p.PredictedLabel} with probability {p.Score.Max():F3}");
}

/// <summary>A row of the CSV: the label and the text.</summary>
internal sealed class Row
{
    [LoadColumn(0)] public string Label { get; set; } = "";
    [LoadColumn(1)] public string Text { get; set; } = "";
}

/// <summary>What the pipeline adds: the predicted label and the probability of each class.</summary>
internal sealed class Prediction
{
    public string PredictedLabel { get; set; } = "";
    public float[] Score { get; set; } = [];
}
