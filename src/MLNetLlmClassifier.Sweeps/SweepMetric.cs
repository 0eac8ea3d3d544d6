using Microsoft.ML.Data;
using MLNetLlmClassifier.Training;

namespace MLNetLlmClassifier.Sweeps;

/// <summary>
/// The metric a sweep optimizes: ML.NET's multiclass metrics (as AutoML's MulticlassClassificationMetric) plus
/// macro-F1, all computed by <c>mlContext.MulticlassClassification.Evaluate</c> on the validation set.
/// </summary>
public enum SweepMetric
{
    /// <summary>Macro-averaged F1 over the classes present in labels or predictions (higher is better).</summary>
    MacroF1,
    /// <summary>Micro accuracy: the fraction of rows right (higher is better).</summary>
    MicroAccuracy,
    /// <summary>Macro accuracy: mean recall over classes (higher is better).</summary>
    MacroAccuracy,
    /// <summary>Log-loss (lower is better).</summary>
    LogLoss,
    /// <summary>Log-loss reduction relative to the class prior (higher is better).</summary>
    LogLossReduction,
    /// <summary>Top-k accuracy, k given to SetMetric (higher is better).</summary>
    TopKAccuracy,
}

/// <summary>Reading sweep metrics from ML.NET's evaluation and from the trainers' progress reports.</summary>
public static class SweepMetrics
{
    /// <summary>Whether higher is better.</summary>
    public static bool IsMaximized(this SweepMetric metric) => metric != SweepMetric.LogLoss;

    /// <summary>The metric's value in ML.NET's evaluation.</summary>
    public static double Value(this SweepMetric metric, MulticlassClassificationMetrics m) => metric switch
    {
        SweepMetric.MacroF1 => MacroF1(m.ConfusionMatrix),
        SweepMetric.MicroAccuracy => m.MicroAccuracy,
        SweepMetric.MacroAccuracy => m.MacroAccuracy,
        SweepMetric.LogLoss => m.LogLoss,
        SweepMetric.LogLossReduction => m.LogLossReduction,
        SweepMetric.TopKAccuracy => m.TopKAccuracy,
        _ => throw new ArgumentOutOfRangeException(nameof(metric), metric, "Unknown sweep metric."),
    };

    /// <summary>Every metric of an evaluation by name (TopKAccuracy only when k was given).</summary>
    public static IReadOnlyDictionary<string, double> All(MulticlassClassificationMetrics m)
    {
        var all = new Dictionary<string, double>
        {
            [nameof(SweepMetric.MacroF1)] = MacroF1(m.ConfusionMatrix),
            [nameof(SweepMetric.MicroAccuracy)] = m.MicroAccuracy,
            [nameof(SweepMetric.MacroAccuracy)] = m.MacroAccuracy,
            [nameof(SweepMetric.LogLoss)] = m.LogLoss,
            [nameof(SweepMetric.LogLossReduction)] = m.LogLossReduction,
        };
        if (m.TopKPredictionCount > 0) all[nameof(SweepMetric.TopKAccuracy)] = m.TopKAccuracy;
        return all;
    }

    /// <summary>
    /// Macro-F1 from the confusion matrix: the mean over classes of 2·TP / (2·TP + FP + FN), skipping classes
    /// that appear in neither the labels nor the predictions (the training loop's definition, so the two agree).
    /// </summary>
    public static double MacroF1(ConfusionMatrix confusion)
    {
        ArgumentNullException.ThrowIfNull(confusion);
        var counts = confusion.Counts; // [true class][predicted class]
        int k = confusion.NumberOfClasses;
        double sum = 0;
        int present = 0;
        for (int c = 0; c < k; c++)
        {
            double tp = counts[c][c], fn = 0, fp = 0;
            for (int j = 0; j < k; j++)
            {
                if (j == c) continue;
                fn += counts[c][j];
                fp += counts[j][c];
            }
            if (tp + fp + fn == 0) continue;
            present++;
            sum += 2 * tp / (2 * tp + fp + fn);
        }
        return present == 0 ? 0 : sum / present;
    }

    /// <summary>
    /// The value a trainer's evaluation report gives the pruner for <paramref name="metric"/>. The training loop
    /// measures log-loss, accuracy and macro-F1, so: MacroF1 → macro-F1, MicroAccuracy → accuracy, LogLoss → log-loss,
    /// LogLossReduction → −log-loss (the reduction is a decreasing function of log-loss on a fixed validation set, so the
    /// ranking is the same), and MacroAccuracy and TopKAccuracy → accuracy as the nearest proxy. Trials are compared only
    /// with each other on this value, so a proxy ranks them without having to equal the final metric.
    /// </summary>
    public static double IntermediateValue(this SweepMetric metric, EvaluationRecord e) => metric switch
    {
        SweepMetric.MacroF1 => e.MacroF1,
        SweepMetric.LogLoss => e.LogLoss,
        SweepMetric.LogLossReduction => -e.LogLoss,
        _ => e.Accuracy,
    };
}
