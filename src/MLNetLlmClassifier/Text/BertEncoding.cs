namespace MLNetLlmClassifier.Text;

/// <summary>Which end of an over-long text is cut off.</summary>
public enum TruncationSide
{
    /// <summary>Keep the beginning of the text, drop tokens from its end (Hugging Face's default).</summary>
    Right,

    /// <summary>Keep the end of the text, drop tokens from its beginning.</summary>
    Left,
}

/// <summary>
/// One BERT model input: <c>[CLS] a [SEP]</c> or <c>[CLS] a [SEP] b [SEP]</c>, unpadded.
/// </summary>
public sealed class BertEncoding
{
    internal BertEncoding(int[] inputIds, int[] tokenTypeIds, bool truncated)
    {
        InputIds = inputIds;
        TokenTypeIds = tokenTypeIds;
        Truncated = truncated;
    }

    /// <summary>Token ids, special tokens included.</summary>
    public int[] InputIds { get; }

    /// <summary>Segment ids: 0 on <c>[CLS] a [SEP]</c>, 1 on <c>b [SEP]</c> (the second segment and its closing [SEP]).</summary>
    public int[] TokenTypeIds { get; }

    /// <summary>True when text tokens were dropped to fit the maximum length.</summary>
    public bool Truncated { get; }

    /// <summary>Number of tokens (= InputIds.Length).</summary>
    public int Length => InputIds.Length;
}
