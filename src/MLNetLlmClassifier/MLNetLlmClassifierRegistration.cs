using Microsoft.ML;
using Microsoft.ML.Runtime;

using MLNetLlmClassifier.MLNet;

namespace MLNetLlmClassifier;

/// <summary>
/// Makes ML.NET able to load models that contain MLNetLlmClassifier transformers.
/// </summary>
/// <remarks>
/// ML.NET finds a transformer's loader in the <see cref="ComponentCatalog"/> of the <see cref="MLContext"/>
/// that loads the model, and offers third-party libraries no way to be registered there automatically.
/// So, in a process that did not build the model, call this once per <see cref="MLContext"/> before
/// <c>mlContext.Model.Load</c>:
/// <code>
/// var mlContext = new MLContext();
/// mlContext.ComponentCatalog.RegisterMLNetLlmClassifier();
/// ITransformer model = mlContext.Model.Load("model.zip", out var inputSchema);
/// </code>
/// Without it, ML.NET fails with "Couldn't load model: 'TransformerChain/Transform_00N'" (the directory of
/// our transformer, often wrapped in "Error during class instantiation"). The call is cheap and idempotent; this library's
/// estimator extension methods make it for you, so training and loading in the same MLContext needs nothing.
/// </remarks>
public static class MLNetLlmClassifierRegistration
{
    /// <summary>
    /// Every transformer this library can load. Add one line per saveable transformer:
    /// <c>BertTextClassificationTransformer.ModelFormat,</c>.
    /// </summary>
    private static readonly MlNetModelFormat[] BuiltInFormats =
    [
        TextClassificationTransformerPersistence.Format,
    ];

    /// <summary>Registers this library's model loaders into <paramref name="catalog"/> (idempotent, thread-safe).</summary>
    /// <returns>The same catalog, for chaining.</returns>
    public static ComponentCatalog RegisterMLNetLlmClassifier(this ComponentCatalog catalog)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        foreach (var format in BuiltInFormats)
            MlNetInternals.RegisterLoader(format);
        MlNetInternals.RegisterLoadersInto(catalog);
        return catalog;
    }

    /// <summary>Registers this library's model loaders into the catalog of <paramref name="mlContext"/> (idempotent).</summary>
    /// <returns>The same context, for chaining.</returns>
    public static MLContext RegisterMLNetLlmClassifier(this MLContext mlContext)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        mlContext.ComponentCatalog.RegisterMLNetLlmClassifier();
        return mlContext;
    }

    /// <summary>For estimators and transformers of this library: registers into whatever environment they were given.</summary>
    internal static void EnsureRegistered(IHostEnvironment env)
    {
        ArgumentNullException.ThrowIfNull(env);
        env.ComponentCatalog.RegisterMLNetLlmClassifier();
    }
}
