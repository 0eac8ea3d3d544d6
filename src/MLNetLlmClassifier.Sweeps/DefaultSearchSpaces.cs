using MLNetLlmClassifier.Families;

namespace MLNetLlmClassifier.Sweeps;

/// <summary>
/// Default search spaces: each registered family declares its own (<see cref="ClassifierFamily.DefaultSearchSpace"/>), and
/// <see cref="For(ClassifierFamily)"/> turns it into a <see cref="SearchSpace"/>. Each call returns a new space: change it with
/// <see cref="SearchSpace.Set"/>, <see cref="SearchSpace.Remove"/> or the Add methods. The ranges follow common fine-tuning
/// practice (BERT paper appendix A.3; Hugging Face and Optuna examples) widened a little, because pruning makes wide ranges cheap.
/// </summary>
public static class DefaultSearchSpaces
{
    /// <summary>The default search space of a family, as the family declares it.</summary>
    public static SearchSpace For(ClassifierFamily family)
    {
        ArgumentNullException.ThrowIfNull(family);
        var space = new SearchSpace();
        foreach (var r in family.DefaultSearchSpace)
        {
            switch (r.Kind)
            {
                case SweepRangeKind.Uniform: space.AddUniform(r.Option, r.Min, r.Max); break;
                case SweepRangeKind.LogUniform: space.AddLogUniform(r.Option, r.Min, r.Max); break;
                case SweepRangeKind.Integer: space.AddInteger(r.Option, (int)r.Min, (int)r.Max); break;
                case SweepRangeKind.Choice: space.Add(new ChoiceDimension(r.Option, (r.Choices ?? []).Select(v => new ChoiceOption(ChoiceOption.LabelOf(v), v)))); break;
                default: throw new ArgumentException($"The {family.Name} family declares '{r.Option}' with an unknown range kind {r.Kind}.");
            }
        }
        return space;
    }

    /// <summary>The default search space of the family called <paramref name="familyName"/> (a name or alias).</summary>
    public static SearchSpace For(string familyName) => For(ClassifierFamilies.Get(familyName));

    /// <summary>BERT encoder fine-tuning: the "bert" family's space (<see cref="Bert.BertFamily.DefaultSearchSpace"/>).</summary>
    public static SearchSpace Bert() => For(MLNetLlmClassifier.Bert.BertFamily.Instance);

    /// <summary>
    /// Prompted decoder (Qwen3) fine-tuning: the "qwen3-prompted" family's space (<see cref="Qwen3.PromptedDecoderFamily.DefaultSearchSpace"/>)
    /// and, when given, the prompt and the classes' display names as choices.
    /// </summary>
    /// <param name="promptTemplates">Prompt variants for the <c>PromptTemplate</c> option (null = the trainer's default prompt); name them with <see cref="ChoiceOption"/>s.</param>
    /// <param name="labelDisplayNames">Display-name maps for the <c>LabelDisplayNames</c> option (null = the key values); name them with <see cref="ChoiceOption"/>s.</param>
    public static SearchSpace PromptedDecoder(IEnumerable<ChoiceOption>? promptTemplates = null, IEnumerable<ChoiceOption>? labelDisplayNames = null)
    {
        var space = For(MLNetLlmClassifier.Qwen3.PromptedDecoderFamily.Instance);
        if (promptTemplates is not null) space.Add(new ChoiceDimension("PromptTemplate", promptTemplates));
        if (labelDisplayNames is not null) space.Add(new ChoiceDimension("LabelDisplayNames", labelDisplayNames));
        return space;
    }

    /// <summary>The classic baseline (FeaturizeText + SdcaMaximumEntropy): the "sdca" family's space (<see cref="Sdca.SdcaTextBaselineFamily.DefaultSearchSpace"/>).</summary>
    public static SearchSpace SdcaTextBaseline() => For(MLNetLlmClassifier.Sdca.SdcaTextBaselineFamily.Instance);
}
