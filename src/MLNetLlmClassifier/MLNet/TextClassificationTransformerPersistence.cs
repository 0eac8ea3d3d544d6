using Microsoft.ML;

namespace MLNetLlmClassifier.MLNet;

/// <summary>Saving and loading <see cref="TextClassificationTransformer"/> inside ML.NET model files.</summary>
internal static class TextClassificationTransformerPersistence
{
    public static void Save(ModelSaveContext ctx, TextClassificationTransformer transformer) =>
        throw new NotSupportedException("Saving lands with the ML.NET persistence layer.");
}
