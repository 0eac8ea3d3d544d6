using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetLlmClassifier.MLNet;

/// <summary>The names and types of the columns our classifiers read and write.</summary>
/// <param name="TextColumn">Input text column (sentence 1).</param>
/// <param name="Text2Column">Optional second text column (sentence 2 of a pair), or null.</param>
/// <param name="ScoreColumn">Output: vector of class probabilities, slot names = class names.</param>
/// <param name="PredictedLabelColumn">Output: key of the most likely class, key values = class names.</param>
internal sealed record ClassifierColumns(string TextColumn, string? Text2Column, string ScoreColumn, string PredictedLabelColumn)
{
    public IEnumerable<string> TextColumns => Text2Column is null ? new[] { TextColumn } : new[] { TextColumn, Text2Column };

    /// <summary>Checks that the input has the text columns as text; errors name the column.</summary>
    public void CheckInput(DataViewSchema input)
    {
        foreach (var name in TextColumns)
        {
            var col = input.GetColumnOrNull(name)
                ?? throw new ArgumentOutOfRangeException(nameof(input), $"Text column '{name}' is not in the input (columns: {string.Join(", ", input.Select(c => c.Name))}).");
            if (col.Type is not TextDataViewType)
                throw new ArgumentOutOfRangeException(nameof(input), $"Text column '{name}' is {col.Type}, not text.");
        }
    }

    /// <summary>The input columns followed by PredictedLabel (key, with KeyValues) and Score (vector, with SlotNames).</summary>
    public DataViewSchema OutputSchema(DataViewSchema input, IReadOnlyList<string> classNames)
    {
        var b = new DataViewSchema.Builder();
        b.AddColumns(input);
        b.AddColumn(PredictedLabelColumn, new KeyDataViewType(typeof(uint), classNames.Count), KeyValuesAnnotation(classNames));
        b.AddColumn(ScoreColumn, new VectorDataViewType(NumberDataViewType.Single, classNames.Count), SlotNamesAnnotation(classNames));
        return b.ToSchema();
    }

    internal static DataViewSchema.Annotations KeyValuesAnnotation(IReadOnlyList<string> names)
    {
        var ab = new DataViewSchema.Annotations.Builder();
        ab.Add("KeyValues", new VectorDataViewType(TextDataViewType.Instance, names.Count), NamesGetter(names));
        return ab.ToAnnotations();
    }

    internal static DataViewSchema.Annotations SlotNamesAnnotation(IReadOnlyList<string> names)
    {
        var ab = new DataViewSchema.Annotations.Builder();
        ab.Add("SlotNames", new VectorDataViewType(TextDataViewType.Instance, names.Count), NamesGetter(names));
        return ab.ToAnnotations();
    }

    private static ValueGetter<VBuffer<ReadOnlyMemory<char>>> NamesGetter(IReadOnlyList<string> names)
    {
        var values = names.Select(n => n.AsMemory()).ToArray();
        return (ref VBuffer<ReadOnlyMemory<char>> dst) => dst = new VBuffer<ReadOnlyMemory<char>>(values.Length, values);
    }
}
