using System.CommandLine;
using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;
using MLNetLlmClassifier.Data;
using MLNetLlmClassifier.Evaluation;
using MLNetLlmClassifier.Families;

namespace MLNetLlmClassifier.Cli.Commands;

/// <summary><c>mlnet-llm evaluate</c>: metrics of a saved model on a labelled file.</summary>
internal static class EvaluateCommand
{
    // The CLI's families (CliFamilies) are registered before anything here looks a family up.
    static EvaluateCommand() => CliFamilies.EnsureRegistered();

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
            var modelPath = r.GetValue(model)!;
            var remembered = ModelFile.ReadColumns(modelPath);
            var table = LoadTable(r.GetValue(test)!, data, r, remembered, quiet: r.GetValue(json));
            var ml = new MLContext(seed: 1);
            var loaded = ModelFile.Load(ml, modelPath);
            using var _ = loaded as IDisposable;
            var report = Evaluate(ml, loaded, table, ScoresAreLogits(loaded));
            Console.WriteLine(r.GetValue(json) ? report.ToJson() : report.ToMarkdownTable());
            return 0;
        }));
        return cmd;
    }

    /// <summary>
    /// Reads a labelled file with the column options given, each one not given taken from the columns the model was trained with
    /// (<paramref name="remembered"/>, null for a model.zip that does not record them). The model's label renaming applies to the labels
    /// it names; labels already written as class names stay as they are.
    /// </summary>
    internal static TextClassificationTable LoadTable(string path, CliCommon.DataOptions data, ParseResult r, TextFileOptions? remembered, bool quiet)
    {
        var options = data.Read(r, remembered);
        if (remembered is not null && !quiet && !data.AnyGiven(r))
            Console.Error.WriteLine($"Reading {path} with the columns the model was trained with: {ModelFile.Describe(options)}.");
        if (remembered?.LabelNames is not { } names || !ReferenceEquals(options.LabelNames, names))
            return TextClassificationFile.Load(path, options);
        var table = TextClassificationFile.Load(path, options with { LabelNames = null });
        return new TextClassificationTable(table.Select(row => names.TryGetValue(row.Label, out var n) ? row with { Label = n } : row), table.Source);
    }

    /// <summary>
    /// Scores the table with any multiclass pipeline that ends in MapKeyToValue (ours or a classic ML.NET one) and
    /// evaluates it with ML.NET's multiclass evaluator. Class names come from the Score column's slot names.
    /// </summary>
    /// <param name="ml">The context.</param>
    /// <param name="model">The fitted pipeline.</param>
    /// <param name="table">The labelled rows.</param>
    /// <param name="scoresAreLogits">The Score column holds raw logits (ML.NET's TextClassification): a softmax turns them into the
    /// probabilities the evaluator's log-loss needs.</param>
    internal static EvaluationReport Evaluate(MLContext ml, ITransformer model, TextClassificationTable table, bool scoresAreLogits = false)
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
        string scoreColumn = "Score";
        if (scoresAreLogits)
        {
            view = Softmax(ml, view, classNames.Length);
            scoreColumn = ProbabilityColumn;
        }
        var metrics = ml.MulticlassClassification.Evaluate(view, "Label", scoreColumn, "PredictedLabel");
        // Rows with a label the model does not know are skipped by the evaluator: "rows" counts the rows the metrics cover.
        return EvaluationReport.From(metrics, classNames, table.Count - unknown.Sum(kv => (long)kv.Value), sw.Elapsed.TotalSeconds);
    }

    private const string ProbabilityColumn = "ScoreProbability";

    /// <summary>Whether the loaded pipeline's classifier belongs to a family whose Score holds logits.</summary>
    internal static bool ScoresAreLogits(ITransformer model)
    {
        var steps = model is IEnumerable<ITransformer> chain ? chain.ToList() : [model];
        return ClassifierFamilies.All.Any(f => f.ScoresAreLogits && steps.Any(f.Owns));
    }

    private sealed class LogitsRow
    {
        public float[] Score { get; set; } = [];
    }

    private sealed class ProbabilityRow
    {
        public float[] ScoreProbability { get; set; } = [];
    }

    /// <summary>A column of softmax(Score), computed in float64 with the maximum subtracted.</summary>
    private static IDataView Softmax(MLContext ml, IDataView view, int classes)
    {
        var input = SchemaDefinition.Create(typeof(LogitsRow));
        input[nameof(LogitsRow.Score)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, classes);
        var output = SchemaDefinition.Create(typeof(ProbabilityRow));
        output[nameof(ProbabilityRow.ScoreProbability)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, classes);
        var mapping = ml.Transforms.CustomMapping<LogitsRow, ProbabilityRow>((src, dst) => dst.ScoreProbability = SoftmaxOf(src.Score),
            contractName: null, inputSchemaDefinition: input, outputSchemaDefinition: output);
        return mapping.Fit(view).Transform(view);
    }

    /// <summary>softmax of a row of logits, in float64 with the maximum subtracted.</summary>
    internal static float[] SoftmaxOf(float[] logits)
    {
        if (logits.Length == 0) return logits;
        double max = logits.Max();
        var e = logits.Select(v => Math.Exp(v - max)).ToArray();
        double sum = e.Sum();
        return e.Select(v => (float)(v / sum)).ToArray();
    }

    /// <summary>The class names of a scored view: the Score column's slot names, else 0, 1, ...</summary>
    internal static string[] ClassNames(IDataView scored) => ClassNames(scored.Schema);

    /// <summary>The class names of a scored schema: the Score column's slot names, else 0, 1, ...</summary>
    internal static string[] ClassNames(DataViewSchema scored)
    {
        var score = scored["Score"];
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
