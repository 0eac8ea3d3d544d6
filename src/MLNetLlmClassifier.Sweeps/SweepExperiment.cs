using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.ML;
using Microsoft.ML.Runtime;
using MLNetLlmClassifier.IO;

namespace MLNetLlmClassifier.Sweeps;

/// <summary>Why a sweep stopped.</summary>
public enum SweepStopReason
{
    /// <summary>The trial budget is spent.</summary>
    TrialBudget,
    /// <summary>The time budget is spent.</summary>
    TimeBudget,
    /// <summary>Every configuration has run (grid search, or a small discrete space).</summary>
    SearchSpaceExhausted,
}

/// <summary>
/// A hyperparameter sweep over one or more trainers, in the shape of ML.NET AutoML's <c>AutoMLExperiment</c>:
/// <c>SetPipeline</c>, <c>SetDataset</c>, <c>SetMetric</c>, <c>SetBudget</c>, a tuner, then <see cref="RunAsync"/> returns the
/// best trial with its fitted pipeline. Made for expensive deep-learning trials: trials report their validation
/// metric at each evaluation and a pruner (successive halving by default) stops the losers early; a model-based
/// tuner (TPE by default) chooses the next trial; every finished trial is appended to a results file so that an
/// interrupted sweep resumes without repeating any; a trial that fails is recorded with its reason and the sweep goes on;
/// the models of losing trials are disposed (and the GC run) between trials, so memory stays that of one model.
/// </summary>
/// <example>
/// <code>
/// var ml = new MLContext(seed: 1);
/// var result = await ml.Sweeps().CreateExperiment()
///     .SetPipeline(new SweepablePipeline(ml.Transforms.Conversion.MapValueToKey("Label"), ml.Transforms.Conversion.MapKeyToValue("PredictedLabel"))
///         .AddBert(new BertTextClassificationTrainer.Options { ModelPath = "models/bert-base-uncased" }))
///     .SetDataset(train, validation)
///     .SetMetric(SweepMetric.MacroF1)
///     .SetBudget(maxTrials: 30, maxTime: TimeSpan.FromHours(4))
///     .SetOutputFolder("sweeps/agnews-bert")
///     .RunAsync();
/// Console.WriteLine($"best macro-F1 {result.Metric:F4}: {result.Parameters}");
/// ml.Model.Save(result.Model, train.Schema, "best.zip");
/// </code>
/// </example>
public sealed class SweepExperiment
{
    /// <summary>The results file's name in the output folder.</summary>
    public const string ResultsFileName = "trials.jsonl";

    /// <summary>The best model's file name in the output folder.</summary>
    public const string BestModelFileName = "best-model.zip";

    private const string BestModelInfoFileName = "best-model.json";
    private const int MaxProposalAttempts = 64;
    private const int TunerAttemptsBeforeRandom = 8;

    private readonly MLContext _ml;
    private readonly List<(SweepCandidateSpace Space, ITrialRunner Runner)> _customCandidates = new();
    private SweepablePipeline? _pipeline;
    private IDataView? _train, _validation, _data;
    private double _validationFraction;
    private MetricSettings _metric = new(SweepMetric.MacroF1, "Label", "Score", "PredictedLabel", 0);
    private int? _maxTrials;
    private TimeSpan? _maxTime;
    private Func<int, ITuner>? _tuner;
    private IPruner? _pruner;
    private int? _seed;
    private string? _outputFolder;
    private Action<string>? _amendBestModel;
    private ISweepMonitor? _monitor;
    private ISweepChartRenderer? _charts;
    private bool _running;
    private readonly object _runLock = new();

    /// <summary>Creates an experiment; <c>mlContext.Sweeps().CreateExperiment()</c> does the same.</summary>
    public SweepExperiment(MLContext mlContext) => _ml = mlContext ?? throw new ArgumentNullException(nameof(mlContext));

    /// <summary>Sets the pipeline: fixed prefix and suffix around one or more candidate trainers with their search spaces.</summary>
    public SweepExperiment SetPipeline(SweepablePipeline pipeline)
    {
        _pipeline = pipeline ?? throw new ArgumentNullException(nameof(pipeline));
        return this;
    }

    /// <summary>
    /// Adds a candidate whose trials run custom code (a synthetic objective, or training outside ML.NET estimators). It needs
    /// no dataset: the runner returns the metric itself. May be combined with <see cref="SetPipeline"/>.
    /// </summary>
    public SweepExperiment AddTrialRunner(string name, SearchSpace space, ITrialRunner runner)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(space);
        ArgumentNullException.ThrowIfNull(runner);
        if (_customCandidates.Any(c => c.Space.Name == name)) throw new ArgumentException($"The experiment already has a candidate '{name}'.", nameof(name));
        _customCandidates.Add((new SweepCandidateSpace(name, space), runner));
        return this;
    }

    /// <summary>Adds a candidate whose trials run <paramref name="run"/> (see <see cref="AddTrialRunner(string, SearchSpace, ITrialRunner)"/>).</summary>
    public SweepExperiment AddTrialRunner(string name, SearchSpace space, Func<TrialContext, TrialOutcome> run) =>
        AddTrialRunner(name, space, new DelegateTrialRunner(run));

    /// <summary>Sets the training data and the validation data every trial is scored on (same columns).</summary>
    public SweepExperiment SetDataset(IDataView train, IDataView validation)
    {
        _train = train ?? throw new ArgumentNullException(nameof(train));
        _validation = validation ?? throw new ArgumentNullException(nameof(validation));
        _data = null;
        return this;
    }

    /// <summary>Sets the data from <c>mlContext.Data.TrainTestSplit</c>: TrainSet trains, TestSet validates.</summary>
    public SweepExperiment SetDataset(DataOperationsCatalog.TrainTestData split) => SetDataset(split.TrainSet, split.TestSet);

    /// <summary>Sets one dataset, split at run time by <c>mlContext.Data.TrainTestSplit</c> with the sweep's seed.</summary>
    public SweepExperiment SetDataset(IDataView data, double validationFraction)
    {
        if (validationFraction is <= 0 or >= 1)
            throw new ArgumentOutOfRangeException(nameof(validationFraction), validationFraction, "The validation fraction must be in (0, 1).");
        _data = data ?? throw new ArgumentNullException(nameof(data));
        _validationFraction = validationFraction;
        _train = _validation = null;
        return this;
    }

    /// <summary>
    /// Sets the metric to optimize and the columns ML.NET's multiclass evaluation reads (as AutoML's
    /// SetMulticlassClassificationMetric). Default macro-F1 on Label / Score / PredictedLabel.
    /// </summary>
    /// <param name="metric">The metric.</param>
    /// <param name="labelColumn">Key-typed label column (as the trainer sees it, after the prefix).</param>
    /// <param name="scoreColumn">Score column.</param>
    /// <param name="predictedLabelColumn">Predicted key column.</param>
    /// <param name="topK">k for <see cref="SweepMetric.TopKAccuracy"/>; 0 leaves top-k accuracy out.</param>
    public SweepExperiment SetMetric(SweepMetric metric, string labelColumn = "Label", string scoreColumn = "Score",
        string predictedLabelColumn = "PredictedLabel", int topK = 0)
    {
        if (!Enum.IsDefined(metric)) throw new ArgumentOutOfRangeException(nameof(metric), metric, "Unknown sweep metric.");
        if (metric == SweepMetric.TopKAccuracy && topK < 1)
            throw new ArgumentOutOfRangeException(nameof(topK), topK, "TopKAccuracy needs topK >= 1.");
        _metric = new MetricSettings(metric, labelColumn, scoreColumn, predictedLabelColumn, topK);
        return this;
    }

    /// <summary>
    /// Sets the budget: a number of trials (finished ones, pruned and failed included, across resumed runs), wall-clock
    /// time (the sum of the trials' times across resumed runs), or both; the sweep stops at whichever comes first. A trial still
    /// running when time is up is stopped and not recorded (a resumed sweep with more time runs it again).
    /// </summary>
    public SweepExperiment SetBudget(int? maxTrials = null, TimeSpan? maxTime = null)
    {
        if (maxTrials is null && maxTime is null) throw new ArgumentException("Give a number of trials, a time, or both.");
        if (maxTrials is < 1) throw new ArgumentOutOfRangeException(nameof(maxTrials), maxTrials, "The trial budget must be at least 1.");
        if (maxTime is { } t && t <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(maxTime), maxTime, "The time budget must be positive.");
        _maxTrials = maxTrials;
        _maxTime = maxTime;
        return this;
    }

    /// <summary>Sets the tuner (with its own seed). Default <see cref="TpeTuner"/> with the sweep's seed.</summary>
    public SweepExperiment SetTuner(ITuner tuner)
    {
        ArgumentNullException.ThrowIfNull(tuner);
        _tuner = _ => tuner;
        return this;
    }

    /// <summary>Uses random search (as AutoML's SetRandomSearchTuner), seeded with the sweep's seed.</summary>
    public SweepExperiment SetRandomSearchTuner()
    {
        _tuner = seed => new RandomTuner(seed);
        return this;
    }

    /// <summary>Uses grid search (as AutoML's SetGridSearchTuner) with <paramref name="steps"/> values per continuous range, shuffled with the sweep's seed.</summary>
    public SweepExperiment SetGridSearchTuner(int steps = 5, bool shuffle = true)
    {
        _ = new GridTuner(steps, shuffle); // checks the arguments now
        _tuner = seed => new GridTuner(steps, shuffle, seed);
        return this;
    }

    /// <summary>Uses the Tree-structured Parzen Estimator (the default), seeded with the sweep's seed.</summary>
    public SweepExperiment SetTpeTuner()
    {
        _tuner = seed => new TpeTuner(seed);
        return this;
    }

    /// <summary>Sets the pruner; null turns pruning off. Default <see cref="SuccessiveHalvingPruner"/> with its defaults.</summary>
    public SweepExperiment SetPruner(IPruner? pruner)
    {
        _pruner = pruner ?? new NoPruner();
        return this;
    }

    /// <summary>
    /// Sets the seed of the tuner's default, of the data split and of every trial's training (trainer options whose Seed is null,
    /// and each trial's MLContext). Default: drawn from the MLContext, so a seeded MLContext gives a reproducible sweep.
    /// When resuming, the seed stored in the results file is used.
    /// </summary>
    public SweepExperiment SetSeed(int seed)
    {
        _seed = seed;
        return this;
    }

    /// <summary>
    /// Sets the folder of the sweep's files: <c>trials.jsonl</c> (one line per finished trial, flushed as it ends; the sweep
    /// resumes from it), <c>leaderboard.json</c> and <c>leaderboard.md</c>, <c>best-model.zip</c> (the best pipeline so far,
    /// saved whenever it changes) and <c>charts/</c> when a chart renderer is set. Without a folder nothing is written and
    /// nothing can be resumed.
    /// </summary>
    public SweepExperiment SetOutputFolder(string folder)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        _outputFolder = folder;
        return this;
    }

    /// <summary>
    /// Sets a change made to each <c>best-model.zip</c> by its temporary path, after ML.NET wrote it and before it is flushed and
    /// renamed into place (the CLI adds the data-file columns entry, so that <c>evaluate</c> and <c>predict</c> read the sweep's
    /// file layout from the model as they do for <c>train</c>'s).
    /// </summary>
    internal SweepExperiment SetBestModelAmendment(Action<string>? amendTemporary)
    {
        _amendBestModel = amendTemporary;
        return this;
    }

    /// <summary>Sets a monitor that hears every trial event (e.g. <see cref="TextWriterSweepMonitor"/>).</summary>
    public SweepExperiment SetMonitor(ISweepMonitor monitor)
    {
        _monitor = monitor ?? throw new ArgumentNullException(nameof(monitor));
        return this;
    }

    /// <summary>Sets what draws the PNG charts into <c>charts/</c> of the output folder at the end of the sweep.</summary>
    public SweepExperiment SetChartRenderer(ISweepChartRenderer renderer)
    {
        _charts = renderer ?? throw new ArgumentNullException(nameof(renderer));
        return this;
    }

    /// <summary>
    /// Runs the sweep on a thread of its own (trials run one after another on it) until the budget is spent, and returns the
    /// best completed trial with its fitted pipeline (the caller owns and disposes <see cref="SweepResult.Model"/>). Cancelling
    /// <paramref name="cancellationToken"/> stops the running trial (not recorded) and throws <see cref="OperationCanceledException"/>
    /// after writing the leaderboard; run again to resume. Throws <see cref="InvalidOperationException"/> when no trial completed.
    /// </summary>
    public Task<SweepResult> RunAsync(CancellationToken cancellationToken = default)
    {
        lock (_runLock)
        {
            if (_running) throw new InvalidOperationException("This experiment is already running.");
            _running = true;
        }
        return Task.Factory.StartNew(() =>
        {
            try { return Run(cancellationToken); }
            finally { lock (_runLock) _running = false; }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    private SweepResult Run(CancellationToken ct)
    {
        if (_maxTrials is null && _maxTime is null) throw new InvalidOperationException("Set a budget first: SetBudget(maxTrials, maxTime).");
        var pipelineCandidates = _pipeline?.Candidates ?? Array.Empty<SweepCandidateSpace>();
        if (pipelineCandidates.Count == 0 && _customCandidates.Count == 0)
            throw new InvalidOperationException("Nothing to sweep: SetPipeline with at least one candidate trainer, or AddTrialRunner.");
        var candidates = pipelineCandidates.Concat(_customCandidates.Select(c => c.Space)).ToList();
        var dup = candidates.GroupBy(c => c.Name).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null) throw new InvalidOperationException($"Two candidates are named '{dup.Key}'.");
        bool maximize = _metric.Metric.IsMaximized();

        var host = ((IHostEnvironment)_ml).Register("Sweep");
        using var channel = host.Start("Sweep");
        void Log(string m)
        {
            channel.Info(MessageSensitivity.None, m);
            _monitor?.Message(m);
        }
        void TrialLog(string m) => channel.Info(MessageSensitivity.None, m);

        SweepResultsFile? results = null;
        ExclusiveFileLock? folderLock = null;
        var history = new List<TrialRecord>();
        int seed = _seed ?? host.Rand.Next();
        if (_outputFolder is not null)
        {
            // One sweep per folder: a second one (another process, or this one) fails here, before it reads or writes anything.
            folderLock = SweepFolderLock.Acquire(_outputFolder);
            try
            {
                results = SweepResultsFile.Open(Path.Combine(_outputFolder, ResultsFileName), candidates, _metric.Metric, maximize, seed, Log, out history);
            }
            catch
            {
                folderLock.Dispose();
                throw;
            }
            if (results.Seed != seed && _seed is not null) Log($"Resuming with the seed {results.Seed} stored in {results.Path}, not {seed}.");
            seed = results.Seed;
            if (history.Count > 0) Log($"Resuming the sweep in {_outputFolder}: {history.Count} finished trial(s) in {ResultsFileName} will not run again.");
        }
        try
        {
            var runners = new Dictionary<string, ITrialRunner>(StringComparer.Ordinal);
            IDataView? trainSchemaSource = null;
            if (pipelineCandidates.Count > 0)
            {
                var (train, validation) = Dataset(seed);
                trainSchemaSource = train;
                var runner = _pipeline!.CreateRunner(train, validation, _metric, TrialLog);
                foreach (var c in pipelineCandidates) runners[c.Name] = runner;
            }
            foreach (var (space, runner) in _customCandidates) runners[space.Name] = runner;

            var tuner = _tuner?.Invoke(seed) ?? new TpeTuner(seed);
            var pruner = _pruner ?? new SuccessiveHalvingPruner();
            var random = new RandomTuner(seed);
            var state = new BestState(maximize, new SweepLeaderboard(history, _metric.Metric).Best);
            double usedSeconds = history.Sum(r => r.Seconds);
            int nextId = history.Count == 0 ? 0 : history.Max(r => r.TrialId) + 1;
            SweepStopReason reason;
            try
            {
                while (true)
                {
                    if (_maxTrials is { } mt && history.Count >= mt) { reason = SweepStopReason.TrialBudget; break; }
                    if (_maxTime is { } time && usedSeconds >= time.TotalSeconds) { reason = SweepStopReason.TimeBudget; break; }
                    ct.ThrowIfCancellationRequested();
                    var parameters = Propose(tuner, random, candidates, history, maximize, nextId);
                    if (parameters is null) { reason = SweepStopReason.SearchSpaceExhausted; break; }

                    var (record, outcome) = RunTrial(nextId, parameters, runners[parameters.Candidate], pruner, history, maximize, seed,
                        _maxTime is { } limit ? TimeSpan.FromSeconds(Math.Max(0, limit.TotalSeconds - usedSeconds)) : null, ct);
                    if (record is null)
                    {
                        ct.ThrowIfCancellationRequested();
                        Log($"Trial {nextId} was stopped by the time budget; it is not recorded.");
                        reason = SweepStopReason.TimeBudget;
                        break;
                    }
                    results?.Append(record);
                    history.Add(record);
                    usedSeconds += record.Seconds;
                    bool isBest = state.Offer(record, outcome);
                    if (isBest && outcome?.Model is { } model && trainSchemaSource is not null) SaveBestModel(model, record, trainSchemaSource.Schema, Log);
                    _monitor?.TrialFinished(record, isBest);
                    ReleaseMemory();
                    nextId++;
                }
            }
            catch
            {
                state.DisposeAll();
                throw;
            }
            finally
            {
                WriteReports(history, Log);
            }

            Log($"Sweep finished ({reason}): {history.Count} trial(s), best {(state.Best is { } b ? $"trial {b.TrialId} with {_metric.Metric} {b.Metric:F4}" : "none")}.");
            if (state.Best is null)
                throw new InvalidOperationException($"No trial completed ({history.Count} finished: " +
                    $"{history.Count(r => r.Status == TrialStatus.Pruned)} pruned, {history.Count(r => r.Status == TrialStatus.Failed)} failed" +
                    (history.FirstOrDefault(r => r.Status == TrialStatus.Failed) is { } f ? $"; first failure: {f.Error}" : "") + "). Raise the budget or fix the failures.");
            var bestModel = state.Model ?? (pipelineCandidates.Any(c => c.Name == state.Best.Candidate)
                ? LoadOrRefitBest(state.Best, runners[state.Best.Candidate], seed, Log, ct) : null);
            return new SweepResult(state.Best, bestModel, history, new SweepLeaderboard(history, _metric.Metric), reason, _outputFolder);
        }
        finally
        {
            results?.Dispose();
            folderLock?.Dispose();
        }
    }

    private (IDataView Train, IDataView Validation) Dataset(int seed)
    {
        if (_data is not null)
        {
            var split = _ml.Data.TrainTestSplit(_data, _validationFraction, seed: seed);
            return (split.TrainSet, split.TestSet);
        }
        if (_train is null || _validation is null)
            throw new InvalidOperationException("The pipeline needs data: SetDataset(train, validation), SetDataset(split) or SetDataset(data, validationFraction).");
        return (_train, _validation);
    }

    /// <summary>Asks the tuner, rejecting configurations that already ran; after a few repeats random search proposes instead.</summary>
    private TrialParameters? Propose(ITuner tuner, RandomTuner random, IReadOnlyList<SweepCandidateSpace> candidates,
        IReadOnlyList<TrialRecord> history, bool maximize, int trialId)
    {
        var done = history.Select(r => r.Parameters.Key).ToHashSet(StringComparer.Ordinal);
        for (int attempt = 0; attempt < MaxProposalAttempts; attempt++)
        {
            var context = new TunerContext { Candidates = candidates, History = history, Maximize = maximize, TrialId = trialId, Attempt = attempt };
            var p = (attempt < TunerAttemptsBeforeRandom ? tuner : random).Propose(context);
            if (p is null) return null;
            if (!done.Contains(p.Key)) return p;
        }
        _monitor?.Message($"The tuner proposed only configurations that already ran ({MaxProposalAttempts} tries): the search space looks exhausted.");
        return null;
    }

    private (TrialRecord? Record, TrialOutcome? Outcome) RunTrial(int id, TrialParameters parameters, ITrialRunner runner, IPruner pruner,
        IReadOnlyList<TrialRecord> history, bool maximize, int seed, TimeSpan? timeLeft, CancellationToken ct)
    {
        using var deadline = new CancellationTokenSource();
        if (timeLeft is { } left) deadline.CancelAfter(left);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct, deadline.Token);
        var trial = new TrialContext(id, parameters, seed,
            t => pruner.ShouldPrune(new PruningContext { Parameters = t.Parameters, Reports = t.Reports, History = history, Maximize = maximize }),
            (t, v) => _monitor?.TrialReported(t.TrialId, v), stop.Token);
        var started = DateTimeOffset.UtcNow;
        var clock = Stopwatch.StartNew();
        _monitor?.TrialStarted(id, parameters);
        TrialOutcome? outcome = null;
        string? error = null;
        try
        {
            outcome = runner.RunAsync(trial).GetAwaiter().GetResult();
            if (trial.IsPruned) throw new OperationCanceledException(trial.CancellationToken);
            if (!double.IsFinite(outcome.Metric)) error = $"The trial's metric is {outcome.Metric}.";
        }
        catch (Exception) when (trial.IsPruned)
        {
            // Pruned (whatever the runner threw on its way out): recorded with its last report below.
        }
        catch (Exception) when (stop.IsCancellationRequested)
        {
            Dispose(outcome);
            return (null, null); // cancelled or out of time: not finished, so not recorded
        }
        catch (Exception ex)
        {
            error = Describe(ex);
        }
        finally
        {
            trial.Dispose();
        }
        double seconds = clock.Elapsed.TotalSeconds;
        var reports = trial.Reports.ToArray();
        TrialRecord record;
        if (trial.IsPruned)
        {
            Dispose(outcome);
            var last = reports[^1];
            record = new TrialRecord
            {
                TrialId = id,
                Parameters = parameters,
                Status = TrialStatus.Pruned,
                Metric = last.Value,
                Reports = reports,
                Seconds = seconds,
                StartedUtc = started,
                Error = $"pruned at epoch {last.Resource.ToString("0.###", CultureInfo.InvariantCulture)} (step {last.Step})",
            };
            return (record, null);
        }
        if (error is not null)
        {
            Dispose(outcome);
            record = new TrialRecord
            {
                TrialId = id,
                Parameters = parameters,
                Status = TrialStatus.Failed,
                Metric = reports.Length > 0 ? reports[^1].Value : null,
                Reports = reports,
                Seconds = seconds,
                StartedUtc = started,
                Error = error,
            };
            return (record, null);
        }
        record = new TrialRecord
        {
            TrialId = id,
            Parameters = parameters,
            Status = TrialStatus.Completed,
            Metric = outcome!.Metric,
            Reports = reports,
            Seconds = seconds,
            StartedUtc = started,
            Metrics = outcome.Metrics ?? new Dictionary<string, double> { [_metric.Metric.ToString()] = outcome.Metric },
        };
        return (record, outcome);
    }

    private static string Describe(Exception ex)
    {
        while (ex is AggregateException { InnerExceptions.Count: 1 } or System.Reflection.TargetInvocationException && ex.InnerException is not null)
            ex = ex.InnerException!;
        return $"{ex.GetType().Name}: {ex.Message}";
    }

    internal static void Dispose(TrialOutcome? outcome)
    {
        if (outcome is null) return;
        (outcome.Resources ?? outcome.Model as IDisposable)?.Dispose();
    }

    /// <summary>Returns freed tensors' memory: losing models are disposed already; this collects whatever they left to finalizers.</summary>
    private static void ReleaseMemory()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
    }

    private void SaveBestModel(ITransformer model, TrialRecord record, DataViewSchema schema, Action<string> log)
    {
        if (_outputFolder is null) return;
        string path = Path.Combine(_outputFolder, BestModelFileName);
        try
        {
            AtomicFile.Write(path, stream => _ml.Model.Save(model, schema, stream), _amendBestModel, CancellationToken.None);
            var info = new JsonObject { ["trialId"] = record.TrialId, ["candidate"] = record.Candidate, ["metric"] = record.Metric, ["parameters"] = record.Parameters.ToJson() };
            AtomicFile.WriteAllBytes(Path.Combine(_outputFolder, BestModelInfoFileName), Encoding.UTF8.GetBytes(info.ToJsonString() + "\n"));
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            log($"The best model (trial {record.TrialId}) could not be saved to {path}: {Describe(ex)}. A resumed sweep will train it again to return it.");
        }
    }

    /// <summary>The best trial ran in an earlier session: load its saved pipeline, or train it again (same parameters and seed).</summary>
    private ITransformer? LoadOrRefitBest(TrialRecord best, ITrialRunner runner, int seed, Action<string> log, CancellationToken ct)
    {
        if (_outputFolder is not null)
        {
            string info = Path.Combine(_outputFolder, BestModelInfoFileName), path = Path.Combine(_outputFolder, BestModelFileName);
            try
            {
                if (File.Exists(info) && File.Exists(path) &&
                    JsonNode.Parse(File.ReadAllText(info))?["trialId"]?.GetValue<int>() == best.TrialId)
                {
                    _ml.ComponentCatalog.RegisterMLNetLlmClassifier();
                    log($"Loaded the best pipeline (trial {best.TrialId}) from {path}.");
                    return _ml.Model.Load(path, out _);
                }
            }
            catch (Exception ex) when (ex is IOException or InvalidOperationException or FormatException or System.Text.Json.JsonException or InvalidDataException)
            {
                log($"Could not load {path} ({Describe(ex)}); training the best trial again.");
            }
        }
        log($"Training the best trial {best.TrialId} again to return its pipeline (it ran in an earlier session).");
        var (record, outcome) = RunTrial(best.TrialId, best.Parameters, runner, new NoPruner(), Array.Empty<TrialRecord>(), _metric.Metric.IsMaximized(), seed, null, ct);
        if (record is null) ct.ThrowIfCancellationRequested();
        if (record?.Status != TrialStatus.Completed || outcome?.Model is null)
        {
            log($"Training the best trial again failed: {record?.Error ?? "no model"}. The result has no model.");
            Dispose(outcome);
            return null;
        }
        return outcome.Model;
    }

    private void WriteReports(IReadOnlyList<TrialRecord> history, Action<string> log)
    {
        if (_outputFolder is null) return;
        try
        {
            new SweepLeaderboard(history, _metric.Metric).Write(_outputFolder);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidOperationException or ArgumentException)
        {
            log($"Could not write the leaderboard in {_outputFolder}: {Describe(ex)}");
        }
        if (_charts is null || history.Count == 0) return;
        string folder = Path.Combine(_outputFolder, "charts");
        try
        {
            var files = _charts.Render(new SweepChartData(history, _metric.Metric), folder);
            log($"Charts: {string.Join(", ", files)}.");
        }
        // Any exception: the renderer is a plug-in (a chart library, its native binaries) that runs in a finally block,
        // and a chart that cannot be drawn must neither lose the sweep's result nor hide the exception that ended it.
        catch (Exception ex)
        {
            log($"Could not draw the charts in {folder}: {Describe(ex)}");
        }
    }

    /// <summary>The best trial so far and, when it ran in this session, its model; the models of all other trials are disposed.</summary>
    private sealed class BestState(bool maximize, TrialRecord? best)
    {
        public TrialRecord? Best { get; private set; } = best;
        public ITransformer? Model => _outcome?.Model;
        private TrialOutcome? _outcome;

        public bool Offer(TrialRecord record, TrialOutcome? outcome)
        {
            bool better = record.Status == TrialStatus.Completed && record.Score(maximize) is { } s &&
                          (Best?.Score(maximize) is not { } b || s > b);
            if (!better)
            {
                Dispose(outcome);
                return false;
            }
            Dispose(_outcome);
            Best = record;
            _outcome = outcome;
            return true;
        }

        public void DisposeAll()
        {
            Dispose(_outcome);
            _outcome = null;
        }
    }
}

/// <summary>The outcome of a sweep: the best trial, its fitted pipeline and every trial.</summary>
public sealed class SweepResult
{
    internal SweepResult(TrialRecord best, ITransformer? model, IReadOnlyList<TrialRecord> trials, SweepLeaderboard leaderboard,
        SweepStopReason reason, string? outputFolder)
    {
        BestTrial = best;
        Model = model;
        Trials = trials;
        Leaderboard = leaderboard;
        StopReason = reason;
        OutputFolder = outputFolder;
    }

    /// <summary>The best completed trial.</summary>
    public TrialRecord BestTrial { get; }

    /// <summary>The best trial's metric on the validation set.</summary>
    public double Metric => BestTrial.Metric!.Value;

    /// <summary>The best trial's candidate and hyperparameters.</summary>
    public TrialParameters Parameters => BestTrial.Parameters;

    /// <summary>The best fitted pipeline (prefix, trainer, suffix); null for custom trial runners that return none. The caller disposes it.</summary>
    public ITransformer? Model { get; }

    /// <summary>Every finished trial, resumed ones included, in trial order.</summary>
    public IReadOnlyList<TrialRecord> Trials { get; }

    /// <summary>The trials ranked.</summary>
    public SweepLeaderboard Leaderboard { get; }

    /// <summary>Why the sweep stopped.</summary>
    public SweepStopReason StopReason { get; }

    /// <summary>The output folder, when one was set.</summary>
    public string? OutputFolder { get; }
}

/// <summary>Entry point on the MLContext, as AutoML's <c>mlContext.Auto()</c>.</summary>
public static class SweepCatalogExtensions
{
    /// <summary>The sweep catalog of this context.</summary>
    public static SweepCatalog Sweeps(this MLContext mlContext) => new(mlContext ?? throw new ArgumentNullException(nameof(mlContext)));
}

/// <summary>Creates sweep experiments (<c>mlContext.Sweeps()</c>).</summary>
public sealed class SweepCatalog
{
    private readonly MLContext _ml;

    internal SweepCatalog(MLContext ml) => _ml = ml;

    /// <summary>A new experiment (see <see cref="SweepExperiment"/>).</summary>
    public SweepExperiment CreateExperiment() => new(_ml);
}
