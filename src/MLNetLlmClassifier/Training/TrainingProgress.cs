namespace MLNetLlmClassifier.Training;

/// <summary>What kind of event a <see cref="TrainingProgress"/> report is.</summary>
public enum TrainingEventKind
{
    /// <summary>Rows are being read and tokenised.</summary>
    Preparing,
    /// <summary>An optimizer step finished.</summary>
    Step,
    /// <summary>An evaluation on the validation set finished.</summary>
    Evaluation,
    /// <summary>Training finished (normally or by early stopping).</summary>
    Finished,
    /// <summary>One line of the training plan, before the first step (rows, classes, effective batch, steps, evaluations, device).</summary>
    Plan,
    /// <summary>A warning about the plan or the data (e.g. too few steps, more classes than half the rows); the message says what to check.</summary>
    Warning,
}

/// <summary>Metrics of one evaluation on the validation set.</summary>
/// <param name="Step">Optimizer step after which it ran.</param>
/// <param name="Epoch">Fractional epoch.</param>
/// <param name="LogLoss">Mean negative log-likelihood of the true class.</param>
/// <param name="Accuracy">Micro accuracy.</param>
/// <param name="MacroF1">Macro-averaged F1 over the classes present in labels or predictions.</param>
/// <param name="Rows">Rows evaluated.</param>
public sealed record EvaluationRecord(long Step, double Epoch, double LogLoss, double Accuracy, double MacroF1, int Rows);

/// <summary>A progress report from training, given to <c>IProgress&lt;TrainingProgress&gt;</c> and written to MLContext.Log.</summary>
public sealed record TrainingProgress
{
    /// <summary>What happened.</summary>
    public required TrainingEventKind Kind { get; init; }
    /// <summary>Optimizer steps done.</summary>
    public long Step { get; init; }
    /// <summary>Total optimizer steps planned.</summary>
    public long TotalSteps { get; init; }
    /// <summary>Fractional epoch (1.5 = halfway through the second epoch).</summary>
    public double Epoch { get; init; }
    /// <summary>Mean training loss over the step's micro-batches.</summary>
    public double Loss { get; init; }
    /// <summary>Learning rate used for the step.</summary>
    public double LearningRate { get; init; }
    /// <summary>Training rows per second, averaged since training began.</summary>
    public double RowsPerSecond { get; init; }
    /// <summary>Gradient norm before clipping.</summary>
    public double GradientNorm { get; init; }
    /// <summary>Set on <see cref="TrainingEventKind.Evaluation"/> events.</summary>
    public EvaluationRecord? Evaluation { get; init; }
    /// <summary>Human-readable description.</summary>
    public string Message { get; init; } = "";
}

/// <summary>The outcome of a training run.</summary>
public sealed record TrainingSummary
{
    /// <summary>Optimizer steps done.</summary>
    public long Steps { get; init; }
    /// <summary>Epochs done (fractional when stopped early).</summary>
    public double Epochs { get; init; }
    /// <summary>Every evaluation on the validation set, in order.</summary>
    public IReadOnlyList<EvaluationRecord> Evaluations { get; init; } = Array.Empty<EvaluationRecord>();
    /// <summary>The evaluation whose weights the model holds at the end (null without a validation set).</summary>
    public EvaluationRecord? Best { get; init; }
    /// <summary>Whether early stopping ended training.</summary>
    public bool StoppedEarly { get; init; }
    /// <summary>Training rows per second (forward + backward + update), over the whole run.</summary>
    public double RowsPerSecond { get; init; }
    /// <summary>Wall-clock seconds spent in the training loop, evaluations included.</summary>
    public double Seconds { get; init; }
    /// <summary>Training rows whose text was truncated to the maximum length.</summary>
    public int TruncatedRows { get; init; }
    /// <summary>Mean training loss of each optimizer step (the learning curve).</summary>
    public IReadOnlyList<float> StepLosses { get; init; } = Array.Empty<float>();
}
