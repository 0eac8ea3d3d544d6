using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetLlmClassifier.MLNet;

namespace MLNetLlmClassifier.Tests.MLNet;

/// <summary>
/// Test double that shows the pattern a saveable transformer of this library follows, with none of the model:
/// adds "Scaled" = X * Factor and a key column "PredictedLabel" (class names as KeyValues), and carries an
/// opaque byte payload standing in for weights.
/// - GetOutputSchema: input columns plus the columns of <see cref="AddedColumns"/> (the estimator uses the same).
/// - Transform: a lazy IDataView (<see cref="MappedDataView"/>); GetRowToRowMapper: the same per-row logic for
///   PredictionEngine (<see cref="Mapper"/>). Real transformers score in batches instead.
/// - Save: header (small scalars) + named binary streams (JSON config, weights) via MlNetInternals.SaveModel.
/// - Load: a static factory registered through <see cref="ModelFormat"/>.
/// </summary>
internal sealed class DummyScaleTransformer : ITransformer
{
    public const string ScaledColumn = "Scaled";
    public const string PredictedLabelColumn = "PredictedLabel";

    /// <summary>Identity and versions of the saved form; versions are 0xMMMMmmmm like ML.NET's.</summary>
    public static readonly MlNetModelFormat ModelFormat = new(
        LoaderSignature: "DUMMY-SCALE-XF", ModelSignature: "DUMSCALE",
        VerWritten: 0x00010001, VerReadable: 0x00010001, VerWeCanReadBack: 0x00010001, Load: Load);

    private readonly MlNetModelFormat _saveFormat;

    public DummyScaleTransformer(string inputColumn, float factor, IReadOnlyList<string> classes, byte[] payload,
        MlNetModelFormat? saveFormat = null)
    {
        if (classes.Count == 0)
            throw new ArgumentException("At least one class is needed.", nameof(classes));
        InputColumn = inputColumn;
        Factor = factor;
        Classes = classes;
        Payload = payload;
        _saveFormat = saveFormat ?? ModelFormat;
    }

    public string InputColumn { get; }
    public float Factor { get; }
    public IReadOnlyList<string> Classes { get; }
    public byte[] Payload { get; }

    public bool IsRowToRowMapper => true;

    /// <summary>Columns this transformer adds; the estimator's GetOutputSchema is built from the same schema.</summary>
    public static DataViewSchema AddedColumns(IReadOnlyList<string> classes)
    {
        var keyValues = new DataViewSchema.Annotations.Builder();
        // "KeyValues": a text vector as long as the key count (what MapKeyToValue reads; AddKeyValues is internal).
        keyValues.Add("KeyValues", new VectorDataViewType(TextDataViewType.Instance, classes.Count),
            (ref VBuffer<ReadOnlyMemory<char>> value) =>
                value = new VBuffer<ReadOnlyMemory<char>>(classes.Count, classes.Select(c => c.AsMemory()).ToArray()));
        var builder = new DataViewSchema.Builder();
        builder.AddColumn(ScaledColumn, NumberDataViewType.Single);
        builder.AddColumn(PredictedLabelColumn, new KeyDataViewType(typeof(uint), classes.Count), keyValues.ToAnnotations());
        return builder.ToSchema();
    }

    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema)
    {
        var column = inputSchema.GetColumnOrNull(InputColumn)
            ?? throw new ArgumentException($"Input schema has no column '{InputColumn}'.", nameof(inputSchema));
        if (column.Type != NumberDataViewType.Single)
            throw new ArgumentException($"Column '{InputColumn}' must be Single, not {column.Type}.", nameof(inputSchema));
        var builder = new DataViewSchema.Builder();
        builder.AddColumns(inputSchema);
        builder.AddColumns(AddedColumns(Classes));
        return builder.ToSchema();
    }

    public IDataView Transform(IDataView input) => new MappedDataView(this, input);

    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => new Mapper(this, inputSchema);

    public void Save(ModelSaveContext ctx) =>
        MlNetInternals.SaveModel(ctx, _saveFormat,
            header =>
            {
                header.Write(InputColumn);
                header.Write(Factor);
            },
            [
                ("config.json", stream => JsonSerializer.Serialize(stream, Classes)),
                ("payload.bin", stream => stream.Write(Payload)),
            ]);

    /// <summary>Loader factory: reads exactly what <see cref="Save"/> wrote.</summary>
    public static ITransformer Load(IHostEnvironment env, MlNetModelReader reader)
    {
        string inputColumn = reader.Header.ReadString();
        float factor = reader.Header.ReadSingle();
        string[]? classes = null;
        reader.ReadStream("config.json", stream => classes = JsonSerializer.Deserialize<string[]>(stream));
        byte[] payload = [];
        reader.ReadStream("payload.bin", stream =>
        {
            payload = new byte[stream.Length];
            stream.ReadExactly(payload);
        });
        return new DummyScaleTransformer(inputColumn, factor,
            classes ?? throw new InvalidDataException($"'{reader.Directory}/config.json' holds no class list."), payload);
    }

    /// <summary>The per-row computation both the data view and the row mapper use.</summary>
    private Delegate[] MakeAddedGetters(DataViewRow input)
    {
        var x = input.GetGetter<float>(input.Schema[InputColumn]);
        int classCount = Classes.Count;
        float factor = Factor;
        ValueGetter<float> scaled = (ref float value) =>
        {
            float xv = 0;
            x(ref xv);
            value = xv * factor;
        };
        ValueGetter<uint> predicted = (ref uint value) =>
        {
            float s = 0;
            scaled(ref s);
            value = (uint)((int)MathF.Floor(MathF.Abs(s)) % classCount) + 1; // keys are 1-based; 0 means missing
        };
        return [scaled, predicted];
    }

    /// <summary>Input columns an output column set needs: pass-through ones, plus the input column for added ones.</summary>
    private bool[] NeededInputs(DataViewSchema inputSchema, IEnumerable<DataViewSchema.Column> outputColumns)
    {
        var needed = new bool[inputSchema.Count];
        foreach (var column in outputColumns)
        {
            if (column.Index < inputSchema.Count)
                needed[column.Index] = true;
            else
                needed[inputSchema[InputColumn].Index] = true;
        }
        return needed;
    }

    /// <summary>Getters of one output row: input columns pass through, added ones are computed from the input row.</summary>
    private sealed class Getters(DummyScaleTransformer parent, DataViewRow input)
    {
        private Delegate[]? _added; // made on first use: the input column may be inactive when only pass-through columns are read

        public ValueGetter<TValue> Get<TValue>(DataViewSchema.Column column)
        {
            int inputCount = input.Schema.Count;
            return column.Index < inputCount
                ? input.GetGetter<TValue>(input.Schema[column.Index])
                : (ValueGetter<TValue>)(_added ??= parent.MakeAddedGetters(input))[column.Index - inputCount];
        }
    }

    private sealed class MappedDataView(DummyScaleTransformer parent, IDataView input) : IDataView
    {
        public DataViewSchema Schema { get; } = parent.GetOutputSchema(input.Schema);
        public bool CanShuffle => input.CanShuffle;
        public long? GetRowCount() => input.GetRowCount();

        public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
        {
            var active = new bool[Schema.Count];
            foreach (var column in columnsNeeded)
                active[column.Index] = true;
            var needed = parent.NeededInputs(input.Schema, columnsNeeded);
            var cursor = input.GetRowCursor(input.Schema.Where(c => needed[c.Index]), rand);
            return new Cursor(parent, Schema, cursor, active);
        }

        public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
            [GetRowCursor(columnsNeeded, rand)];
    }

    private sealed class Cursor(DummyScaleTransformer parent, DataViewSchema schema, DataViewRowCursor input, bool[] active)
        : DataViewRowCursor
    {
        private readonly Getters _getters = new(parent, input);

        public override DataViewSchema Schema => schema;
        public override long Position => input.Position;
        public override long Batch => input.Batch;
        public override ValueGetter<DataViewRowId> GetIdGetter() => input.GetIdGetter();
        public override bool IsColumnActive(DataViewSchema.Column column) => active[column.Index];
        public override bool MoveNext() => input.MoveNext();

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column) => _getters.Get<TValue>(column);

        protected override void Dispose(bool disposing)
        {
            if (disposing)
                input.Dispose();
            base.Dispose(disposing);
        }
    }

    private sealed class Mapper(DummyScaleTransformer parent, DataViewSchema inputSchema) : IRowToRowMapper
    {
        public DataViewSchema InputSchema => inputSchema;
        public DataViewSchema OutputSchema { get; } = parent.GetOutputSchema(inputSchema);

        public IEnumerable<DataViewSchema.Column> GetDependencies(IEnumerable<DataViewSchema.Column> dependingColumns)
        {
            var needed = parent.NeededInputs(inputSchema, dependingColumns);
            return inputSchema.Where(c => needed[c.Index]);
        }

        public DataViewRow GetRow(DataViewRow input, IEnumerable<DataViewSchema.Column> activeColumns)
        {
            var active = new bool[OutputSchema.Count];
            foreach (var column in activeColumns)
                active[column.Index] = true;
            return new Row(parent, OutputSchema, input, active);
        }
    }

    private sealed class Row(DummyScaleTransformer parent, DataViewSchema schema, DataViewRow input, bool[] active) : DataViewRow
    {
        private readonly Getters _getters = new(parent, input);

        public override DataViewSchema Schema => schema;
        public override long Position => input.Position;
        public override long Batch => input.Batch;
        public override ValueGetter<DataViewRowId> GetIdGetter() => input.GetIdGetter();
        public override bool IsColumnActive(DataViewSchema.Column column) => active[column.Index];

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column) => _getters.Get<TValue>(column);
    }
}

/// <summary>Estimator for <see cref="DummyScaleTransformer"/>: shows GetOutputSchema built with SchemaShapeHelper.</summary>
internal sealed class DummyScaleEstimator(string inputColumn, float factor, IReadOnlyList<string> classes, byte[] payload)
    : IEstimator<DummyScaleTransformer>
{
    public DummyScaleTransformer Fit(IDataView input)
    {
        var transformer = new DummyScaleTransformer(inputColumn, factor, classes, payload);
        transformer.GetOutputSchema(input.Schema); // validates the input column
        return transformer;
    }

    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        var column = inputSchema.FirstOrDefault(c => c.Name == inputColumn);
        if (column.Name is null)
            throw new ArgumentException($"Input schema has no column '{inputColumn}'.", nameof(inputSchema));
        if (column.Kind != SchemaShape.Column.VectorKind.Scalar || column.ItemType != NumberDataViewType.Single || column.IsKey)
            throw new ArgumentException($"Column '{inputColumn}' must be a Single scalar.", nameof(inputSchema));
        return SchemaShapeHelper.WithColumns(inputSchema, DummyScaleTransformer.AddedColumns(classes));
    }
}
