using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetLlmClassifier.Configuration;
using MLNetLlmClassifier.Families;
using MLNetLlmClassifier.Training;

namespace MLNetLlmClassifier.Sweeps;

/// <summary>
/// An ML.NET pipeline with a swept trainer: a fixed prefix (e.g. MapValueToKey on the label), one of several candidate
/// trainers (each with its search space), and a fixed suffix (e.g. MapKeyToValue on the predicted label). The sweep fits
/// the prefix once, then for each trial builds the chosen candidate's estimator from the trial's parameters, fits it,
/// scores the validation set, evaluates it with <c>mlContext.MulticlassClassification.Evaluate</c>, and fits the suffix.
/// This plays the part of AutoML's SweepablePipeline.
/// </summary>
/// <example>
/// <code>
/// var pipeline = new SweepablePipeline(
///         prefix: ml.Transforms.Conversion.MapValueToKey("Label"),
///         suffix: ml.Transforms.Conversion.MapKeyToValue("PredictedLabel"))
///     .AddBert(new BertTextClassificationTrainer.Options { ModelPath = "bert-base-uncased" })
///     .AddFamily(ClassifierFamilies.Get("qwen3-prompted"), decoderOptions);
/// </code>
/// </example>
public sealed class SweepablePipeline
{
    private readonly List<Candidate> _candidates = new();

    /// <summary>Creates the pipeline.</summary>
    /// <param name="prefix">Fitted once on the training data, before every candidate (label mapping, shared featurisation). Optional.</param>
    /// <param name="suffix">Fitted after each candidate on its scored validation data (MapKeyToValue). Optional.</param>
    public SweepablePipeline(IEstimator<ITransformer>? prefix = null, IEstimator<ITransformer>? suffix = null)
    {
        Prefix = prefix;
        Suffix = suffix;
    }

    /// <summary>The fixed estimator before the trainer.</summary>
    public IEstimator<ITransformer>? Prefix { get; }

    /// <summary>The fixed estimator after the trainer.</summary>
    public IEstimator<ITransformer>? Suffix { get; }

    /// <summary>The candidates and their spaces.</summary>
    public IReadOnlyList<SweepCandidateSpace> Candidates => _candidates.Select(c => c.Space).ToList();

    /// <summary>
    /// Adds a trainer configured by an options object. Each trial sets its parameters on a shallow copy of
    /// <paramref name="baseOptions"/> (every dimension must name a settable member: checked here). For the transformer
    /// trainers (<see cref="TransformerTrainerOptions"/>) the sweep also sets, on the copy: <c>ValidationSet</c> (when null)
    /// to the prefixed validation data, <c>Progress</c> to report each evaluation to the pruner (a Progress in the base
    /// options still gets every report), <c>CancellationToken</c> so the pruner and the budget can stop training, and
    /// <c>Seed</c> (when null) to the sweep's seed.
    /// </summary>
    /// <param name="name">Unique candidate name (results, leaderboards).</param>
    /// <param name="baseOptions">The options every trial starts from.</param>
    /// <param name="space">The hyperparameters to sweep.</param>
    /// <param name="createTrainer">Makes the estimator from the trial's options, e.g. <c>(ml, o) =&gt; ml.MulticlassClassification.Trainers.BertTextClassification(o)</c>.</param>
    public SweepablePipeline AddTrainer<TOptions>(string name, TOptions baseOptions, SearchSpace space,
        Func<MLContext, TOptions, IEstimator<ITransformer>> createTrainer) where TOptions : class
    {
        ArgumentNullException.ThrowIfNull(baseOptions);
        ArgumentNullException.ThrowIfNull(space);
        ArgumentNullException.ThrowIfNull(createTrainer);
        var missing = space.Where(d => !OptionsBinder.CanSet(baseOptions.GetType(), d.Name)).Select(d => d.Name).ToList();
        if (missing.Count > 0)
            throw new ArgumentException($"Candidate '{name}': {baseOptions.GetType().Name} has no public settable member for the sweep dimension(s) {string.Join(", ", missing)}.", nameof(space));
        return Add(name, space, (ml, trial, env) =>
        {
            var o = OptionsBinder.ShallowCopy(baseOptions);
            OptionsBinder.Apply(o, trial.Parameters);
            if (o is TransformerTrainerOptions t)
            {
                t.ValidationSet ??= env.Validation;
                t.Progress = new TrialProgress(trial, env.Metric, t.Progress);
                t.CancellationToken = trial.CancellationToken;
                t.Seed ??= trial.Seed;
            }
            return createTrainer(ml, o);
        });
    }

    /// <summary>Adds a candidate built from the trial's parameters directly (any ML.NET estimator chain, e.g. a classic baseline).</summary>
    public SweepablePipeline AddEstimator(string name, SearchSpace space, Func<MLContext, TrialParameters, IEstimator<ITransformer>> createEstimator)
    {
        ArgumentNullException.ThrowIfNull(space);
        ArgumentNullException.ThrowIfNull(createEstimator);
        return Add(name, space, (ml, trial, _) => createEstimator(ml, trial.Parameters));
    }

    /// <summary>
    /// Adds a registered model family (<see cref="ClassifierFamilies"/>) with its options and a search space (default: the family's own,
    /// <see cref="DefaultSearchSpaces.For(ClassifierFamily)"/>). The candidate is named after the family unless <paramref name="name"/> is given.
    /// </summary>
    /// <param name="family">The family, e.g. <c>ClassifierFamilies.Get("bert")</c>.</param>
    /// <param name="baseOptions">Options of the family's type (<see cref="ClassifierFamily.CreateOptions"/> makes them with its defaults).</param>
    /// <param name="space">The hyperparameters to sweep; null takes the family's default space.</param>
    /// <param name="name">Unique candidate name; default the family's name.</param>
    public SweepablePipeline AddFamily(ClassifierFamily family, object baseOptions, SearchSpace? space = null, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(family);
        ArgumentNullException.ThrowIfNull(baseOptions);
        if (!family.OptionsType.IsInstanceOfType(baseOptions))
            throw new ArgumentException($"The {family.Name} family takes {family.OptionsType.Name} options, not {baseOptions.GetType().Name}.", nameof(baseOptions));
        return AddTrainer(name ?? family.Name, baseOptions, space ?? DefaultSearchSpaces.For(family), family.CreateEstimator);
    }

    /// <summary>Adds the BERT trainer with its options and a search space (default <see cref="DefaultSearchSpaces.Bert"/>).</summary>
    public SweepablePipeline AddBert(Bert.BertTextClassificationTrainer.Options baseOptions, SearchSpace? space = null, string name = "bert") =>
        AddFamily(Bert.BertFamily.Instance, baseOptions, space, name);

    /// <summary>
    /// Adds the classic ML.NET baseline (the "sdca" family): FeaturizeText on <paramref name="textColumn"/> then SdcaMaximumEntropy, swept
    /// over its regularisation (default <see cref="DefaultSearchSpaces.SdcaTextBaseline"/>), at most 50 passes unless the space sweeps
    /// MaximumNumberOfIterations. Trials take seconds, so a sweep shows what the transformers must beat.
    /// </summary>
    public SweepablePipeline AddSdcaTextBaseline(string textColumn = "Sentence1", string labelColumn = "Label", SearchSpace? space = null, string name = "sdca")
    {
        var options = Sdca.SdcaTextBaselineFamily.Instance.NewOptions(null, textColumn);
        options.LabelColumnName = labelColumn;
        options.MaximumNumberOfIterations = 50;   // trials stay short; a space that sweeps MaximumNumberOfIterations overrides it
        return AddFamily(Sdca.SdcaTextBaselineFamily.Instance, options, space, name);
    }

    private SweepablePipeline Add(string name, SearchSpace space, Func<MLContext, TrialContext, TrialEnvironment, IEstimator<ITransformer>> create)
    {
        if (string.IsNullOrWhiteSpace(name)) throw new ArgumentException("A candidate needs a name.", nameof(name));
        if (_candidates.Any(c => c.Space.Name == name)) throw new ArgumentException($"The pipeline already has a candidate '{name}'.", nameof(name));
        _candidates.Add(new Candidate(new SweepCandidateSpace(name, space), create));
        return this;
    }

    internal ITrialRunner CreateRunner(IDataView train, IDataView validation, MetricSettings metric, Action<string> log) =>
        new Runner(this, train, validation, metric, log);

    private sealed record Candidate(SweepCandidateSpace Space, Func<MLContext, TrialContext, TrialEnvironment, IEstimator<ITransformer>> Create);

    /// <summary>What a candidate's factory may use from the sweep.</summary>
    private sealed record TrialEnvironment(IDataView Validation, SweepMetric Metric);

    /// <summary>Forwards a trainer's evaluations to the trial (and the pruner), and every report to the user's own Progress.</summary>
    private sealed class TrialProgress(TrialContext trial, SweepMetric metric, IProgress<TrainingProgress>? inner) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value)
        {
            inner?.Report(value);
            if (value.Kind == TrainingEventKind.Evaluation && value.Evaluation is { } e)
                trial.Report(e.Epoch, metric.IntermediateValue(e), e.Step);
        }
    }

    /// <summary>Runs the trials of this pipeline: the prefix is fitted once, the candidate per trial.</summary>
    private sealed class Runner : ITrialRunner
    {
        private readonly SweepablePipeline _pipeline;
        private readonly MetricSettings _metric;
        private readonly Action<string> _log;
        private readonly ITransformer? _prefix;
        private readonly IDataView _train, _validation;

        public Runner(SweepablePipeline pipeline, IDataView train, IDataView validation, MetricSettings metric, Action<string> log)
        {
            _pipeline = pipeline;
            _metric = metric;
            _log = log;
            _prefix = pipeline.Prefix?.Fit(train);
            _train = _prefix?.Transform(train) ?? train;
            _validation = _prefix?.Transform(validation) ?? validation;
        }

        public Task<TrialOutcome> RunAsync(TrialContext trial)
        {
            var candidate = _pipeline._candidates.First(c => c.Space.Name == trial.Parameters.Candidate);
            // A fresh MLContext per trial, seeded by the sweep, so a trial's randomness does not depend on the trials before it.
            var ml = new MLContext(seed: trial.Seed);
            ml.Log += (_, e) => { if (e.Kind >= ChannelMessageKind.Info) _log($"trial {trial.TrialId}: {e.Message}"); };
            var estimator = candidate.Create(ml, trial, new TrialEnvironment(_validation, _metric.Metric));
            ITransformer? fitted = null, suffix = null;
            try
            {
                fitted = estimator.Fit(_train);
                // A trainer pruned at its last evaluation, or one that does not watch the token, may still return a model.
                trial.CancellationToken.ThrowIfCancellationRequested();
                var scored = fitted.Transform(_validation);
                var metrics = _metric.TopK > 0
                    ? ml.MulticlassClassification.Evaluate(scored, _metric.LabelColumn, _metric.ScoreColumn, _metric.PredictedLabelColumn, _metric.TopK)
                    : ml.MulticlassClassification.Evaluate(scored, _metric.LabelColumn, _metric.ScoreColumn, _metric.PredictedLabelColumn);
                suffix = _pipeline.Suffix?.Fit(scored);
                var parts = new[] { _prefix, fitted, suffix }.OfType<ITransformer>().ToArray();
                var model = new TransformerChain<ITransformer>(parts);
                return Task.FromResult(new TrialOutcome(_metric.Metric.Value(metrics))
                {
                    Model = model,
                    // The prefix is shared by every trial: only the trial's own transformers are disposed when it loses.
                    Resources = new Disposables(fitted, suffix),
                    Metrics = SweepMetrics.All(metrics),
                });
            }
            catch
            {
                new Disposables(fitted, suffix).Dispose();
                throw;
            }
        }
    }

    private sealed class Disposables(params object?[] items) : IDisposable
    {
        public void Dispose()
        {
            foreach (var d in items.OfType<IDisposable>()) d.Dispose();
        }
    }
}

/// <summary>How the validation set is scored: the metric and the columns <c>MulticlassClassification.Evaluate</c> reads.</summary>
/// <param name="Metric">The metric to optimize.</param>
/// <param name="LabelColumn">Key-typed label column.</param>
/// <param name="ScoreColumn">Score vector column.</param>
/// <param name="PredictedLabelColumn">Predicted key column.</param>
/// <param name="TopK">k of top-k accuracy (0 = not computed).</param>
internal sealed record MetricSettings(SweepMetric Metric, string LabelColumn, string ScoreColumn, string PredictedLabelColumn, int TopK);
