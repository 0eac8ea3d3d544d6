using System.Globalization;
using System.Text;

namespace MLNetLlmClassifier.Training;

/// <summary>
/// The step arithmetic of a run, in one place: optimizer steps per epoch and in all, warmup steps, and how often the validation
/// set is evaluated. <see cref="TrainingLoop"/> runs exactly this schedule and <see cref="TrainingPlan"/> prints it.
/// </summary>
/// <param name="StepsPerEpoch">Optimizer steps per pass over the data (batches of <c>BatchSize</c>, grouped by <c>GradientAccumulationSteps</c>).</param>
/// <param name="TotalSteps">Optimizer steps of the run (<c>NumberOfEpochs</c> × <see cref="StepsPerEpoch"/>, rounded up).</param>
/// <param name="WarmupSteps">Steps of linear warmup.</param>
/// <param name="EvaluateEvery">Steps between evaluations; <see cref="long.MaxValue"/> without a validation set.</param>
internal sealed record TrainingSchedule(long StepsPerEpoch, long TotalSteps, long WarmupSteps, long EvaluateEvery)
{
    /// <summary>
    /// The schedule of <paramref name="o"/> over <paramref name="trainRows"/> rows. Evaluation: every <c>EvaluationSteps</c> when set,
    /// else every <c>EvaluationInterval</c> of an epoch but at least <c>MinimumEvaluationSteps</c> apart; the last step is always evaluated.
    /// </summary>
    public static TrainingSchedule For(TransformerTrainerOptions o, int trainRows, bool validate)
    {
        int batchesPerEpoch = (trainRows + o.BatchSize - 1) / o.BatchSize;
        int accum = Math.Max(1, o.GradientAccumulationSteps);
        long stepsPerEpoch = Math.Max(1, (batchesPerEpoch + accum - 1) / accum);
        long totalSteps = Math.Max(1, (long)Math.Ceiling(stepsPerEpoch * o.NumberOfEpochs));
        long warmupSteps = (long)Math.Ceiling(o.WarmupRatio * totalSteps);
        long evaluateEvery = !validate ? long.MaxValue
            : o.EvaluationSteps > 0 ? o.EvaluationSteps
            : Math.Max(Math.Max(1, o.MinimumEvaluationSteps), (long)Math.Round(o.EvaluationInterval * stepsPerEpoch));
        return new TrainingSchedule(stepsPerEpoch, totalSteps, warmupSteps, evaluateEvery);
    }

    /// <summary>Whether the validation set is evaluated after <paramref name="step"/> (1-based).</summary>
    public bool EvaluatesAt(long step) => EvaluateEvery != long.MaxValue && (step % EvaluateEvery == 0 || step == TotalSteps);

    /// <summary>Evaluations the run makes if it is not stopped early.</summary>
    public long EvaluationCount => EvaluateEvery == long.MaxValue ? 0 : TotalSteps / EvaluateEvery + (TotalSteps % EvaluateEvery == 0 ? 0 : 1);
}

/// <summary>
/// What a training run is about to do, reported before its first step by every trainer (through <c>Progress</c> as
/// <see cref="TrainingEventKind.Plan"/> lines and <see cref="TrainingEventKind.Warning"/>s, and to MLContext.Log): rows and
/// classes with their counts, batch × accumulation = effective batch, optimizer steps, evaluation points, device and precision.
/// Its warnings catch the plans that cannot work: too few steps, more classes than half the rows (swapped columns), single-row classes.
/// </summary>
internal sealed record TrainingPlan
{
    /// <summary>Fewer optimizer steps than this draws a warning: a model from random weights learns next to nothing in so few.</summary>
    public const int FewSteps = 100;

    /// <summary>Classes listed by name in <see cref="Lines"/>; the rest are counted.</summary>
    private const int ListedClasses = 12;

    public required string Trainer { get; init; }
    public required int Rows { get; init; }
    public required int ValidationRows { get; init; }
    /// <summary>Each class (key order) and its training rows.</summary>
    public required IReadOnlyList<(string Name, int Rows)> Classes { get; init; }
    public required int BatchSize { get; init; }
    public required int GradientAccumulationSteps { get; init; }
    public required double Epochs { get; init; }
    public required TrainingSchedule Schedule { get; init; }
    public required string Device { get; init; }
    public required string Precision { get; init; }
    /// <summary>Whether the checkpoint was written by init-model (random weights), when known.</summary>
    public bool RandomWeights { get; init; }

    public int EffectiveBatchSize => BatchSize * GradientAccumulationSteps;

    private string EpochsText => Epochs.ToString("0.##", CultureInfo.InvariantCulture);

    /// <summary>The plan of a run of <paramref name="o"/> on rows labelled <paramref name="labels"/> (0-based class indexes).</summary>
    public static TrainingPlan Create(string trainer, TransformerTrainerOptions o, long[] labels, IReadOnlyList<string> classNames, int validationRows,
        string device, string precision, bool randomWeights)
    {
        var counts = new int[classNames.Count];
        foreach (var l in labels) counts[l]++;
        return new TrainingPlan
        {
            Trainer = trainer,
            Rows = labels.Length,
            ValidationRows = validationRows,
            Classes = classNames.Select((n, i) => (n, counts[i])).ToArray(),
            BatchSize = o.BatchSize,
            GradientAccumulationSteps = Math.Max(1, o.GradientAccumulationSteps),
            Epochs = o.NumberOfEpochs,
            Schedule = TrainingSchedule.For(o, labels.Length, validationRows > 0),
            Device = device,
            Precision = precision,
            RandomWeights = randomWeights,
        };
    }

    /// <summary>The plan as a few lines of text.</summary>
    public IReadOnlyList<string> Lines()
    {
        var ci = CultureInfo.InvariantCulture;
        var classes = new StringBuilder();
        foreach (var (name, rows) in Classes.Take(ListedClasses))
            classes.Append(classes.Length == 0 ? "" : ", ").Append(ci, $"{name} {rows}");
        if (Classes.Count > ListedClasses) classes.Append(ci, $", ... {Classes.Count - ListedClasses} more");
        var s = Schedule;
        return
        [
            $"plan: {Trainer} on {Rows} rows ({ValidationRows} validation rows), {Classes.Count} classes: {classes}",
            $"plan: batch {BatchSize} x accumulation {GradientAccumulationSteps} = effective batch {EffectiveBatchSize}; " +
                              $"{s.StepsPerEpoch} optimizer steps per epoch x {EpochsText} epochs = {s.TotalSteps} steps ({s.WarmupSteps} warmup)",
            $"plan: " + (s.EvaluationCount == 0 ? "no evaluation (no validation set)"
                              : $"{s.EvaluationCount} evaluations (every {s.EvaluateEvery} steps and after the last)") +
                              $"; device {Device}, {Precision}{(RandomWeights ? "; random weights (init-model)" : "")}",
        ];
    }

    /// <summary>What looks wrong with the plan, one line each (empty when nothing does).</summary>
    public IReadOnlyList<string> Warnings()
    {
        var w = new List<string>();
        if (Schedule.TotalSteps < FewSteps)
            w.Add($"only {Schedule.TotalSteps} optimizer steps (effective batch {EffectiveBatchSize} = batch {BatchSize} x accumulation {GradientAccumulationSteps}, " +
                                    $"{EpochsText} epochs of {Rows} rows): " +
                                    (RandomWeights ? "a model from random weights learns next to nothing in fewer than about 100" : "enough to adjust pretrained weights a little, far too few for a model from random weights") +
                                    "; lower the batch size or GradientAccumulationSteps (--batch-size, --grad-accum), or train more epochs (--epochs).");
        if (Classes.Count > Rows / 2.0)
            w.Add($"{Classes.Count} classes for {Rows} rows (more than half the rows): is the label column right? " +
                                    "Swapped label and text columns make one class per distinct text (--label-column, --text-column).");
        var single = Classes.Where(c => c.Rows == 1).Select(c => c.Name).ToList();
        if (single.Count > 0 && Classes.Count <= Rows / 2.0)
            w.Add($"{single.Count} class(es) with a single training row ({string.Join(", ", single.Take(5).Select(n => $"'{n}'"))}{(single.Count > 5 ? ", ..." : "")}): " +
                                    "a stray label, e.g. from an unquoted separator inside a field?");
        return w;
    }
}
