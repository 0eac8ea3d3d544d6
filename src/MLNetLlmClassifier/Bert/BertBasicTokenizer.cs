using System.Globalization;
using System.Text;
using MLNetLlmClassifier.Text;

namespace MLNetLlmClassifier.Bert;

/// <summary>
/// The "basic" (pre-WordPiece) step of Hugging Face's Python <c>BertTokenizer</c>
/// (transformers <c>BasicTokenizer.tokenize</c>), rune for rune:
/// clean the text, put spaces around CJK ideographs, NFC, split on whitespace,
/// lowercase and/or strip accents per word, then split every punctuation character off.
/// </summary>
/// <remarks>
/// Microsoft.ML.Tokenizers' own BertNormalizer/pre-tokenizer differ from Hugging Face in ways that change ids,
/// so this step is done here and only the WordPiece lookup is left to the library:
/// it deletes tab/newline/CR instead of treating them as spaces (they are Unicode "Control"),
/// its <c>\w+|\p{P}</c> split drops ASCII symbols such as <c>$ + &lt; = &gt; ^ ` | ~</c> (HF splits them off as punctuation)
/// and every other non-word symbol (HF keeps € © emoji inside words), it keeps format characters (HF deletes
/// category C*), and it recomposes (NFC) after stripping accents (HF leaves the NFD form, e.g. Hangul jamo).
/// </remarks>
internal sealed class BertBasicTokenizer
{
    private readonly bool _lowerCase;
    private readonly bool _stripAccents;
    private readonly bool _tokenizeChineseChars;
    private readonly bool _splitOnPunctuation;

    /// <param name="lowerCase">HF <c>do_lower_case</c>.</param>
    /// <param name="stripAccents">HF <c>strip_accents</c>; null means "same as lowerCase" (HF's default).</param>
    /// <param name="tokenizeChineseChars">HF <c>tokenize_chinese_chars</c> (default true).</param>
    /// <param name="splitOnPunctuation">HF <c>do_split_on_punc</c> (default true).</param>
    public BertBasicTokenizer(bool lowerCase, bool? stripAccents, bool tokenizeChineseChars, bool splitOnPunctuation)
    {
        _lowerCase = lowerCase;
        // HF: lowercasing strips accents unless strip_accents is explicitly false; without lowercasing only if explicitly true.
        _stripAccents = stripAccents ?? lowerCase;
        _tokenizeChineseChars = tokenizeChineseChars;
        _splitOnPunctuation = splitOnPunctuation;
    }

    /// <summary>Splits <paramref name="text"/> into the words that WordPiece then cuts into pieces.</summary>
    public void Tokenize(string text, List<string> words)
    {
        string cleaned = CleanAndSpaceCjk(text);
        // transformers >= 4.3x: NFC before the whitespace split, so that composed/decomposed spellings agree.
        string nfc = UnicodeNormalization.Nfc(cleaned);
        int i = 0;
        while (i < nfc.Length)
        {
            while (i < nfc.Length && char.IsWhiteSpace(nfc[i])) i++;
            int start = i;
            while (i < nfc.Length && !char.IsWhiteSpace(nfc[i])) i++;
            if (i > start) AddWord(nfc.Substring(start, i - start), words);
        }
    }

    private void AddWord(string word, List<string> words)
    {
        if (_lowerCase) word = LowerCase(word);
        if (_stripAccents) word = StripAccents(word);
        if (!_splitOnPunctuation)
        {
            if (word.Length > 0) words.Add(word);
            return;
        }
        // Every punctuation rune becomes a word of its own; the runs between them stay whole.
        int start = 0;
        for (int i = 0; i < word.Length;)
        {
            Rune.DecodeFromUtf16(word.AsSpan(i), out Rune r, out int n);
            if (IsPunctuation(r))
            {
                if (i > start) words.Add(word.Substring(start, i - start));
                words.Add(word.Substring(i, n));
                start = i + n;
            }
            i += n;
        }
        if (start < word.Length) words.Add(word.Substring(start));
    }

    /// <summary>HF <c>_clean_text</c> + <c>_tokenize_chinese_chars</c>.</summary>
    private string CleanAndSpaceCjk(string text)
    {
        var sb = new StringBuilder(text.Length + 8);
        for (int i = 0; i < text.Length;)
        {
            var status = Rune.DecodeFromUtf16(text.AsSpan(i), out Rune r, out int n);
            // A lone surrogate is category Cs in Python: a control character, deleted.
            if (status != System.Buffers.OperationStatus.Done) { i += n; continue; }
            i += n;
            int cp = r.Value;
            if (cp == 0 || cp == 0xFFFD || IsControl(r)) continue;
            if (IsWhitespace(r)) { sb.Append(' '); continue; }
            if (_tokenizeChineseChars && IsCjkIdeograph(cp)) { sb.Append(' ').Append(r.ToString()).Append(' '); continue; }
            sb.Append(r.ToString());
        }
        return sb.ToString();
    }

    /// <summary>
    /// Python <c>str.lower()</c>: culture-free simple lowercase per rune, plus Python's two special cases:
    /// U+0130 (I with dot above) becomes "i" + U+0307, and a capital sigma that ends a word becomes final sigma ς.
    /// </summary>
    private static string LowerCase(string word)
    {
        var runes = new List<Rune>(word.Length);
        foreach (Rune r in word.EnumerateRunes()) runes.Add(r);
        var sb = new StringBuilder(word.Length);
        for (int i = 0; i < runes.Count; i++)
        {
            Rune r = runes[i];
            if (r.Value == 0x130) sb.Append("i\u0307");
            else if (r.Value == 0x3A3) sb.Append(IsFinalSigma(runes, i) ? 'ς' : 'σ');
            else sb.Append(Rune.ToLowerInvariant(r).ToString());
        }
        return sb.ToString();
    }

    /// <summary>Unicode Final_Sigma: a cased letter before (skipping case-ignorables) and none after.</summary>
    private static bool IsFinalSigma(List<Rune> runes, int at)
    {
        int j = at - 1;
        while (j >= 0 && IsCaseIgnorable(runes[j])) j--;
        if (j < 0 || !IsCased(runes[j])) return false;
        j = at + 1;
        while (j < runes.Count && IsCaseIgnorable(runes[j])) j++;
        return j == runes.Count || !IsCased(runes[j]);
    }

    private static bool IsCased(Rune r) =>
        Rune.GetUnicodeCategory(r) is UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter;

    private static bool IsCaseIgnorable(Rune r) =>
        r.Value is '\'' or '.' or ':' or '^' or '`' or 0xB7 or 0x2018 or 0x2019 or 0x2024 or 0x2027
        || Rune.GetUnicodeCategory(r) is UnicodeCategory.NonSpacingMark or UnicodeCategory.EnclosingMark
            or UnicodeCategory.Format or UnicodeCategory.ModifierLetter or UnicodeCategory.ModifierSymbol;

    /// <summary>HF <c>_run_strip_accents</c>: NFD, then drop nonspacing marks (Mn only; no recomposition).</summary>
    private static string StripAccents(string word)
    {
        string nfd = UnicodeNormalization.Nfd(word);
        var sb = new StringBuilder(nfd.Length);
        foreach (Rune r in nfd.EnumerateRunes())
            if (Rune.GetUnicodeCategory(r) != UnicodeCategory.NonSpacingMark) sb.Append(r.ToString());
        return sb.ToString();
    }

    /// <summary>HF <c>_is_whitespace</c>: space, tab, newline, CR and category Zs.</summary>
    private static bool IsWhitespace(Rune r) =>
        r.Value is ' ' or '\t' or '\n' or '\r' || Rune.GetUnicodeCategory(r) == UnicodeCategory.SpaceSeparator;

    /// <summary>HF <c>_is_control</c>: any category C* (Cc, Cf, Cs, Co, Cn) except tab, newline, CR.</summary>
    private static bool IsControl(Rune r)
    {
        if (r.Value is '\t' or '\n' or '\r') return false;
        return Rune.GetUnicodeCategory(r) is UnicodeCategory.Control or UnicodeCategory.Format
            or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned;
    }

    /// <summary>
    /// HF <c>_is_punctuation</c>: every non-alphanumeric ASCII character (so also <c>$ + &lt; = &gt; ^ ` | ~</c>,
    /// which Unicode calls symbols) plus any category P*.
    /// </summary>
    private static bool IsPunctuation(Rune r)
    {
        int cp = r.Value;
        if (cp is >= 33 and <= 47 or >= 58 and <= 64 or >= 91 and <= 96 or >= 123 and <= 126) return true;
        return Rune.GetUnicodeCategory(r) is UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation
            or UnicodeCategory.OpenPunctuation or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation
            or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation;
    }

    /// <summary>HF <c>_is_chinese_char</c>: the CJK Unified Ideographs blocks (not Hangul, Hiragana or Katakana).</summary>
    private static bool IsCjkIdeograph(int cp) =>
        cp is >= 0x4E00 and <= 0x9FFF
            or >= 0x3400 and <= 0x4DBF
            or >= 0x20000 and <= 0x2A6DF
            or >= 0x2A700 and <= 0x2B73F
            or >= 0x2B740 and <= 0x2B81F
            or >= 0x2B820 and <= 0x2CEAF
            or >= 0xF900 and <= 0xFAFF
            or >= 0x2F800 and <= 0x2FA1F;
}
