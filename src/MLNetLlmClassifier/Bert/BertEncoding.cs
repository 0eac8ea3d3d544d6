namespace MLNetLlmClassifier.Bert;

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
