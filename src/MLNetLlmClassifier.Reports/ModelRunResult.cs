using MLNetLlmClassifier.Data;
using MLNetLlmClassifier.Evaluation;
using MLNetLlmClassifier.Families;
using MLNetLlmClassifier.Training;

namespace MLNetLlmClassifier.Reports;

/// <summary>
/// One model's result in a comparison: its test-set evaluation, its training record (when it was trained by the
/// transformer training loop) and what it cost. Figures that were not measured are <c>null</c> and show as "n/a".
/// </summary>
/// <remarks>
/// The throughput and time figures fall back on the evaluation and training records when not given:
/// <see cref="InferenceRowsPerSecond"/> on <see cref="EvaluationReport.RowsPerSecond"/>,
/// <see cref="TrainRowsPerSecond"/> and <see cref="TrainingSeconds"/> on <see cref="TrainingSummary"/>.
/// </remarks>
public sealed record ModelRunResult
{
    private readonly double? _trainingSeconds;
    private readonly double? _trainRowsPerSecond;
    private readonly double? _inferenceRowsPerSecond;
    private readonly IReadOnlyList<EvaluationRecord>? _evaluations;

    /// <summary>Display name, unique within a report, e.g. "ML.NET SDCA", "BERT", "Qwen3 prompted".</summary>
    public required string Name { get; init; }

    /// <summary>The model family.</summary>
    public required ModelKind Kind { get; init; }

    /// <summary>The evaluation on the test split (metrics, per-class figures, confusion counts, scoring rows/s).</summary>
    public required EvaluationReport Test { get; init; }

    /// <summary>The transformer training loop's summary; null for models it did not train (the classic baseline, zero-shot prompting).</summary>
    public TrainingSummary? Training { get; init; }

    /// <summary>
    /// Validation evaluations during training, drawn as the learning curve. Defaults to
    /// <see cref="TrainingSummary.Evaluations"/>; set it for a model trained some other way (e.g. a classic trainer
    /// evaluated after each iteration). Never null when read.
    /// </summary>
    public IReadOnlyList<EvaluationRecord> Evaluations
    {
        get => _evaluations ?? Training?.Evaluations ?? [];
        init => _evaluations = value;
    }

    /// <summary>Wall-clock seconds the fit took; defaults to <see cref="TrainingSummary.Seconds"/>. 0 for a model that needs no training.</summary>
    public double? TrainingSeconds
    {
        get => _trainingSeconds ?? Training?.Seconds;
        init => _trainingSeconds = value;
    }

    /// <summary>Training rows per second; defaults to <see cref="TrainingSummary.RowsPerSecond"/>.</summary>
    public double? TrainRowsPerSecond
    {
        get => _trainRowsPerSecond ?? Training?.RowsPerSecond;
        init => _trainRowsPerSecond = value;
    }

    /// <summary>Scoring rows per second on the test set; defaults to <see cref="EvaluationReport.RowsPerSecond"/> when that was timed.</summary>
    public double? InferenceRowsPerSecond
    {
        get => _inferenceRowsPerSecond ?? (Test is { RowsPerSecond: > 0 } t ? t.RowsPerSecond : null);
        init => _inferenceRowsPerSecond = value;
    }

    /// <summary>Peak memory of the run in MiB (process working set on CPU, allocator peak on a GPU), or null if not measured.</summary>
    public double? PeakMemoryMiB { get; init; }

    /// <summary>Number of trainable parameters (weights of the classic model), or null if unknown.</summary>
    public long? ParameterCount { get; init; }

    /// <summary>Where it ran, e.g. "cpu" or "cuda:0".</summary>
    public string Device { get; init; } = "cpu";

    /// <summary>Free text shown under the table, e.g. "tiny random checkpoint".</summary>
    public string? Notes { get; init; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the model and the figure at fault.</summary>
    internal void Validate()
    {
        if (string.IsNullOrWhiteSpace(Name)) throw new ArgumentException("A model has an empty Name.");
        if (Test is null) throw new ArgumentException($"Model '{Name}' has no Test evaluation.");
        if (Test.ConfusionCounts.Count != Test.PerClass.Count || Test.ConfusionCounts.Any(r => r.Count != Test.PerClass.Count))
            throw new ArgumentException($"Model '{Name}': the confusion matrix is not {Test.PerClass.Count}x{Test.PerClass.Count} (one row and column per class).");
        if (string.IsNullOrWhiteSpace(Device)) throw new ArgumentException($"Model '{Name}' has an empty Device.");
        NonNegative(TrainingSeconds, nameof(TrainingSeconds));
        NonNegative(TrainRowsPerSecond, nameof(TrainRowsPerSecond));
        NonNegative(InferenceRowsPerSecond, nameof(InferenceRowsPerSecond));
        NonNegative(PeakMemoryMiB, nameof(PeakMemoryMiB));
        NonNegative(ParameterCount, nameof(ParameterCount));
    }

    private void NonNegative(double? value, string name)
    {
        if (value < 0) throw new ArgumentException($"Model '{Name}': {name} is {value}; it must be >= 0, or null when not measured.");
    }
}
