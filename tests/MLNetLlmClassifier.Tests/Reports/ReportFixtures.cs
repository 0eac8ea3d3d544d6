using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetLlmClassifier.Data;
using MLNetLlmClassifier.Evaluation;
using MLNetLlmClassifier.Families;
using MLNetLlmClassifier.Reports;
using MLNetLlmClassifier.Training;

namespace MLNetLlmClassifier.Tests.Reports;

/// <summary>Hand-made model results for report tests: evaluations built by ML.NET from a chosen confusion matrix.</summary>
internal static class ReportFixtures
{
    public static readonly string[] AgNewsClasses = ["World", "Sports", "Business", "Sci/Tech"];

    private sealed class Scored
    {
        /// <summary>0-based class index (ML.NET's evaluator accepts a numeric label as the class index).</summary>
        public float Label { get; set; }
        public uint PredictedLabel { get; set; }
        public float[] Score { get; set; } = [];
    }

    /// <summary>
    /// An <see cref="EvaluationReport"/> whose confusion counts are <paramref name="counts"/> (rows = actual class):
    /// one scored row per count, with probability <paramref name="confidence"/> on the predicted class.
    /// </summary>
    public static EvaluationReport Evaluation(IReadOnlyList<string> classes, long[][] counts, double seconds, float confidence = 0.7f)
    {
        int k = classes.Count;
        var rows = new List<Scored>();
        for (int actual = 0; actual < k; actual++)
            for (int predicted = 0; predicted < k; predicted++)
                for (long n = 0; n < counts[actual][predicted]; n++)
                {
                    var score = Enumerable.Repeat((1 - confidence) / (k - 1), k).ToArray();
                    score[predicted] = confidence;
                    rows.Add(new Scored { Label = actual, PredictedLabel = (uint)predicted + 1, Score = score });
                }

        var ml = new MLContext(seed: 0);
        var schema = SchemaDefinition.Create(typeof(Scored));
        schema[nameof(Scored.PredictedLabel)].ColumnType = new KeyDataViewType(typeof(uint), k);
        schema[nameof(Scored.Score)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, k);
        var data = ml.Data.LoadFromEnumerable(rows, schema);
        var metrics = ml.MulticlassClassification.Evaluate(data);
        return EvaluationReport.From(metrics, classes, rows.Count, seconds);
    }

    /// <summary>
    /// A k-class confusion matrix with <paramref name="perClass"/> rows per actual class, about
    /// <paramref name="accuracy"/> of them on the diagonal and the rest spread over random other classes.
    /// </summary>
    public static long[][] Counts(int k, int perClass, double accuracy, int seed)
    {
        var rng = new Random(seed);
        var counts = new long[k][];
        for (int r = 0; r < k; r++)
        {
            counts[r] = new long[k];
            int correct = (int)Math.Round(perClass * (accuracy + 0.1 * (rng.NextDouble() - 0.5)));
            counts[r][r] = Math.Min(correct, perClass);
            for (long e = counts[r][r]; e < perClass; e++)
                counts[r][(r + 1 + rng.Next(Math.Max(1, Math.Min(k - 1, 3)))) % k]++;
        }
        return counts;
    }

    /// <summary>A training summary with validation evaluations at each quarter epoch over two epochs.</summary>
    public static TrainingSummary Training(double finalF1, double seconds, int stepsPerEpoch)
    {
        var evals = Enumerable.Range(1, 8).Select(i =>
        {
            double epoch = i / 4.0;
            double f1 = finalF1 * (1 - Math.Exp(-1.2 * i)) / (1 - Math.Exp(-9.6));
            return new EvaluationRecord((long)(epoch * stepsPerEpoch), epoch, LogLoss: 2.2 - 2 * finalF1 + 1.2 * Math.Exp(-0.3 * i), Accuracy: f1 + 0.01, MacroF1: f1, Rows: 400);
        }).ToArray();
        return new TrainingSummary
        {
            Steps = 2 * stepsPerEpoch,
            Epochs = 2,
            Evaluations = evals,
            Best = evals[^1],
            RowsPerSecond = 2 * stepsPerEpoch * 16 / seconds,
            Seconds = seconds,
            StepLosses = Enumerable.Range(0, 2 * stepsPerEpoch).Select(i => (float)(1.4 * Math.Exp(-i / 40.0))).ToArray(),
        };
    }

    /// <summary>Three models on the four AG News classes: a classic baseline (no curve), BERT and Qwen3 (curves).</summary>
    public static ModelRunResult[] ThreeModels() =>
    [
        new ModelRunResult
        {
            Name = "ML.NET SDCA", Kind = ModelKind.ClassicMlNet,
            Test = Evaluation(AgNewsClasses, Counts(4, 100, 0.88, seed: 1), seconds: 0.01),
            TrainingSeconds = 3.2, TrainRowsPerSecond = 25_000, PeakMemoryMiB = 310, ParameterCount = 4 * 65_536, Device = "cpu",
        },
        new ModelRunResult
        {
            Name = "BERT", Kind = ModelKind.EncoderClassifier,
            Test = Evaluation(AgNewsClasses, Counts(4, 100, 0.93, seed: 2), seconds: 4, confidence: 0.9f),
            Training = Training(0.93, seconds: 600, stepsPerEpoch: 100),
            PeakMemoryMiB = 2_480, ParameterCount = 109_485_316, Device = "cuda:0", Notes = "tiny random checkpoint",
        },
        new ModelRunResult
        {
            Name = "Qwen3 prompted", Kind = ModelKind.DecoderPrompted,
            Test = Evaluation(AgNewsClasses, Counts(4, 100, 0.80, seed: 3), seconds: 40, confidence: 0.5f),
            Training = Training(0.85, seconds: 3_000, stepsPerEpoch: 200),
            PeakMemoryMiB = 5_120, ParameterCount = 596_049_920, Device = "cuda:0", Notes = "tiny random checkpoint",
        },
    ];

    public static ComparisonReport Report(IEnumerable<ModelRunResult>? models = null) => new(models ?? ThreeModels())
    {
        DataSource = "../shared/data/ag_news/test.csv",
        TrainRows = 6_000,
        ValidationRows = 800,
        TestRows = null,
        Seed = 42,
        CommandLine = "mlnet-llm compare --data test.csv --seed 42",
        Warnings = ["tiny random checkpoints: accuracy is not representative; run `mlnet-llm compare --bert google-bert/bert-base-cased --qwen3 Qwen/Qwen3-0.6B` for real weights"],
    };
}
