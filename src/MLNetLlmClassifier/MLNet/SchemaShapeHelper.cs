using Microsoft.ML;

namespace MLNetLlmClassifier.MLNet;

/// <summary>
/// Builds <see cref="SchemaShape"/>s for estimators' GetOutputSchema.
/// </summary>
/// <remarks>
/// ML.NET 5 gives third parties no public way to make a <see cref="SchemaShape.Column"/>: its constructor and
/// <c>SchemaShape.Create(DataViewSchema)</c> are internal. So describe the new columns as an ordinary
/// <see cref="DataViewSchema"/> (built with <see cref="DataViewSchema.Builder"/>, including annotations such as
/// KeyValues, which MapKeyToValue requires) and let <see cref="WithColumns"/> convert it through
/// <see cref="MlNetInternals.SchemaShapeFromSchema"/>. The same schema can then serve the transformer's
/// GetOutputSchema, so estimator and transformer cannot disagree.
/// </remarks>
internal static class SchemaShapeHelper
{
    /// <summary>The shape of <paramref name="schema"/> (what ML.NET's internal SchemaShape.Create returns).</summary>
    public static SchemaShape FromSchema(DataViewSchema schema) => MlNetInternals.SchemaShapeFromSchema(schema);

    /// <summary>
    /// <paramref name="input"/> with the columns of <paramref name="newColumns"/> added; a new column replaces an
    /// input column of the same name in place, as ML.NET's own estimators do.
    /// </summary>
    public static SchemaShape WithColumns(SchemaShape input, DataViewSchema newColumns)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(newColumns);
        var columns = input.ToDictionary(c => c.Name);
        foreach (var column in FromSchema(newColumns))
            columns[column.Name] = column;
        return new SchemaShape(columns.Values);
    }
}
