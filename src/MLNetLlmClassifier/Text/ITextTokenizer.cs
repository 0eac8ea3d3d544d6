namespace MLNetLlmClassifier.Text;

/// <summary>
/// What every text tokenizer of this library offers, whatever the model family:
/// plain text to token ids, with no special tokens added around the text.
/// </summary>
public interface ITextTokenizer
{
    /// <summary>
    /// Token ids for <paramref name="text"/>, with nothing added around it (no [CLS]/[SEP], no BOS/EOS).
    /// Special-token strings written inside the text (e.g. <c>[SEP]</c>, <c>&lt;|im_start|&gt;</c>) are
    /// still matched as single tokens, as Hugging Face does.
    /// </summary>
    int[] EncodeWithoutSpecialTokens(string text);

    /// <summary>The model family: <c>"bert"</c> or <c>"qwen3"</c>.</summary>
    string Family { get; }

    /// <summary>Number of token ids (largest id + 1), added tokens included.</summary>
    int VocabSize { get; }
}
