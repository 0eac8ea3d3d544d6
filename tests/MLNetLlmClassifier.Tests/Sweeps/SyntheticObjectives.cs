using MLNetLlmClassifier.Sweeps;

namespace MLNetLlmClassifier.Tests.Sweeps;

/// <summary>Objectives with a known optimum that cost microseconds: stand-ins for training runs in sweep tests.</summary>
internal static class SyntheticObjectives
{
    /// <summary>The best value <see cref="FineTuning"/> can reach.</summary>
    public const double FineTuningOptimum = 0.95;

    /// <summary>A space shaped like a fine-tuning sweep (log learning rate, warmup, log weight decay, batch size choice, epochs).</summary>
    public static SearchSpace FineTuningSpace() => new SearchSpace()
        .AddLogUniform("LearningRate", 1e-6, 1e-2)
        .AddUniform("WarmupRatio", 0, 0.5)
        .AddLogUniform("WeightDecay", 1e-6, 1e-1)
        .AddChoice("BatchSize", 8, 16, 32, 64, 128)
        .AddInteger("NumberOfEpochs", 1, 6);

    /// <summary>
    /// "Accuracy" of a configuration: 0.25 + 0.7·exp(−D), D a sum of squared distances from the optimum
    /// (learning rate 2e-4, warmup 0.1, weight decay 1e-3 (weak), batch 32, 3 epochs). Maximum 0.95.
    /// </summary>
    public static double FineTuning(TrialParameters p)
    {
        double lr = Math.Log10(p.Get<double>("LearningRate")) - Math.Log10(2e-4);
        double warm = p.Get<double>("WarmupRatio") - 0.1;
        double wd = Math.Log10(p.Get<double>("WeightDecay")) + 3;
        double batch = p.Get<int>("BatchSize") switch { 32 => 0, 16 or 64 => 0.3, _ => 1.0 };
        double epochs = p.Get<int>("NumberOfEpochs") - 3;
        double d = lr * lr / 0.36 + warm * warm / 0.04 + 0.2 * wd * wd / 2.25 + batch + epochs * epochs / 6.25;
        return 0.25 + 0.7 * Math.Exp(-d);
    }

    /// <summary>The learning curve of a configuration whose final value is <paramref name="final"/>: rises as 1 − exp(−epoch / 0.3).</summary>
    public static double Curve(double final, double epoch) => 0.25 + (final - 0.25) * (1 - Math.Exp(-epoch / 0.3));

    /// <summary>Runs a sweep of the fine-tuning objective (no pruning) and returns the best value found.</summary>
    public static double BestFound(ITuner tuner, int trials)
    {
        var result = new Microsoft.ML.MLContext(seed: 0).Sweeps().CreateExperiment()
            .AddTrialRunner("synthetic", FineTuningSpace(), t => new TrialOutcome(FineTuning(t.Parameters)))
            .SetMetric(SweepMetric.MicroAccuracy)
            .SetTuner(tuner)
            .SetPruner(null)
            .SetBudget(maxTrials: trials)
            .RunAsync().GetAwaiter().GetResult();
        return result.Metric;
    }
}
