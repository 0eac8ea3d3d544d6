using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetLlmClassifier.Cli.Commands;

namespace MLNetLlmClassifier.Cli.Scoring;

/// <summary>One row to score: a text, and the second text of a sentence-pair model.</summary>
internal readonly record struct TextPair(string Text, string? Text2 = null);

/// <summary>A scored row: the most likely class and the probability of each class, in <see cref="ModelScorer.ClassNames"/> order.</summary>
internal sealed record ScoredText(string Label, float[] Probabilities);

/// <summary>
/// Scores texts with a saved CLI pipeline (any family): many rows through one <see cref="ITransformer.Transform"/>, which our
/// classifiers run in batches of their batch size (rows sorted by length), or one row through a PredictionEngine (the baseline).
/// Scores are probabilities for every family (ML.NET TextClassification's logits go through a softmax). Not thread-safe: one
/// caller at a time (the server's batching queue has a single worker).
/// </summary>
internal sealed class ModelScorer : ITextScorer, IDisposable
{
    private readonly MLContext _ml;
    private readonly ITransformer _model;
    private readonly bool _logits;
    private PredictionEngine<PredictCommand.Input, PredictCommand.Output>? _engine;
    private PredictionEngine<PredictCommand.PairInput, PredictCommand.Output>? _pairEngine;

    public ModelScorer(MLContext ml, ITransformer model, DataViewSchema inputSchema)
    {
        _ml = ml;
        _model = model;
        TakesPairs = inputSchema.GetColumnOrNull(ClassifierPipeline.Text2Column) is not null;
        _logits = EvaluateCommand.ScoresAreLogits(model);
        ClassNames = EvaluateCommand.ClassNames(model.GetOutputSchema(inputSchema));
    }

    /// <summary>Loads a model.zip written by the CLI.</summary>
    public static ModelScorer Load(string path)
    {
        var ml = new MLContext(seed: 1);
        var model = ModelFile.Load(ml, path, out var schema);
        try
        {
            return new ModelScorer(ml, model, schema);
        }
        catch
        {
            (model as IDisposable)?.Dispose();
            throw;
        }
    }

    /// <summary>The class names, in the order of <see cref="ScoredText.Probabilities"/>.</summary>
    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>The model was trained on text pairs (a Text2 column).</summary>
    public bool TakesPairs { get; }

    /// <summary>The loaded pipeline.</summary>
    public ITransformer Model => _model;

    /// <summary>Scores the rows lazily, in order, through one Transform over all of them.</summary>
    public IEnumerable<ScoredText> ScoreAll(IEnumerable<TextPair> rows)
    {
        IDataView view = TakesPairs
            ? _ml.Data.LoadFromEnumerable(rows.Select(r => new PredictCommand.PairInput { Text = r.Text, Text2 = r.Text2 ?? "" }))
            : _ml.Data.LoadFromEnumerable(rows.Select(r => new PredictCommand.Input { Text = r.Text }));
        var scored = _model.Transform(view);
        var score = scored.Schema["Score"];
        using var cursor = scored.GetRowCursor([score]);
        var getter = cursor.GetGetter<VBuffer<float>>(score);
        VBuffer<float> buffer = default;
        while (cursor.MoveNext())
        {
            getter(ref buffer);
            yield return Result(buffer.DenseValues().ToArray());
        }
    }

    /// <summary>Scores a list of rows (one batch of the server).</summary>
    public ScoredText[] Score(IReadOnlyList<TextPair> rows) => ScoreAll(rows).ToArray();

    IReadOnlyList<ScoredText> ITextScorer.Score(IReadOnlyList<TextPair> rows) => Score(rows);

    /// <summary>Scores one row through a PredictionEngine (one row per call): the baseline the batching is measured against.</summary>
    public ScoredText ScoreOne(TextPair row)
    {
        PredictCommand.Output o;
        if (TakesPairs)
        {
            _pairEngine ??= _ml.Model.CreatePredictionEngine<PredictCommand.PairInput, PredictCommand.Output>(_model);
            o = _pairEngine.Predict(new PredictCommand.PairInput { Text = row.Text, Text2 = row.Text2 ?? "" });
        }
        else
        {
            _engine ??= _ml.Model.CreatePredictionEngine<PredictCommand.Input, PredictCommand.Output>(_model);
            o = _engine.Predict(new PredictCommand.Input { Text = row.Text });
        }
        return Result(o.Score);
    }

    private ScoredText Result(float[] score)
    {
        var p = _logits ? EvaluateCommand.SoftmaxOf(score) : score;
        int best = 0;
        for (int i = 1; i < p.Length; i++) if (p[i] > p[best]) best = i;
        return new ScoredText(best < ClassNames.Count ? ClassNames[best] : best.ToString(System.Globalization.CultureInfo.InvariantCulture), p);
    }

    public void Dispose()
    {
        _engine?.Dispose();
        _pairEngine?.Dispose();
        (_model as IDisposable)?.Dispose();
    }
}
