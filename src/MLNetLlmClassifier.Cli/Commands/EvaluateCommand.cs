using System.CommandLine;
using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;
using MLNetLlmClassifier.Data;
using MLNetLlmClassifier.Evaluation;

namespace MLNetLlmClassifier.Cli.Commands;

/// <summary><c>mlnet-llm evaluate</c>: metrics of a saved model on a labelled file.</summary>
internal static class EvaluateCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Trained ML.NET model (.zip).", Required = true };
        var test = new Option<string>("--test") { Description = "Labelled test data: CSV or TSV.", Required = true };
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of a table." };
        var data = new CliCommon.DataOptions();
        var cmd = new Command("evaluate", "Evaluate a trained model on a labelled file.");
        cmd.Options.Add(model);
        cmd.Options.Add(test);
        cmd.Options.Add(json);
        data.AddTo(cmd);
        cmd.SetAction(r => CliCommon.Run(r, () =>
        {
            var table = TextClassificationFile.Load(r.GetValue(test)!, data.Read(r));
            var ml = new MLContext(seed: 1);
            var loaded = ModelFile.Load(ml, r.GetValue(model)!);
            using var _ = loaded as IDisposable;
            var report = Evaluate(ml, loaded, table);
            Console.WriteLine(r.GetValue(json) ? report.ToJson() : report.ToMarkdownTable());
            return 0;
        }));
        return cmd;
    }

    /// <summary>
    /// Scores the table with any multiclass pipeline that ends in MapKeyToValue (ours or a classic ML.NET one) and
    /// evaluates it with ML.NET's multiclass evaluator. Class names come from the Score column's slot names.
    /// </summary>
    internal static EvaluationReport Evaluate(MLContext ml, ITransformer model, TextClassificationTable table)
    {
        IDataView view = table.ToDataView(ml);
        // Apply every step but the final MapKeyToValue, so that PredictedLabel stays the key the classifier wrote
        // (with its KeyValues) for the evaluator and the confusion matrix.
        var steps = model is IEnumerable<ITransformer> chain ? chain.ToList() : [model];
        foreach (var t in steps)
            if (t is not KeyToValueMappingTransformer) view = t.Transform(view);
        var classNames = ClassNames(view);
        var known = classNames.ToHashSet(StringComparer.Ordinal);
        var unknown = table.CountByLabel().Where(kv => !known.Contains(kv.Key)).ToList();
        if (unknown.Sum(kv => kv.Value) == table.Count)
            throw new ArgumentException(
                $"None of the labels of {table.Source} ({string.Join(", ", unknown.Select(kv => kv.Key).Take(10))}) is a class of the model " +
                $"({string.Join(", ", classNames)}). Rename them with --label-names (e.g. 1=World,2=Sports,...) or check --label-column.");
        if (unknown.Count > 0)
            Console.Error.WriteLine($"warning: {unknown.Sum(kv => kv.Value)} rows have labels the model does not know " +
                                    $"({string.Join(", ", unknown.Select(kv => kv.Key).Take(10))}); the evaluator skips them.");
        var sw = Stopwatch.StartNew();
        var metrics = ml.MulticlassClassification.Evaluate(view, "Label", "Score", "PredictedLabel");
        return EvaluationReport.From(metrics, classNames, table.Count, sw.Elapsed.TotalSeconds);
    }

    private static string[] ClassNames(IDataView scored)
    {
        var score = scored.Schema["Score"];
        if (score.HasSlotNames())
        {
            VBuffer<ReadOnlyMemory<char>> names = default;
            score.GetSlotNames(ref names);
            return names.DenseValues().Select(n => n.ToString()).ToArray();
        }
        int count = score.Type is VectorDataViewType v ? v.Size : 0;
        return Enumerable.Range(0, count).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
    }
}
