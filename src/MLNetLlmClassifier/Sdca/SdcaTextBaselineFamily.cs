using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers;
using MLNetLlmClassifier.Families;

namespace MLNetLlmClassifier.Sdca;

/// <summary>
/// The classic ML.NET baseline that the transformers are compared against: <c>FeaturizeText</c> (word and character n-grams) then
/// <c>SdcaMaximumEntropy</c>. It trains in seconds on a CPU and needs no checkpoint.
/// </summary>
public sealed class SdcaTextBaselineFamily : ClassifierFamily<SdcaTextBaselineFamily.Options>
{
    /// <summary>Options of the baseline: the columns and the SDCA options that matter for text.</summary>
    public sealed class Options
    {
        /// <summary>Label column: a key type (use MapValueToKey). Default "Label".</summary>
        public string LabelColumnName { get; set; } = "Label";

        /// <summary>The text column FeaturizeText reads. Default "Text".</summary>
        public string TextColumnName { get; set; } = "Text";

        /// <summary>An optional second text column (sentence pairs), featurised with the first. Default null.</summary>
        public string? Text2ColumnName { get; set; }

        /// <summary>L2 regularisation; null lets SDCA choose from the data. Default null.</summary>
        public float? L2Regularization { get; set; }

        /// <summary>L1 regularisation; null lets SDCA choose from the data. Default null.</summary>
        public float? L1Regularization { get; set; }

        /// <summary>
        /// Passes over the data at most; null lets SDCA choose from the data (ML.NET's default), which with little regularisation can
        /// mean many passes over small data. Default null.
        /// </summary>
        public int? MaximumNumberOfIterations { get; set; }
    }

    /// <summary>The registered instance.</summary>
    public static SdcaTextBaselineFamily Instance { get; } = new();

    private SdcaTextBaselineFamily() { }

    /// <inheritdoc/>
    public override string Name => "sdca";

    /// <inheritdoc/>
    public override string DisplayName => "ML.NET SDCA (FeaturizeText)";

    /// <inheritdoc/>
    public override ModelKind Kind => ModelKind.ClassicMlNet;

    /// <inheritdoc/>
    public override Options NewOptions(string? modelPath, string textColumn, string? text2Column = null) =>
        new() { TextColumnName = textColumn, Text2ColumnName = text2Column };

    /// <inheritdoc/>
    protected override IEstimator<ITransformer> Estimator(MLContext mlContext, Options options) =>
        mlContext.Transforms.Text.FeaturizeText("Features", new Microsoft.ML.Transforms.Text.TextFeaturizingEstimator.Options(),
                options.Text2ColumnName is null ? [options.TextColumnName] : [options.TextColumnName, options.Text2ColumnName])
            .Append(mlContext.MulticlassClassification.Trainers.SdcaMaximumEntropy(new SdcaMaximumEntropyMulticlassTrainer.Options
            {
                LabelColumnName = options.LabelColumnName,
                FeatureColumnName = "Features",
                L2Regularization = options.L2Regularization,
                L1Regularization = options.L1Regularization,
                MaximumNumberOfIterations = options.MaximumNumberOfIterations,
            }));

    /// <summary>L2Regularization log-uniform [1e-5, 0.1] and L1Regularization log-uniform [1e-7, 0.1].</summary>
    public override IReadOnlyList<SweepRange> DefaultSearchSpace =>
    [
        SweepRange.LogUniform(nameof(Options.L2Regularization), 1e-5, 0.1),
        SweepRange.LogUniform(nameof(Options.L1Regularization), 1e-7, 0.1),
    ];

    /// <inheritdoc/>
    public override bool Owns(ITransformer transformer) =>
        transformer is MulticlassPredictionTransformer<MaximumEntropyModelParameters>
        || (transformer as IEnumerable<ITransformer>)?.Any(t => t is MulticlassPredictionTransformer<MaximumEntropyModelParameters>) == true;

    /// <summary>Weights and biases of the fitted linear model.</summary>
    public override long? CountParameters(ITransformer fitted)
    {
        var predictor = (fitted as IEnumerable<ITransformer>)?.OfType<MulticlassPredictionTransformer<MaximumEntropyModelParameters>>().FirstOrDefault()
                        ?? fitted as MulticlassPredictionTransformer<MaximumEntropyModelParameters>;
        if (predictor is null) return null;
        VBuffer<float>[] weights = default!;
        predictor.Model.GetWeights(ref weights, out int classes);
        return weights.Sum(w => (long)w.Length) + classes;
    }
}
