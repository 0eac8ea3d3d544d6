using System.Diagnostics;
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetLlmClassifier.Torch;
using MLNetLlmClassifier.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetLlmClassifier.MLNet;

/// <summary>What a trainer needs to build its model for a fit.</summary>
internal sealed record ModelRequest(IReadOnlyList<string> ClassNames, Device Device, ScalarType DType, int Seed, Action<string> Log);

/// <summary>Rows read from an IDataView for training or validation.</summary>
internal sealed record LabeledTexts(List<(string Text, string? Text2)> Rows, long[] Labels, string[] ClassNames, int SkippedMissingLabels);

/// <summary>
/// The fit steps both trainers share: check the schema, read the labelled texts from the IDataView,
/// pick device, precision and seed, tokenise, run <see cref="TrainingLoop"/>, wrap the model in a
/// <see cref="TextClassifierTransformer"/>. The trainer supplies only the model.
/// </summary>
internal static class ClassifierFitting
{
    public static TextClassifierTransformer Fit(IHostEnvironment env, string trainerName, TransformerTrainerOptions o,
        ClassifierColumns cols, IDataView trainData, Func<ModelRequest, ITrainableClassifier> createModel)
    {
        var host = env.Register(trainerName);
        using var ch = host.Start("Training");
        void Log(string m) => ch.Info(MessageSensitivity.None, m);
        void Report(TrainingProgress p)
        {
            if (p.Kind != TrainingEventKind.Step || p.Step == 1 || p.Step % 10 == 0 || p.Step == p.TotalSteps) Log(p.Message);
            o.Progress?.Report(p);
        }

        var train = ReadLabeled(trainData, o.LabelColumnName, cols, "training", null);
        if (train.ClassNames.Length < 2)
            throw new ArgumentException($"The label column '{o.LabelColumnName}' has {train.ClassNames.Length} class(es); a classifier needs at least two.");
        int present = train.Labels.Distinct().Count();
        if (present < 2)
            throw new ArgumentException($"The training data has rows of only {present} class(es) of the label column '{o.LabelColumnName}'; a classifier needs at least two.");
        if (train.Labels.Length == 0)
            throw new ArgumentException("The training data has no rows with a label.");
        if (train.SkippedMissingLabels > 0) Log($"Skipped {train.SkippedMissingLabels} training rows whose label is missing.");

        LabeledTexts? valid = null;
        if (o.ValidationSet is not null)
        {
            valid = ReadLabeled(o.ValidationSet, o.LabelColumnName, cols, "validation", train.ClassNames);
            var absent = train.ClassNames.Where((_, i) => !valid.Labels.Contains(i)).ToList();
            if (absent.Count > 0)
                Log($"The validation set has no rows of class(es) {string.Join(", ", absent)}: macro-F1 averages over the classes it has or that are predicted.");
            if (valid.Labels.Length == 0) { Log("The validation set has no labelled rows: evaluation is off."); valid = null; }
        }

        var device = TorchDevice.Resolve(o.Device, nameof(o.Device));
        var dtype = o.Precision switch
        {
            Precision.Float32 => ScalarType.Float32,
            Precision.BFloat16 => ScalarType.BFloat16,
            _ => Families.ClassifierFamilies.AutoDtype(o.ModelPath, device),
        };
        if (device.type == DeviceType.CPU) Log(CpuAllocatorTuning.Apply());
        int seed = o.Seed ?? host.Rand.Next();
        Log($"{trainerName}: {train.Labels.Length} training rows, {valid?.Labels.Length ?? 0} validation rows, {train.ClassNames.Length} classes, device {device}, {dtype}, seed {seed}.");
        ReportPlan(TrainingPlan.Create(trainerName, o, train.Labels, train.ClassNames, valid?.Labels.Length ?? 0, device.ToString(),
            dtype == ScalarType.BFloat16 ? "bfloat16" : "float32", Checkpoints.HfModelFolder.HasRandomWeights(o.ModelPath)), o, Log, m => ch.Warning(MessageSensitivity.None, m));

        // What loading the model has to say (e.g. newly initialised head weights) also goes to the progress receiver, so users see it.
        var model = createModel(new ModelRequest(train.ClassNames, device, dtype, seed, m =>
        {
            Log(m);
            o.Progress?.Report(new TrainingProgress { Kind = TrainingEventKind.Preparing, Message = m });
        }));
        try
        {
            // LoRA, an existing adapter, or freezing: decided once here for every trainer (Peft/ParameterEfficientTraining).
            Peft.ParameterEfficientTraining.Apply(model, o, seed, m =>
            {
                Log(m);
                o.Progress?.Report(new TrainingProgress { Kind = TrainingEventKind.Preparing, Message = m });
            });
            o.Progress?.Report(new TrainingProgress { Kind = TrainingEventKind.Preparing, Message = "tokenising" });
            var sw = Stopwatch.StartNew();
            var trainEnc = train.Rows.Select(r => model.Encode(r.Text, r.Text2)).ToList();
            var validEnc = valid?.Rows.Select(r => model.Encode(r.Text, r.Text2)).ToList();
            Log($"Tokenised {trainEnc.Count + (validEnc?.Count ?? 0)} rows in {sw.Elapsed.TotalSeconds:F1} s; " +
                $"{trainEnc.Count(e => e.Truncated)} training rows truncated to {o.MaxSequenceLength} tokens.");
            var loop = new TrainingLoop(o, seed, Report);
            var summary = loop.Run(model, trainEnc, train.Labels, validEnc, valid?.Labels);
            return new TextClassifierTransformer(env, model, cols, train.ClassNames, o.EffectiveInferenceBatchSize, summary);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Reports the plan's lines and warnings to <c>Progress</c> and the log, before any model is built.</summary>
    internal static void ReportPlan(TrainingPlan plan, TransformerTrainerOptions o, Action<string> log, Action<string> warn)
    {
        foreach (var line in plan.Lines())
        {
            log(line);
            o.Progress?.Report(new TrainingProgress { Kind = TrainingEventKind.Plan, Message = line });
        }
        foreach (var w in plan.Warnings())
        {
            warn(w);
            o.Progress?.Report(new TrainingProgress { Kind = TrainingEventKind.Warning, Message = "warning: " + w });
        }
    }

    /// <summary>Checks that the label column exists and is a key type with UInt32 keys.</summary>
    public static KeyDataViewType CheckLabelColumn(DataViewSchema schema, string labelColumn, string setName)
    {
        var col = schema.GetColumnOrNull(labelColumn)
            ?? throw new ArgumentOutOfRangeException(nameof(labelColumn),
                $"The {setName} data has no label column '{labelColumn}' (columns: {string.Join(", ", schema.Select(c => c.Name))}).");
        if (col.Type is not KeyDataViewType key || key.RawType != typeof(uint))
            throw new ArgumentOutOfRangeException(nameof(labelColumn),
                $"The label column '{labelColumn}' of the {setName} data is {col.Type}, not a key type. " +
                $"Add mlContext.Transforms.Conversion.MapValueToKey(\"{labelColumn}\") before the trainer (and MapKeyToValue(\"PredictedLabel\") after it).");
        return key;
    }

    /// <summary>Reads labels (0-based) and texts; rows with a missing label (key 0) are skipped and counted; missing text reads as "".</summary>
    public static LabeledTexts ReadLabeled(IDataView data, string labelColumn, ClassifierColumns cols, string setName, string[]? expectedClasses)
    {
        var key = CheckLabelColumn(data.Schema, labelColumn, setName);
        cols.CheckInput(data.Schema);
        var classNames = ClassNames(data.Schema[labelColumn], (int)key.Count);
        if (expectedClasses is not null && !classNames.SequenceEqual(expectedClasses))
            throw new ArgumentException(
                $"The {setName} data's label keys ({string.Join(", ", classNames)}) differ from the training data's ({string.Join(", ", expectedClasses)}). " +
                "Map both with the same fitted MapValueToKey transformer.");

        var needed = new List<DataViewSchema.Column> { data.Schema[labelColumn] };
        needed.AddRange(cols.TextColumns.Select(n => data.Schema[n]));
        using var cursor = data.GetRowCursor(needed);
        var labelGetter = cursor.GetGetter<uint>(data.Schema[labelColumn]);
        var rows = new List<(string, string?)>();
        var labels = new List<long>();
        int skipped = 0;
        uint label = 0;
        ReadOnlyMemory<char> a = default, b = default;
        var textGetter = cursor.GetGetter<ReadOnlyMemory<char>>(data.Schema[cols.TextColumn]);
        var text2Getter = cols.Text2Column is null ? null : cursor.GetGetter<ReadOnlyMemory<char>>(data.Schema[cols.Text2Column]);
        while (cursor.MoveNext())
        {
            labelGetter(ref label);
            if (label == 0) { skipped++; continue; }
            textGetter(ref a);
            string? second = null;
            if (text2Getter is not null) { text2Getter(ref b); second = b.ToString(); }
            rows.Add((a.ToString(), second));
            labels.Add(label - 1);
        }
        return new LabeledTexts(rows, labels.ToArray(), classNames, skipped);
    }

    /// <summary>The label column's KeyValues as strings, or "0".."C-1" when it has none.</summary>
    public static string[] ClassNames(DataViewSchema.Column labelColumn, int count)
    {
        var kv = labelColumn.Annotations.Schema.GetColumnOrNull("KeyValues");
        if (kv is null || kv.Value.Type is not VectorDataViewType vt)
            return Enumerable.Range(0, count).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToArray();
        string[] Read<T>(Func<T, string> str)
        {
            VBuffer<T> buf = default;
            labelColumn.Annotations.GetValue("KeyValues", ref buf);
            return buf.DenseValues().Select(str).ToArray();
        }
        var names = vt.ItemType switch
        {
            TextDataViewType => Read<ReadOnlyMemory<char>>(v => v.ToString()),
            NumberDataViewType n when n.RawType == typeof(float) => Read<float>(v => v.ToString(CultureInfo.InvariantCulture)),
            NumberDataViewType n when n.RawType == typeof(double) => Read<double>(v => v.ToString(CultureInfo.InvariantCulture)),
            NumberDataViewType n when n.RawType == typeof(int) => Read<int>(v => v.ToString(CultureInfo.InvariantCulture)),
            NumberDataViewType n when n.RawType == typeof(uint) => Read<uint>(v => v.ToString(CultureInfo.InvariantCulture)),
            NumberDataViewType n when n.RawType == typeof(long) => Read<long>(v => v.ToString(CultureInfo.InvariantCulture)),
            BooleanDataViewType => Read<bool>(v => v ? "true" : "false"),
            _ => Enumerable.Range(0, count).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToArray(),
        };
        return names.Length == count ? names : Enumerable.Range(0, count).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToArray();
    }
}
