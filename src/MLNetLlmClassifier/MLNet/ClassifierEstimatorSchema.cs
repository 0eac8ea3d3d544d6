using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetLlmClassifier.MLNet;

/// <summary>GetOutputSchema of both trainers: checks the input shape and adds PredictedLabel and Score.</summary>
internal static class ClassifierEstimatorSchema
{
    public static SchemaShape GetOutputSchema(SchemaShape input, string labelColumn, ClassifierColumns cols)
    {
        if (!TryFind(input, labelColumn, out var label))
            throw new ArgumentOutOfRangeException(nameof(input), $"The label column '{labelColumn}' is not in the input (columns: {string.Join(", ", input.Select(c => c.Name))}).");
        if (!label.IsKey)
            throw new ArgumentOutOfRangeException(nameof(input),
                $"The label column '{labelColumn}' is {label.ItemType}, not a key type. " +
                $"Add mlContext.Transforms.Conversion.MapValueToKey(\"{labelColumn}\") before the trainer (and MapKeyToValue(\"PredictedLabel\") after it).");
        foreach (var name in cols.TextColumns)
        {
            if (!TryFind(input, name, out var text))
                throw new ArgumentOutOfRangeException(nameof(input), $"Text column '{name}' is not in the input (columns: {string.Join(", ", input.Select(c => c.Name))}).");
            if (text.ItemType is not TextDataViewType || text.Kind != SchemaShape.Column.VectorKind.Scalar)
                throw new ArgumentOutOfRangeException(nameof(input), $"Text column '{name}' is {text.ItemType} ({text.Kind}), not a scalar text column.");
        }

        // Only the shape matters here (the class count is known after Fit): a placeholder of two classes.
        var placeholder = new DataViewSchema.Builder().ToSchema();
        return SchemaShapeHelper.WithColumns(input, cols.OutputSchema(placeholder, PlaceholderClasses));
    }

    private static readonly string[] PlaceholderClasses = ["class 0", "class 1"];

    private static bool TryFind(SchemaShape shape, string name, out SchemaShape.Column column)
    {
        // SchemaShape.TryFindColumn is internal; the last column of a name is the visible one.
        for (int i = shape.Count - 1; i >= 0; i--)
            if (shape[i].Name == name) { column = shape[i]; return true; }
        column = default;
        return false;
    }
}
