namespace MLNetLlmClassifier.Sweeps;

/// <summary>
/// Default search spaces for the two trainers, over the options they share (<see cref="TransformerTrainerOptions"/>).
/// Each call returns a new space: change it with <see cref="SearchSpace.Set"/>, <see cref="SearchSpace.Remove"/> or the
/// Add methods. The ranges follow common fine-tuning practice (BERT paper appendix A.3; Hugging Face and Optuna examples)
/// widened a little, because pruning makes wide ranges cheap.
/// </summary>
public static class DefaultSearchSpaces
{
    /// <summary>
    /// BERT encoder fine-tuning: LearningRate log-uniform [1e-5, 2e-4], BatchSize {16, 32, 64},
    /// NumberOfEpochs integer [1, 4], WarmupRatio uniform [0, 0.2], WeightDecay log-uniform [1e-6, 0.1],
    /// MaxSequenceLength {128, 256, 512}. GradientAccumulationSteps stays as given (add
    /// <c>AddChoice("GradientAccumulationSteps", 1, 2, 4)</c> to sweep the effective batch beyond memory).
    /// </summary>
    public static SearchSpace Bert() => new SearchSpace()
        .AddLogUniform(nameof(TransformerTrainerOptions.LearningRate), 1e-5, 2e-4)
        .AddChoice(nameof(TransformerTrainerOptions.BatchSize), 16, 32, 64)
        .AddInteger(nameof(TransformerTrainerOptions.NumberOfEpochs), 1, 4)
        .AddUniform(nameof(TransformerTrainerOptions.WarmupRatio), 0, 0.2)
        .AddLogUniform(nameof(TransformerTrainerOptions.WeightDecay), 1e-6, 0.1)
        .AddChoice(nameof(TransformerTrainerOptions.MaxSequenceLength), 128, 256, 512);

    /// <summary>
    /// Prompted decoder (Qwen3) fine-tuning: LearningRate log-uniform [3e-6, 1e-4], BatchSize {4, 8, 12, 16},
    /// GradientAccumulationSteps {1, 2, 4, 8}, NumberOfEpochs integer [1, 2], WarmupRatio uniform [0, 0.1],
    /// WeightDecay log-uniform [1e-6, 0.1]; and, when given, the prompt and the classes' display names as choices.
    /// </summary>
    /// <param name="promptTemplates">Prompt variants for the <c>PromptTemplate</c> option (null = the trainer's default prompt); name them with <see cref="ChoiceOption"/>s.</param>
    /// <param name="labelDisplayNames">Display-name maps for the <c>LabelDisplayNames</c> option (null = the key values); name them with <see cref="ChoiceOption"/>s.</param>
    public static SearchSpace PromptedDecoder(IEnumerable<ChoiceOption>? promptTemplates = null, IEnumerable<ChoiceOption>? labelDisplayNames = null)
    {
        var space = new SearchSpace()
            .AddLogUniform(nameof(TransformerTrainerOptions.LearningRate), 3e-6, 1e-4)
            .AddChoice(nameof(TransformerTrainerOptions.BatchSize), 4, 8, 12, 16)
            .AddChoice(nameof(TransformerTrainerOptions.GradientAccumulationSteps), 1, 2, 4, 8)
            .AddInteger(nameof(TransformerTrainerOptions.NumberOfEpochs), 1, 2)
            .AddUniform(nameof(TransformerTrainerOptions.WarmupRatio), 0, 0.1)
            .AddLogUniform(nameof(TransformerTrainerOptions.WeightDecay), 1e-6, 0.1);
        if (promptTemplates is not null) space.Add(new ChoiceDimension("PromptTemplate", promptTemplates));
        if (labelDisplayNames is not null) space.Add(new ChoiceDimension("LabelDisplayNames", labelDisplayNames));
        return space;
    }

    /// <summary>
    /// The classic baseline (FeaturizeText + SdcaMaximumEntropy): L2Regularization log-uniform [1e-5, 0.1] and
    /// L1Regularization log-uniform [1e-7, 0.1] (fields of <c>SdcaMaximumEntropyMulticlassTrainer.Options</c>).
    /// </summary>
    public static SearchSpace SdcaTextBaseline() => new SearchSpace()
        .AddLogUniform("L2Regularization", 1e-5, 0.1)
        .AddLogUniform("L1Regularization", 1e-7, 0.1);
}
