using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetLlmClassifier.MLNet;
using MLNetLlmClassifier.Torch;
using MLNetLlmClassifier.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetLlmClassifier;

/// <summary>
/// A fitted text classifier (BERT encoder or prompted Qwen3 decoder) as an ML.NET transformer.
/// </summary>
/// <remarks>
/// <list type="table">
/// <listheader><term>Column</term><description>Type and meaning</description></listheader>
/// <item><term>input: text column(s)</term><description>Text. Missing or empty text is scored as an empty string.</description></item>
/// <item><term>output: PredictedLabel</term><description>Key (UInt32) of the most likely class; its KeyValues are the class names, so MapKeyToValue turns it back into the label.</description></item>
/// <item><term>output: Score</term><description>Vector of Single: the probability of each class, in key order; SlotNames are the class names.</description></item>
/// </list>
/// Rows are scored in batches under no_grad. The transformer owns the model's tensors: dispose it when done.
/// </remarks>
public sealed class TextClassifierTransformer : ITransformer, IDisposable
{
    /// <summary>Rows read ahead and sorted by length per scoring window, in batches.</summary>
    internal const int WindowBatches = 8;

    private readonly IHost _host;
    private readonly ITrainableClassifier _model;
    private readonly string[] _classNames;
    private bool _disposed;

    /// <summary>A folder the transformer owns and deletes when disposed (the tokenizer files of a model loaded from a zip).</summary>
    private readonly string? _ownedFolder;

    internal TextClassifierTransformer(IHostEnvironment env, ITrainableClassifier model, ClassifierColumns columns,
        IReadOnlyList<string> classNames, int batchSize, TrainingSummary? summary, string? ownedFolder = null)
    {
        _ownedFolder = ownedFolder;
        _host = env.Register(nameof(TextClassifierTransformer));
        _model = model;
        _model.WeightsFinal = true; // training is over: what is computed from the weights alone may be kept across calls
        Columns = columns;
        _classNames = classNames.ToArray();
        BatchSize = batchSize;
        TrainingSummary = summary;
    }

    internal ClassifierColumns Columns { get; }
    internal ITrainableClassifier Model => _model;
    internal IHostEnvironment Environment => _host;

    /// <summary>The class names, in key order (the label column's key values at training time).</summary>
    public IReadOnlyList<string> ClassNames => _classNames;

    /// <summary>Rows per forward pass when scoring.</summary>
    public int BatchSize { get; }

    /// <summary>The training run that produced this model (null after loading from a file).</summary>
    public TrainingSummary? TrainingSummary { get; }

    /// <summary>The device the model runs on.</summary>
    public string Device => _model.Device.ToString();

    /// <summary>The registered family of the classifier (see <see cref="Families.ClassifierFamilies"/>).</summary>
    public Families.ClassifierFamily Family => _model.Family;

    /// <summary>Number of parameters of the underlying network.</summary>
    public long ParameterCount => _model.Module.parameters().Sum(p => p.numel());

    /// <summary>Parameters used in matrix multiplies for every token (2-D weights except embedding tables), for FLOP estimates.</summary>
    public long MatmulParameterCount => Torch.DeviceThroughput.MatmulParameters(_model.Module);

    /// <summary>The precision of the weights: Float32 or BFloat16.</summary>
    public string Precision => _model.Module.parameters().First().dtype.ToString();

    /// <inheritdoc/>
    public bool IsRowToRowMapper => true;

    /// <inheritdoc/>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema)
    {
        Columns.CheckInput(inputSchema);
        return Columns.OutputSchema(inputSchema, _classNames);
    }

    /// <inheritdoc/>
    public IDataView Transform(IDataView input)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return new ScoringDataView(input, this);
    }

    /// <inheritdoc/>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return new ClassifierRowMapper(this, inputSchema);
    }

    /// <inheritdoc/>
    void ICanSaveModel.Save(ModelSaveContext ctx) => TextClassifierTransformerPersistence.Save(ctx, this);

    /// <summary>
    /// Probabilities of each class for each text, [rows][classes]. One forward pass per batch of
    /// <see cref="BatchSize"/> rows, rows sorted by length so that padding is short.
    /// </summary>
    public float[][] Predict(IReadOnlyList<string> texts, IReadOnlyList<string?>? texts2 = null) =>
        ScoreTexts(texts.Select((t, i) => (t, texts2?[i])).ToList());

    /// <summary>
    /// Writes the fine-tuned network as a standard Hugging Face model folder: config.json, model.safetensors (in the dtype it
    /// was trained in), the tokenizer files, and mlnet-classifier.json with this library's settings. A BERT classifier loads in
    /// <c>transformers</c> with <c>AutoModelForSequenceClassification</c> (config.json carries id2label); a prompted Qwen3 decoder
    /// with <c>AutoModelForCausalLM</c> (the prompt, markers and class names are in mlnet-classifier.json).
    /// </summary>
    /// <remarks>The folder is built in a temporary sibling folder and renamed into place, so a failure leaves no half-written
    /// folder behind and an existing folder is replaced only once the new one is complete.</remarks>
    /// <param name="folder">The folder to create. It must not exist or be empty unless <paramref name="overwrite"/> is true.</param>
    /// <param name="overwrite">Replace an existing, non-empty folder. Default false.</param>
    /// <exception cref="IOException"><paramref name="folder"/> is a file, or a non-empty folder and <paramref name="overwrite"/> is false.</exception>
    /// <remarks>A model trained with LoRA writes its base weights under their Hugging Face keys plus the adapter in PEFT's files
    /// (adapter_config.json, adapter_model.safetensors), which loading puts back on the base; see also
    /// <see cref="ExportMergedHuggingFaceFolder"/> and <see cref="ExportPeftAdapter"/>.</remarks>
    /// <param name="form">The architecture to write (default <see cref="ExportForm.Native"/>): <see cref="ExportForm.SequenceClassification"/>
    /// turns a prompted decoder with single-token markers into a <c>Qwen3ForSequenceClassification</c> that transformers'
    /// <c>AutoModelForSequenceClassification</c> and vLLM's classify task load (its input is the rendered prompt of mlnet-classifier.json).</param>
    /// <exception cref="InvalidOperationException">The sequence-classification form of a prompted decoder whose markers are not single tokens,
    /// or of a LoRA model (use <see cref="ExportMergedHuggingFaceFolder"/>).</exception>
    public void ExportHuggingFaceFolder(string folder, bool overwrite = false, ExportForm form = ExportForm.Native) =>
        ExportFolder(folder, overwrite, tmp => Families.ClassifierFamilies.SaveClassifier(_model, tmp, form: form));

    /// <summary>
    /// Like <see cref="ExportHuggingFaceFolder"/>, but a LoRA adapter is first merged into the base weights (merge and unload:
    /// W += (alpha/r)·B·A in float32, cast to the stored dtype), so the folder is a plain Hugging Face model without adapter files.
    /// The merge changes this transformer's model in place: it goes on scoring with the merged weights (the same scores up to rounding).
    /// For a model without an adapter this is <see cref="ExportHuggingFaceFolder"/>.
    /// </summary>
    /// <param name="folder">The folder to create. It must not exist or be empty unless <paramref name="overwrite"/> is true.</param>
    /// <param name="overwrite">Replace an existing, non-empty folder. Default false.</param>
    /// <param name="form">The architecture to write (see <see cref="ExportHuggingFaceFolder"/>).</param>
    public void ExportMergedHuggingFaceFolder(string folder, bool overwrite = false, ExportForm form = ExportForm.Native)
    {
        _model.WeightsFinal = false; // the merge changes the weights in place: drop what was computed from the old ones
        try { ExportFolder(folder, overwrite, tmp => Families.ClassifierFamilies.SaveClassifier(_model, tmp, merge: true, form: form)); }
        finally { _model.WeightsFinal = true; }
    }

    /// <summary>
    /// Writes only the LoRA adapter, in the layout of Hugging Face PEFT (adapter_config.json and adapter_model.safetensors), which
    /// Python's <c>PeftModel.from_pretrained(base, folder)</c> and this library's <c>AdapterPath</c> option read.
    /// </summary>
    /// <param name="folder">The folder to create. It must not exist or be empty unless <paramref name="overwrite"/> is true.</param>
    /// <param name="overwrite">Replace an existing, non-empty folder. Default false.</param>
    /// <exception cref="InvalidOperationException">The model was not trained with LoRA.</exception>
    public void ExportPeftAdapter(string folder, bool overwrite = false)
    {
        var lora = Peft.LoraModel.Of(_model.Module) ?? throw new InvalidOperationException(
            "The model has no LoRA adapter (it was trained without LoraRank, or its adapter was merged): export the whole folder instead.");
        ExportFolder(folder, overwrite, tmp => Peft.PeftAdapterFolder.Write(lora, tmp));
    }

    private void ExportFolder(string folder, bool overwrite, Action<string> write)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentException.ThrowIfNullOrEmpty(folder);
        string target = Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder));
        string parent = Path.GetDirectoryName(target) ?? throw new ArgumentException($"'{folder}' is a root folder; give a folder to create.", nameof(folder));
        if (File.Exists(target)) throw new IOException($"Cannot export to '{target}': it is a file.");
        bool exists = Directory.Exists(target);
        if (exists && !overwrite && Directory.EnumerateFileSystemEntries(target).Any())
            throw new IOException($"Cannot export to '{target}': the folder exists and is not empty (pass overwrite: true to replace it).");

        Directory.CreateDirectory(parent);
        string tmp = IO.TempArtifacts.Sibling(target), old = IO.TempArtifacts.Sibling(target, "old");
        using var trackedTmp = IO.TempArtifacts.Track(tmp);
        using var trackedOld = IO.TempArtifacts.Track(old);
        try
        {
            write(tmp);
            if (exists) Directory.Move(target, old);
            try { Directory.Move(tmp, target); }
            catch
            {
                if (exists) Directory.Move(old, target);
                throw;
            }
        }
        finally
        {
            if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
            if (Directory.Exists(old)) Directory.Delete(old, recursive: true);
        }
    }

    /// <summary>Number of tokens the model sees for a row (special tokens and prompt included, after truncation).</summary>
    public int CountTokens(string text, string? text2 = null) => _model.Encode(text ?? "", text2).Length;

    internal float[][] ScoreTexts(IReadOnlyList<(string Text, string? Text2)> rows)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        EncodedExample[] encoded;
        using (StepProfiler.Measure("tokenize"))
            encoded = rows.Select(r => _model.Encode(r.Text ?? "", Columns.Text2Column is null ? null : r.Text2 ?? "")).ToArray();
        var result = new float[rows.Count][];
        using var _ = no_grad();
        foreach (var idx in LengthBucketSampler.InferenceBatches(encoded.Select(e => e.Length).ToArray(), BatchSize))
        {
            using var scope = NewDisposeScope();
            Tensor logp;
            using (StepProfiler.Measure(StepProfiler.UnattributedForward))
                logp = _model.ClassLogProbabilities(idx.Select(i => encoded[i]).ToArray());
            using (StepProfiler.Measure("scores to host"))
            {
                var flat = logp.exp().to(CPU).contiguous().data<float>().ToArray();
                int c = _classNames.Length;
                for (int k = 0; k < idx.Length; k++) result[idx[k]] = flat.AsSpan(k * c, c).ToArray();
            }
            StepProfiler.EndOf("batch");
        }
        return result;
    }

    internal IEnumerable<DataViewSchema.Column> TextInputColumns(DataViewSchema input) => Columns.TextColumns.Select(n => input[n]);

    /// <summary>Getter for an output column, reading the current row's probabilities from <paramref name="current"/>.</summary>
    internal ValueGetter<TValue> OutputGetter<TValue>(DataViewSchema.Column column, Func<float[]> current)
    {
        if (column.Name == Columns.ScoreColumn && column.Type is VectorDataViewType)
        {
            if (typeof(TValue) != typeof(VBuffer<float>)) throw new InvalidOperationException($"Column '{column.Name}' is a vector of Single, not {typeof(TValue).Name}.");
            ValueGetter<VBuffer<float>> g = (ref VBuffer<float> dst) =>
            {
                var p = current();
                var editor = VBufferEditor.Create(ref dst, p.Length);
                p.CopyTo(editor.Values);
                dst = editor.Commit();
            };
            return (ValueGetter<TValue>)(Delegate)g;
        }
        if (typeof(TValue) != typeof(uint)) throw new InvalidOperationException($"Column '{column.Name}' is a key (UInt32), not {typeof(TValue).Name}.");
        ValueGetter<uint> k = (ref uint dst) =>
        {
            var p = current();
            int best = 0;
            for (int i = 1; i < p.Length; i++) if (p[i] > p[best]) best = i;
            dst = (uint)(best + 1); // keys are 1-based; 0 means missing
        };
        return (ValueGetter<TValue>)(Delegate)k;
    }

    /// <summary>Frees the model's tensors (GPU memory included).</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _model.Dispose();
        if (_ownedFolder is not null)
        {
            try { Directory.Delete(_ownedFolder, recursive: true); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
    }
}

/// <summary>Maps one row at a time (PredictionEngine): scores the row as a batch of one, once per row position.</summary>
internal sealed class ClassifierRowMapper : IRowToRowMapper
{
    private readonly TextClassifierTransformer _parent;

    public ClassifierRowMapper(TextClassifierTransformer parent, DataViewSchema inputSchema)
    {
        _parent = parent;
        InputSchema = inputSchema;
        OutputSchema = parent.GetOutputSchema(inputSchema);
    }

    public DataViewSchema InputSchema { get; }
    public DataViewSchema OutputSchema { get; }

    public IEnumerable<DataViewSchema.Column> GetDependencies(IEnumerable<DataViewSchema.Column> dependingColumns)
    {
        int nIn = InputSchema.Count;
        var list = dependingColumns.ToList();
        var deps = list.Where(c => c.Index < nIn).Select(c => InputSchema[c.Index]).ToList();
        if (list.Any(c => c.Index >= nIn)) deps.AddRange(_parent.TextInputColumns(InputSchema));
        return deps.DistinctBy(c => c.Index);
    }

    public DataViewRow GetRow(DataViewRow input, IEnumerable<DataViewSchema.Column> activeColumns) =>
        new Row(this, input, activeColumns.Select(c => c.Index).ToHashSet());

    private sealed class Row : DataViewRow
    {
        private readonly ClassifierRowMapper _mapper;
        private readonly DataViewRow _input;
        private readonly HashSet<int> _active;
        private long _scoredPosition = -1;
        private float[] _scores = Array.Empty<float>();
        private ValueGetter<ReadOnlyMemory<char>>? _text, _text2;

        public Row(ClassifierRowMapper mapper, DataViewRow input, HashSet<int> active)
        {
            _mapper = mapper;
            _input = input;
            _active = active;
        }

        public override DataViewSchema Schema => _mapper.OutputSchema;
        public override long Position => _input.Position;
        public override long Batch => _input.Batch;
        public override ValueGetter<DataViewRowId> GetIdGetter() => _input.GetIdGetter();
        public override bool IsColumnActive(DataViewSchema.Column column) => _active.Contains(column.Index);

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            if (column.Index < _mapper.InputSchema.Count) return _input.GetGetter<TValue>(_mapper.InputSchema[column.Index]);
            return _mapper._parent.OutputGetter<TValue>(column, Current);
        }

        private float[] Current()
        {
            if (_scoredPosition == _input.Position && _scores.Length > 0) return _scores;
            var cols = _mapper._parent.Columns;
            _text ??= _input.GetGetter<ReadOnlyMemory<char>>(_mapper.InputSchema[cols.TextColumn]);
            if (cols.Text2Column is not null) _text2 ??= _input.GetGetter<ReadOnlyMemory<char>>(_mapper.InputSchema[cols.Text2Column]);
            ReadOnlyMemory<char> a = default, b = default;
            _text(ref a);
            string? second = null;
            if (_text2 is not null) { _text2(ref b); second = b.ToString(); }
            _scores = _mapper._parent.ScoreTexts(new[] { (a.ToString(), second) })[0];
            _scoredPosition = _input.Position;
            return _scores;
        }
    }
}
