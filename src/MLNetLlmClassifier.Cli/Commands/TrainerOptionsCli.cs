using System.CommandLine;
using MLNetLlmClassifier.Training;

namespace MLNetLlmClassifier.Cli.Commands;

/// <summary>
/// Command-line options for the hyperparameters every trainer shares. An option left out keeps the
/// trainer's own default (see docs/options.md).
/// </summary>
internal sealed class TrainerOptionsCli
{
    public readonly Option<double?> Epochs = new("--epochs") { Description = "Passes over the training data (fractions allowed)." };
    public readonly Option<int?> BatchSize = new("--batch-size") { Description = "Rows per training step." };
    public readonly Option<double?> LearningRate = new("--lr") { Description = "Peak learning rate." };
    public readonly Option<int?> MaxLength = new("--max-length") { Description = "Maximum tokens per row; longer text is truncated." };
    public readonly Option<string?> Truncation = new("--truncation") { Description = "Which end of long text is cut: right (keep the start) or left." };
    public readonly Option<double?> Warmup = new("--warmup-ratio") { Description = "Fraction of steps of linear warmup." };
    public readonly Option<double?> WeightDecay = new("--weight-decay") { Description = "AdamW weight decay (matrices only)." };
    public readonly Option<string?> Schedule = new("--schedule") { Description = "cosine, linear or constant." };
    public readonly Option<int?> Accumulation = new("--grad-accum") { Description = "Gradient accumulation steps." };
    public readonly Option<double?> MaxGradNorm = new("--max-grad-norm") { Description = "Gradient clipping norm (0 = off)." };
    public readonly Option<double?> EvalInterval = new("--eval-interval") { Description = "Evaluate every this fraction of an epoch." };
    public readonly Option<int?> EvalSteps = new("--eval-steps") { Description = "Evaluate every this many steps instead." };
    public readonly Option<int?> Patience = new("--patience") { Description = "Early stopping patience in evaluations (0 = off)." };
    public readonly Option<string?> ClassWeighting = new("--class-weighting") { Description = "none or balanced." };
    public readonly Option<double?> LabelSmoothing = new("--label-smoothing") { Description = "Label smoothing epsilon." };
    public readonly Option<int?> Seed = new("--seed") { Description = "Random seed. Default 1." };
    public readonly Option<string?> Device = new("--device") { Description = "auto, cpu, cuda or cuda:N. Default auto." };
    public readonly Option<string?> Precision = new("--precision") { Description = "auto, float32 or bfloat16." };

    public void AddTo(Command c)
    {
        foreach (var o in new Option[] { Epochs, BatchSize, LearningRate, MaxLength, Truncation, Warmup, WeightDecay, Schedule, Accumulation,
                     MaxGradNorm, EvalInterval, EvalSteps, Patience, ClassWeighting, LabelSmoothing, Seed, Device, Precision })
            c.Options.Add(o);
    }

    /// <summary>Copies the options that were given onto <paramref name="o"/>.</summary>
    public void Apply(ParseResult r, TransformerTrainerOptions o)
    {
        static TEnum ParseEnum<TEnum>(string value, string option) where TEnum : struct, Enum =>
            Enum.TryParse<TEnum>(value.Replace("-", ""), ignoreCase: true, out var e) && Enum.IsDefined(e) ? e
            : throw new ArgumentException($"{option} = '{value}' is not one of: {string.Join(", ", Enum.GetNames<TEnum>().Select(n => n.ToLowerInvariant()))}.");
        if (r.GetValue(Epochs) is { } ep) o.NumberOfEpochs = ep;
        if (r.GetValue(BatchSize) is { } bs) o.BatchSize = bs;
        if (r.GetValue(LearningRate) is { } lr) o.LearningRate = lr;
        if (r.GetValue(MaxLength) is { } ml) o.MaxSequenceLength = ml;
        if (r.GetValue(Truncation) is { } tr) o.Truncation = ParseEnum<Text.TruncationSide>(tr, "--truncation");
        if (r.GetValue(Warmup) is { } wu) o.WarmupRatio = wu;
        if (r.GetValue(WeightDecay) is { } wd) o.WeightDecay = wd;
        if (r.GetValue(Schedule) is { } sc) o.Schedule = ParseEnum<LearningRateSchedule>(sc, "--schedule");
        if (r.GetValue(Accumulation) is { } ga) o.GradientAccumulationSteps = ga;
        if (r.GetValue(MaxGradNorm) is { } mg) o.MaxGradientNorm = mg;
        if (r.GetValue(EvalInterval) is { } ei) o.EvaluationInterval = ei;
        if (r.GetValue(EvalSteps) is { } es) o.EvaluationSteps = es;
        if (r.GetValue(Patience) is { } pa) o.EarlyStoppingPatience = pa;
        if (r.GetValue(ClassWeighting) is { } cw) o.ClassWeighting = ParseEnum<MLNetLlmClassifier.ClassWeighting>(cw, "--class-weighting");
        if (r.GetValue(LabelSmoothing) is { } ls) o.LabelSmoothing = ls;
        o.Seed = r.GetValue(Seed) ?? 1;
        if (r.GetValue(Device) is { } dv) o.Device = dv;
        if (r.GetValue(Precision) is { } pr) o.Precision = ParseEnum<MLNetLlmClassifier.Precision>(pr, "--precision");
    }
}
