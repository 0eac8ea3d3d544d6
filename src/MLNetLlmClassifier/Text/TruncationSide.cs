namespace MLNetLlmClassifier.Text;

/// <summary>Which end of an over-long text is cut off.</summary>
public enum TruncationSide
{
    /// <summary>Keep the beginning of the text, drop tokens from its end (Hugging Face's default).</summary>
    Right,

    /// <summary>Keep the end of the text, drop tokens from its beginning.</summary>
    Left,
}
