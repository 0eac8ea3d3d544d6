using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetLlmClassifier.MLNet;

/// <summary>
/// The IDataView a <see cref="TextClassifierTransformer"/> returns: the input columns plus
/// PredictedLabel and Score. Rows are scored lazily, in batches of the transformer's batch size:
/// a leading cursor reads the texts of the next batch and the model scores them in one call,
/// while a second cursor over the same input supplies the pass-through columns row by row.
/// ML.NET cursors over the same data view without shuffling visit rows in the same order, which is
/// what keeps the two aligned.
/// </summary>
internal sealed class ScoringDataView : IDataView
{
    private readonly IDataView _input;
    private readonly TextClassifierTransformer _parent;

    public ScoringDataView(IDataView input, TextClassifierTransformer parent)
    {
        _input = input;
        _parent = parent;
        Schema = parent.GetOutputSchema(input.Schema);
    }

    public bool CanShuffle => false;
    public DataViewSchema Schema { get; }
    public long? GetRowCount() => _input.GetRowCount();

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
    {
        int nIn = _input.Schema.Count;
        var needed = columnsNeeded.Select(c => c.Index).ToHashSet();
        bool scoring = needed.Any(i => i >= nIn);
        var inputNeeded = needed.Where(i => i < nIn).Select(i => _input.Schema[i]).ToList();
        var lagging = _input.GetRowCursor(inputNeeded);
        DataViewRowCursor? leading = scoring ? _input.GetRowCursor(_parent.TextInputColumns(_input.Schema)) : null;
        return new Cursor(this, lagging, leading, needed);
    }

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null)
        => new[] { GetRowCursor(columnsNeeded, rand) };

    private sealed class Cursor : DataViewRowCursor
    {
        private readonly ScoringDataView _view;
        private readonly DataViewRowCursor _lagging;
        private readonly DataViewRowCursor? _leading;
        private readonly HashSet<int> _active;
        private readonly BatchTextReader? _reader;
        private float[][] _scores = Array.Empty<float[]>();
        private int _inBatch = -1;
        private long _position = -1;

        public Cursor(ScoringDataView view, DataViewRowCursor lagging, DataViewRowCursor? leading, HashSet<int> active)
        {
            _view = view;
            _lagging = lagging;
            _leading = leading;
            _active = active;
            if (leading is not null) _reader = new BatchTextReader(leading, view._parent.Columns);
        }

        public override DataViewSchema Schema => _view.Schema;
        public override long Position => _position;
        public override long Batch => 0;
        public override bool IsColumnActive(DataViewSchema.Column column) => _active.Contains(column.Index);
        public override ValueGetter<DataViewRowId> GetIdGetter() => _lagging.GetIdGetter();

        public override bool MoveNext()
        {
            if (!_lagging.MoveNext()) return false;
            _position++;
            if (_reader is not null)
            {
                _inBatch++;
                if (_inBatch >= _scores.Length)
                {
                    var texts = _reader.Read(_view._parent.BatchSize * TextClassifierTransformer.WindowBatches);
                    if (texts.Count == 0)
                        throw new InvalidOperationException("The input data view returned fewer rows to the scoring cursor than to the pass-through cursor.");
                    _scores = _view._parent.ScoreTexts(texts);
                    _inBatch = 0;
                }
            }
            return true;
        }

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            int nIn = _view._input.Schema.Count;
            if (column.Index < nIn) return _lagging.GetGetter<TValue>(_view._input.Schema[column.Index]);
            if (!_active.Contains(column.Index)) throw new InvalidOperationException($"Column '{column.Name}' is not active.");
            return _view._parent.OutputGetter<TValue>(column, () => _scores[_inBatch]);
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) { _lagging.Dispose(); _leading?.Dispose(); }
            base.Dispose(disposing);
        }
    }
}

/// <summary>Reads the text columns of a cursor, a batch of rows at a time. Missing text reads as "".</summary>
internal sealed class BatchTextReader
{
    private readonly DataViewRowCursor _cursor;
    private readonly ValueGetter<ReadOnlyMemory<char>> _text;
    private readonly ValueGetter<ReadOnlyMemory<char>>? _text2;

    public BatchTextReader(DataViewRowCursor cursor, ClassifierColumns columns)
    {
        _cursor = cursor;
        _text = cursor.GetGetter<ReadOnlyMemory<char>>(cursor.Schema[columns.TextColumn]);
        _text2 = columns.Text2Column is null ? null : cursor.GetGetter<ReadOnlyMemory<char>>(cursor.Schema[columns.Text2Column]);
    }

    public List<(string Text, string? Text2)> Read(int max)
    {
        var rows = new List<(string, string?)>(max);
        ReadOnlyMemory<char> a = default, b = default;
        while (rows.Count < max && _cursor.MoveNext())
        {
            _text(ref a);
            string? second = null;
            if (_text2 is not null) { _text2(ref b); second = b.ToString(); }
            rows.Add((a.ToString(), second));
        }
        return rows;
    }
}
