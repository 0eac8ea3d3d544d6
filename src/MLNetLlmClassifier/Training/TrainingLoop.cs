using System.Diagnostics;
using MLNetLlmClassifier.Torch;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetLlmClassifier.Training;

/// <summary>The metric that picks the best evaluation and drives early stopping.</summary>
public enum EarlyStoppingMetric
{
    /// <summary>Macro-averaged F1 (higher is better). The reference experiment reports it.</summary>
    MacroF1,
    /// <summary>Micro accuracy (higher is better).</summary>
    Accuracy,
    /// <summary>Log-loss (lower is better).</summary>
    LogLoss,
}

/// <summary>Raised when the training loss stops being a finite number.</summary>
public sealed class TrainingDivergedException : Exception
{
    /// <summary>Creates the exception.</summary>
    public TrainingDivergedException(long step, double loss)
        : base($"The training loss became {loss} at optimizer step {step}. Nothing was saved. " +
               "Try a lower LearningRate, a longer warmup (WarmupRatio), gradient clipping (MaxGradientNorm, e.g. 1.0), " +
               "or Precision = Float32.")
    {
        Step = step;
        Loss = loss;
    }

    /// <summary>The optimizer step (1-based) at which the loss was not finite.</summary>
    public long Step { get; }

    /// <summary>The non-finite loss value.</summary>
    public double Loss { get; }
}

/// <summary>
/// The training loop shared by every trainer: AdamW (decay on weights of two or more dimensions
/// only), warmup then cosine/linear decay, gradient accumulation, gradient clipping, periodic
/// evaluation on a validation set, early stopping with restore of the best evaluation, and
/// cancellation. The model family plugs in through <see cref="ITrainableClassifier"/>.
/// </summary>
internal sealed class TrainingLoop
{
    private readonly TransformerTrainerOptions _s;
    private readonly int _seed;
    private readonly Action<TrainingProgress> _report;
    private readonly CancellationToken _ct;

    /// <summary>The loop reads the trainer's options as they are (one vocabulary, no copies).</summary>
    /// <param name="options">The trainer's options (validated).</param>
    /// <param name="seed">The seed: <see cref="TransformerTrainerOptions.Seed"/>, or one drawn from the MLContext.</param>
    /// <param name="report">Receives every step and evaluation.</param>
    public TrainingLoop(TransformerTrainerOptions options, int seed, Action<TrainingProgress> report)
    {
        _s = options;
        _seed = seed;
        _report = report;
        _ct = options.CancellationToken;
    }

    public TrainingSummary Run(ITrainableClassifier model,
        IReadOnlyList<EncodedExample> train, long[] trainLabels,
        IReadOnlyList<EncodedExample>? valid, long[]? validLabels)
    {
        if (train.Count == 0) throw new ArgumentException("The training set has no rows.");
        if (train.Count != trainLabels.Length) throw new ArgumentException("Training rows and labels differ in number.");
        var s = _s;
        torch.manual_seed(_seed);
        var rng = new Random(_seed);
        var lengths = train.Select(e => e.Length).ToArray();
        int accum = Math.Max(1, s.GradientAccumulationSteps);
        var schedule = TrainingSchedule.For(s, train.Count, valid is { Count: > 0 });
        var (stepsPerEpoch, totalSteps, warmupSteps) = (schedule.StepsPerEpoch, schedule.TotalSteps, schedule.WarmupSteps);

        using var classWeights = s.ClassWeighting == ClassWeighting.Balanced ? BalancedWeights(trainLabels, model.NumClasses, model.Device) : null;
        var lossSettings = new LossSettings(classWeights, s.LabelSmoothing);
        using var optimizer = new AdamW(model.Module.parameters(), s.WeightDecay);
        if (ICheckpointableModule.Apply(model.Module, s.GradientCheckpointing) == 0 && s.GradientCheckpointing)
            throw new NotSupportedException($"Option {nameof(s.GradientCheckpointing)} = true: the {model.Family.Name} model has no layers that can be checkpointed.");

        var evaluations = new List<EvaluationRecord>();
        var stepLosses = new List<float>();
        EvaluationRecord? best = null;
        Dictionary<string, Tensor>? bestState = null;
        int sinceBest = 0;
        bool stoppedEarly = false;
        long step = 0, rowsSeen = 0;
        var clock = Stopwatch.StartNew();
        double trainSeconds = 0;
        int truncated = train.Count(e => e.Truncated);

        try
        {
            model.Module.train();
            for (int epoch = 0; step < totalSteps && !stoppedEarly; epoch++)
            {
                var batches = LengthBucketSampler.TrainingBatches(lengths, s.BatchSize, rng);
                for (int b = 0; b < batches.Count && step < totalSteps && !stoppedEarly; b += accum)
                {
                    _ct.ThrowIfCancellationRequested();
                    var stepPhase = StepProfiler.Measure("step, unattributed (batching, bookkeeping)");
                    var t0 = clock.Elapsed;
                    int micro = Math.Min(accum, batches.Count - b);
                    int stepRows = 0;
                    double lossSum = 0;
                    for (int m = 0; m < micro; m++)
                    {
                        using var scope = NewDisposeScope();
                        var idx = batches[b + m];
                        var rows = idx.Select(i => train[i]).ToArray();
                        var labels = idx.Select(i => trainLabels[i]).ToArray();
                        Tensor loss;
                        using (StepProfiler.Measure(StepProfiler.UnattributedForward))
                            loss = model.Loss(rows, labels, lossSettings);
                        double value;
                        using (StepProfiler.Measure("loss to host (sync)"))
                            value = loss.item<float>();
                        if (!double.IsFinite(value)) throw new TrainingDivergedException(step + 1, value);
                        using (StepProfiler.Measure("backward"))
                            (micro == 1 ? loss : loss / micro).backward();
                        lossSum += value;
                        stepRows += rows.Length;
                    }
                    double norm;
                    using (StepProfiler.Measure("gradient norm"))
                        norm = optimizer.GradientNorm();
                    if (!double.IsFinite(norm)) throw new TrainingDivergedException(step + 1, norm);
                    double scale = s.MaxGradientNorm > 0 && norm > s.MaxGradientNorm ? s.MaxGradientNorm / (norm + 1e-6) : 1.0;
                    double lr = LearningRate.At(step, totalSteps, warmupSteps, s.LearningRate, s.Schedule);
                    using (StepProfiler.Measure("optimizer (AdamW)"))
                        optimizer.Step(lr, scale);
                    using (StepProfiler.Measure("zero grad"))
                        optimizer.ZeroGrad();
                    stepPhase.Dispose();
                    StepProfiler.EndOf("step");
                    step++;
                    rowsSeen += stepRows;
                    trainSeconds += (clock.Elapsed - t0).TotalSeconds;
                    stepLosses.Add((float)(lossSum / micro));
                    double epochF = (double)step / stepsPerEpoch;
                    _report(new TrainingProgress
                    {
                        Kind = TrainingEventKind.Step,
                        Step = step,
                        TotalSteps = totalSteps,
                        Epoch = epochF,
                        Loss = lossSum / micro,
                        LearningRate = lr,
                        GradientNorm = norm,
                        RowsPerSecond = rowsSeen / Math.Max(trainSeconds, 1e-9),
                        Message = $"step {step}/{totalSteps} epoch {epochF:F2} loss {lossSum / micro:F4} lr {lr:E2} {rowsSeen / Math.Max(trainSeconds, 1e-9):F1} rows/s",
                    });

                    if (schedule.EvaluatesAt(step))
                    {
                        var ev = Evaluate(model, valid!, validLabels!, step, epochF);
                        evaluations.Add(ev);
                        bool better = best is null || IsBetter(ev, best, s.EarlyStoppingMetric);
                        // Patience counts evaluations without a real improvement; a tie or a gain within MinimumImprovement still
                        // moves the best model forward (ties go to the later weights) but does not reset patience.
                        if (best is null || Improves(ev, best, s.EarlyStoppingMetric, s.MinimumImprovement)) sinceBest = 0;
                        else sinceBest++;
                        if (better)
                        {
                            best = ev;
                            if (s.RestoreBestModel) { DisposeState(bestState); bestState = Snapshot(model.Module); }
                        }
                        _report(new TrainingProgress
                        {
                            Kind = TrainingEventKind.Evaluation,
                            Step = step,
                            TotalSteps = totalSteps,
                            Epoch = epochF,
                            Evaluation = ev,
                            Message = $"eval step {step} epoch {epochF:F2}: log-loss {ev.LogLoss:F4} accuracy {ev.Accuracy:F4} macro-F1 {ev.MacroF1:F4}{(better ? " (best)" : "")}",
                        });
                        if (s.EarlyStoppingPatience > 0 && sinceBest >= s.EarlyStoppingPatience)
                            stoppedEarly = true;
                    }
                }
            }

            if (bestState is not null && best is not null && best.Step != step)
            {
                Restore(model.Module, bestState);
                optimizer.ReloadMasters();
            }
        }
        finally
        {
            DisposeState(bestState);
            model.Module.eval();
        }

        var summary = new TrainingSummary
        {
            Steps = step,
            Epochs = (double)step / stepsPerEpoch,
            Evaluations = evaluations,
            Best = best,
            StoppedEarly = stoppedEarly,
            RowsPerSecond = rowsSeen / Math.Max(trainSeconds, 1e-9),
            Seconds = clock.Elapsed.TotalSeconds,
            TruncatedRows = truncated,
            StepLosses = stepLosses,
        };
        _report(new TrainingProgress
        {
            Kind = TrainingEventKind.Finished,
            Step = step,
            TotalSteps = totalSteps,
            Epoch = summary.Epochs,
            RowsPerSecond = summary.RowsPerSecond,
            Evaluation = best,
            Message = $"training finished after {step} steps ({summary.Epochs:F2} epochs{(stoppedEarly ? ", stopped early" : "")}), " +
                      $"{summary.RowsPerSecond:F1} rows/s" + (best is null ? "" : $", best macro-F1 {best.MacroF1:F4} at step {best.Step}"),
        });
        return summary;
    }

    /// <summary>Log-loss, accuracy and macro-F1 on a labelled set, under no_grad, in length-sorted batches.</summary>
    public EvaluationRecord Evaluate(ITrainableClassifier model, IReadOnlyList<EncodedExample> rows, long[] labels, long step, double epoch)
    {
        bool wasTraining = model.Module.training;
        model.Module.eval();
        try
        {
            var predicted = new long[rows.Count];
            double nll = 0;
            using var _ = no_grad();
            foreach (var idx in LengthBucketSampler.InferenceBatches(rows.Select(r => r.Length).ToArray(), _s.EffectiveInferenceBatchSize))
            {
                _ct.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                var logp = model.ClassLogProbabilities(idx.Select(i => rows[i]).ToArray()).to(CPU);
                var y = tensor(idx.Select(i => labels[i]).ToArray());
                nll += -logp.gather(1, y.unsqueeze(1)).sum().item<float>();
                var arg = logp.argmax(1).data<long>().ToArray();
                for (int k = 0; k < idx.Length; k++) predicted[idx[k]] = arg[k];
                StepProfiler.EndOf("evaluation batch");
            }
            var (acc, f1) = AccuracyAndMacroF1(labels, predicted, model.NumClasses);
            return new EvaluationRecord(step, epoch, nll / rows.Count, acc, f1, rows.Count);
        }
        finally
        {
            if (wasTraining) model.Module.train();
        }
    }

    internal static (double Accuracy, double MacroF1) AccuracyAndMacroF1(long[] truth, long[] predicted, int numClasses)
    {
        var tp = new long[numClasses]; var fp = new long[numClasses]; var fn = new long[numClasses];
        long correct = 0;
        for (int i = 0; i < truth.Length; i++)
        {
            if (truth[i] == predicted[i]) { correct++; tp[truth[i]]++; }
            else { fp[predicted[i]]++; fn[truth[i]]++; }
        }
        double f1Sum = 0; int present = 0;
        for (int c = 0; c < numClasses; c++)
        {
            if (tp[c] + fp[c] + fn[c] == 0) continue; // class absent from labels and predictions
            present++;
            f1Sum += 2.0 * tp[c] / (2.0 * tp[c] + fp[c] + fn[c]);
        }
        return ((double)correct / Math.Max(1, truth.Length), present == 0 ? 0 : f1Sum / present);
    }

    /// <summary>
    /// Whether evaluation <paramref name="a"/> (the later one) replaces <paramref name="b"/> as the best: a better metric, or the
    /// same metric and a log-loss no higher. So a flat metric (a model that predicts one class for a while) moves the best
    /// model to the later, usually better calibrated weights instead of keeping the first evaluation's.
    /// </summary>
    internal static bool IsBetter(EvaluationRecord a, EvaluationRecord b, EarlyStoppingMetric metric)
    {
        double gain = Gain(a, b, metric);
        return gain > 0 || (gain == 0 && a.LogLoss <= b.LogLoss);
    }

    /// <summary>Whether <paramref name="a"/> beats <paramref name="b"/> by more than <paramref name="minimum"/> (early stopping's improvement).</summary>
    internal static bool Improves(EvaluationRecord a, EvaluationRecord b, EarlyStoppingMetric metric, double minimum) => Gain(a, b, metric) > minimum;

    /// <summary>How much better <paramref name="a"/> is than <paramref name="b"/> by the metric (positive: better).</summary>
    private static double Gain(EvaluationRecord a, EvaluationRecord b, EarlyStoppingMetric metric) => metric switch
    {
        EarlyStoppingMetric.MacroF1 => a.MacroF1 - b.MacroF1,
        EarlyStoppingMetric.Accuracy => a.Accuracy - b.Accuracy,
        _ => b.LogLoss - a.LogLoss,
    };

    /// <summary>Inverse-frequency weights n / (C * n_c), as scikit-learn's "balanced"; classes absent from training get weight 0.</summary>
    internal static Tensor BalancedWeights(long[] labels, int numClasses, Device device)
    {
        var counts = new double[numClasses];
        foreach (var l in labels) counts[l]++;
        var w = counts.Select(c => c == 0 ? 0f : (float)(labels.Length / (numClasses * c))).ToArray();
        return tensor(w, device: device);
    }

    // The best evaluation's weights: the trainable parameters and the buffers only. Frozen parameters (LoRA's base model, frozen
    // layers) cannot have changed, so a LoRA run copies megabytes of adapters here instead of the whole model.
    private static IEnumerable<(string Name, Tensor Tensor)> Changing(nn.Module module) =>
        module.named_parameters().Where(p => p.parameter.requires_grad).Select(p => (p.name, (Tensor)p.parameter))
            .Concat(module.named_buffers().Select(b => (b.name, b.buffer)));

    internal static Dictionary<string, Tensor> Snapshot(nn.Module module)
    {
        using var _ = no_grad();
        var state = new Dictionary<string, Tensor>();
        foreach (var (name, t) in Changing(module))
            state[name] = t.detach().to(CPU, copy: true).DetachFromDisposeScope();
        return state;
    }

    private static void Restore(nn.Module module, Dictionary<string, Tensor> state)
    {
        using var _ = no_grad();
        foreach (var (name, t) in Changing(module))
            t.copy_(state[name]);
    }

    private static void DisposeState(Dictionary<string, Tensor>? state)
    {
        if (state is null) return;
        foreach (var t in state.Values) t.Dispose();
        state.Clear();
    }
}
