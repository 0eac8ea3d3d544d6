namespace MLNetLlmClassifier.Cli.Scoring;

/// <summary>What the server and the load generator score with: a saved model (<see cref="ModelScorer"/>) or, in tests, a stand-in.</summary>
internal interface ITextScorer
{
    /// <summary>The class names, in the order of <see cref="ScoredText.Probabilities"/>.</summary>
    IReadOnlyList<string> ClassNames { get; }

    /// <summary>The model takes text pairs.</summary>
    bool TakesPairs { get; }

    /// <summary>Scores a batch of rows; one result per row, in order. Called from one thread at a time.</summary>
    IReadOnlyList<ScoredText> Score(IReadOnlyList<TextPair> rows);
}
