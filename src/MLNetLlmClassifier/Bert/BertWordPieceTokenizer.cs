using System.Text;
using System.Text.Json;
using Microsoft.ML.Tokenizers;
using MLNetLlmClassifier.Text;

namespace MLNetLlmClassifier.Bert;

/// <summary>
/// The BERT WordPiece tokenizer of a Hugging Face tokenizer folder, giving the same ids as
/// Hugging Face's Python <c>BertTokenizer</c> (transformers 4.5x). <c>BertTokenizerFast</c> (Rust) gives the same ids
/// except on text that is not in NFC form (it skips the NFC step), e.g. decomposed accents with a cased vocabulary.
/// </summary>
/// <remarks>
/// Pipeline, as in Hugging Face: special-token strings written in the text (<c>[CLS]</c>, <c>[SEP]</c>, <c>[MASK]</c>, ... and the
/// folder's added tokens; case-sensitive) are cut out first and map to their ids; the rest goes through the basic tokenizer
/// (clean control characters, spaces around CJK ideographs, NFC, whitespace split, lowercase + strip accents when
/// <c>do_lower_case</c>, split off punctuation), then greedy longest-match-first WordPiece with <c>##</c> continuation pieces
/// (Microsoft.ML.Tokenizers' <see cref="WordPieceTokenizer"/>); a word that cannot be cut into vocabulary pieces, or is
/// longer than 100 characters, becomes <c>[UNK]</c> as a whole.
/// Thread-safe for encoding.
/// </remarks>
public sealed class BertWordPieceTokenizer : ITextTokenizer
{
    private readonly WordPieceTokenizer _wordPiece;
    private readonly BertBasicTokenizer _basic;
    private readonly Dictionary<string, int> _vocab;
    private readonly string[] _specialTokensLongestFirst;
    private readonly Dictionary<string, int> _specialTokens;

    private BertWordPieceTokenizer(
        WordPieceTokenizer wordPiece, BertBasicTokenizer basic, Dictionary<string, int> vocab,
        Dictionary<string, int> specialTokens, int vocabSize, bool doLowerCase,
        int clsId, int sepId, int padId, int unkId, int? maskId)
    {
        _wordPiece = wordPiece;
        _basic = basic;
        _vocab = vocab;
        _specialTokens = specialTokens;
        _specialTokensLongestFirst = specialTokens.Keys.OrderByDescending(k => k.Length).ThenBy(k => k, StringComparer.Ordinal).ToArray();
        VocabSize = vocabSize;
        DoLowerCase = doLowerCase;
        ClsId = clsId;
        SepId = sepId;
        PadId = padId;
        UnkId = unkId;
        MaskId = maskId;
    }

    /// <inheritdoc/>
    public string Family => "bert";

    /// <summary>Number of token ids (largest id + 1), added tokens included.</summary>
    public int VocabSize { get; }

    /// <summary>Whether text is lowercased (and, unless strip_accents is false, accent-stripped) before WordPiece.</summary>
    public bool DoLowerCase { get; }

    /// <summary>Id of <c>[CLS]</c> (101 in bert-base-uncased).</summary>
    public int ClsId { get; }

    /// <summary>Id of <c>[SEP]</c> (102 in bert-base-uncased).</summary>
    public int SepId { get; }

    /// <summary>Id of <c>[PAD]</c> (0 in bert-base-uncased).</summary>
    public int PadId { get; }

    /// <summary>Id of <c>[UNK]</c> (100 in bert-base-uncased).</summary>
    public int UnkId { get; }

    /// <summary>Id of <c>[MASK]</c>, or null when the vocabulary has none.</summary>
    public int? MaskId { get; }

    /// <summary>
    /// Opens a Hugging Face BERT tokenizer folder:
    /// <list type="bullet">
    /// <item><c>vocab.txt</c> (one token per line, line number = id) plus optional <c>tokenizer_config.json</c>, whose
    /// <c>do_lower_case</c> (default true, as in HF's BertTokenizer; bert-base-cased sets false), <c>strip_accents</c>
    /// (default: same as do_lower_case), <c>tokenize_chinese_chars</c> (default true), <c>do_split_on_punc</c> (default true),
    /// special-token names (<c>unk_token</c>, <c>cls_token</c>, ...) and <c>added_tokens_decoder</c> are honoured; or</item>
    /// <item>only <c>tokenizer.json</c> with a WordPiece model: vocabulary from <c>model.vocab</c>, casing and accents
    /// from its <c>BertNormalizer</c>.</item>
    /// </list>
    /// vocab.txt wins when both are present.
    /// </summary>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">Neither vocab.txt nor tokenizer.json is there.</exception>
    /// <exception cref="InvalidDataException">A file is malformed, not WordPiece, or lacks a required special token.</exception>
    public static BertWordPieceTokenizer FromFolder(string folder)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        try
        {
            return ReadFolder(folder);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or OverflowException or KeyNotFoundException or ArgumentException)
        {
            // A field of the wrong JSON type (JsonElement throws InvalidOperationException) or a value out of range: name the folder.
            throw new InvalidDataException($"BERT tokenizer '{folder}': {IO.UntrustedText.OneLine(e.Message)}", e);
        }
    }

    private static BertWordPieceTokenizer ReadFolder(string folder)
    {
        if (!Directory.Exists(folder))
            throw new DirectoryNotFoundException($"BERT tokenizer folder '{folder}' does not exist.");

        string vocabPath = Path.Combine(folder, HfTokenizerFiles.VocabTxt);
        string jsonPath = Path.Combine(folder, HfTokenizerFiles.TokenizerJson);
        using JsonDocument? config = HfTokenizerFiles.TryReadJson(Path.Combine(folder, HfTokenizerFiles.TokenizerConfigJson));
        using JsonDocument? specialMap = HfTokenizerFiles.TryReadJson(Path.Combine(folder, "special_tokens_map.json"));
        JsonElement? cfg = config?.RootElement;

        if (File.Exists(vocabPath))
        {
            string?[] lines = HfTokenizerFiles.Load(vocabPath, () => ReadVocabTxt(vocabPath));
            bool lower = HfTokenizerFiles.Bool(cfg, "do_lower_case") ?? true;
            var basic = new BertBasicTokenizer(
                lower,
                HfTokenizerFiles.Bool(cfg, "strip_accents"),
                HfTokenizerFiles.Bool(cfg, "tokenize_chinese_chars") ?? true,
                HfTokenizerFiles.Bool(cfg, "do_split_on_punc") ?? true);
            var added = HfTokenizerFiles.AddedTokens(null, cfg, folder);
            return Create(folder, vocabPath, lines, basic, lower, cfg, specialMap?.RootElement, added,
                unkToken: null, continuingSubwordPrefix: "##", maxInputCharsPerWord: 100);
        }

        if (File.Exists(jsonPath))
        {
            using JsonDocument json = HfTokenizerFiles.TryReadJson(jsonPath)!;
            var (model, type) = HfTokenizerFiles.Model(json.RootElement, jsonPath);
            if (type != "WordPiece")
                throw new InvalidDataException(
                    $"'{jsonPath}' holds a {type ?? "untyped"} model, not a BERT WordPiece one (and '{folder}' has no vocab.txt).");
            string?[] lines = VocabLinesFromJson(model, jsonPath);
            JsonElement? normalizer = FindBertNormalizer(json.RootElement);
            // tokenizers' BertNormalizer: "lowercase" (default true), "strip_accents" (null = follow lowercase),
            // "handle_chinese_chars" (default true). Without one, fall back on tokenizer_config.json, then HF defaults.
            bool lower = HfTokenizerFiles.Bool(normalizer, "lowercase") ?? HfTokenizerFiles.Bool(cfg, "do_lower_case") ?? true;
            var basic = new BertBasicTokenizer(
                lower,
                normalizer is null ? HfTokenizerFiles.Bool(cfg, "strip_accents") : HfTokenizerFiles.Bool(normalizer, "strip_accents"),
                HfTokenizerFiles.Bool(normalizer, "handle_chinese_chars") ?? HfTokenizerFiles.Bool(cfg, "tokenize_chinese_chars") ?? true,
                HfTokenizerFiles.Bool(cfg, "do_split_on_punc") ?? true);
            var added = HfTokenizerFiles.AddedTokens(json.RootElement, cfg, folder);
            string? unk = model.TryGetProperty("unk_token", out var u) && u.ValueKind == JsonValueKind.String ? u.GetString() : null;
            string prefix = model.TryGetProperty("continuing_subword_prefix", out var p) && p.ValueKind == JsonValueKind.String ? p.GetString()! : "##";
            int maxChars = model.TryGetProperty("max_input_chars_per_word", out var m) && m.TryGetInt32(out int mc) ? mc : 100;
            return Create(folder, jsonPath, lines, basic, lower, cfg, specialMap?.RootElement, added, unk, prefix, maxChars);
        }

        throw new FileNotFoundException(
            $"No BERT tokenizer in '{folder}': looked for vocab.txt (with optional tokenizer_config.json) or a tokenizer.json with a WordPiece model.");
    }

    private static BertWordPieceTokenizer Create(
        string folder, string vocabSource, string?[] lines, BertBasicTokenizer basic, bool lower,
        JsonElement? config, JsonElement? specialMap, Dictionary<string, int> added,
        string? unkToken, string continuingSubwordPrefix, int maxInputCharsPerWord)
    {
        var vocab = new Dictionary<string, int>(lines.Length, StringComparer.Ordinal);
        for (int id = 0; id < lines.Length; id++)
            if (lines[id] is { Length: > 0 } token) vocab[token] = id;
        if (vocab.Count == 0)
            throw new InvalidDataException($"'{vocabSource}' has an empty vocabulary.");

        string Name(string key, string fallback) =>
            HfTokenizerFiles.TokenString(config, key) ?? HfTokenizerFiles.TokenString(specialMap, key) ?? fallback;
        int Required(string key, string token) => vocab.TryGetValue(token, out int id) ? id
            : throw new InvalidDataException($"BERT tokenizer '{folder}': {key} '{token}' is not in the vocabulary '{vocabSource}'.");

        string unk = unkToken ?? Name("unk_token", "[UNK]");
        string cls = Name("cls_token", "[CLS]"), sep = Name("sep_token", "[SEP]"), pad = Name("pad_token", "[PAD]"), mask = Name("mask_token", "[MASK]");
        int unkId = Required("unk_token", unk), clsId = Required("cls_token", cls), sepId = Required("sep_token", sep), padId = Required("pad_token", pad);
        int? maskId = vocab.TryGetValue(mask, out int mId) ? mId : null;

        // Strings matched as whole tokens inside the text: the named special tokens plus the added tokens.
        var special = new Dictionary<string, int>(StringComparer.Ordinal) { [unk] = unkId, [cls] = clsId, [sep] = sepId, [pad] = padId };
        if (maskId is int mi) special[mask] = mi;
        foreach (var (content, id) in added) special[content] = id;

        // Microsoft.ML.Tokenizers reads the vocabulary in vocab.txt form (line number = id, empty line = unused id).
        var text = new StringBuilder(lines.Length * 8);
        foreach (string? line in lines) text.Append(line).Append('\n');
        WordPieceTokenizer wordPiece = HfTokenizerFiles.Load(vocabSource, () =>
        {
            using var stream = new MemoryStream(Encoding.UTF8.GetBytes(text.ToString()));
            return WordPieceTokenizer.Create(stream, new WordPieceOptions
            {
                UnknownToken = unk,
                ContinuingSubwordPrefix = continuingSubwordPrefix,
                MaxInputCharsPerWord = maxInputCharsPerWord,
            });
        });

        int vocabSize = Math.Max(lines.Length, added.Count == 0 ? 0 : added.Values.Max() + 1);
        return new BertWordPieceTokenizer(wordPiece, basic, vocab, special, vocabSize, lower, clsId, sepId, padId, unkId, maskId);
    }

    /// <summary>vocab.txt lines by id. A token listed twice keeps its last id (HF's load_vocab); the earlier id is left unused.</summary>
    private static string?[] ReadVocabTxt(string path)
    {
        var lines = new List<string?>(32_000);
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (string line in File.ReadLines(path, Encoding.UTF8))
        {
            if (line.Length > 0)
            {
                if (seen.TryGetValue(line, out int earlier)) lines[earlier] = null;
                seen[line] = lines.Count;
            }
            lines.Add(line);
        }
        return lines.ToArray();
    }

    /// <summary>The first id a vocabulary of <paramref name="entries"/> tokens may not use (it leaves most ids unused).</summary>
    internal static int MaxSparseId(int entries) => (2 * entries) + 1024;

    private static string?[] VocabLinesFromJson(JsonElement model, string path)
    {
        if (!model.TryGetProperty("vocab", out var v) || v.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException($"'{path}': the WordPiece model has no \"vocab\" object.");
        var byId = new Dictionary<int, string>();
        int max = -1;
        foreach (var p in v.EnumerateObject())
        {
            if (!p.Value.TryGetInt32(out int id) || id < 0)
                throw new InvalidDataException($"'{path}': vocab entry '{p.Name}' has no non-negative integer id.");
            if (p.Name.Contains('\n') || p.Name.Contains('\r'))
                throw new InvalidDataException($"'{path}': vocab entry with id {id} contains a line break.");
            if (!byId.TryAdd(id, p.Name))
                throw new InvalidDataException($"'{path}': id {id} is given to both '{byId[id]}' and '{p.Name}'.");
            max = Math.Max(max, id);
        }
        // Ids are line numbers of vocab.txt form: a sparse id would make an array (and an embedding) of that size. Real vocabularies
        // are dense (0..n-1); a few unused ids are tolerated.
        if (max >= MaxSparseId(byId.Count))
            throw new InvalidDataException($"'{path}': vocab entry '{IO.UntrustedText.OneLine(byId[max], 40)}' has id {max}, but the vocabulary has only {byId.Count} entries: ids must run from 0 with few gaps.");
        var lines = new string?[max + 1];
        foreach (var (id, token) in byId) lines[id] = token;
        return lines;
    }

    /// <summary>The BertNormalizer of tokenizer.json, at top level or inside a Sequence; null when there is none.</summary>
    private static JsonElement? FindBertNormalizer(JsonElement root)
    {
        if (!root.TryGetProperty("normalizer", out var n) || n.ValueKind != JsonValueKind.Object) return null;
        if (n.TryGetProperty("type", out var t) && t.GetString() == "BertNormalizer") return n;
        if (n.TryGetProperty("normalizers", out var list) && list.ValueKind == JsonValueKind.Array)
            foreach (var item in list.EnumerateArray())
                if (item.TryGetProperty("type", out var it) && it.GetString() == "BertNormalizer") return item;
        return null;
    }

    /// <summary>Id of a vocabulary token (e.g. <c>"##able"</c>), or null when it is not in the vocabulary.</summary>
    public int? TryTokenToId(string token) =>
        _vocab.TryGetValue(token, out int id) || _specialTokens.TryGetValue(token, out id) ? id : null;

    /// <inheritdoc/>
    public int[] EncodeWithoutSpecialTokens(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>(text.Length / 3 + 4);
        AppendIds(text, ids);
        return ids.ToArray();
    }

    /// <summary>
    /// Model input for one text or a text pair: <c>[CLS] text [SEP]</c>, or <c>[CLS] text [SEP] pair [SEP]</c> with
    /// token_type_ids 1 on <c>pair [SEP]</c>. A null or empty <paramref name="text"/> gives just the special tokens
    /// (<c>[CLS] [SEP]</c>); a null <paramref name="pair"/> means a single text, an empty one an empty second segment.
    /// </summary>
    /// <param name="text">First segment.</param>
    /// <param name="pair">Optional second segment.</param>
    /// <param name="maxLength">Maximum total length, special tokens included (at least 2, or 3 with a pair).</param>
    /// <param name="side">
    /// Which end to cut: <see cref="TruncationSide.Right"/> keeps the beginning, <see cref="TruncationSide.Left"/> the end.
    /// Pairs are cut "longest first" like Hugging Face's Rust tokenizers (BertTokenizerFast, what AutoTokenizer gives):
    /// the longer segment loses tokens until both fit or are equally long, then both shrink to half of the budget each,
    /// the odd token going to the originally longer segment (to the second one on a tie). The Python BertTokenizer gives
    /// that odd token to the first segment whenever the first is not longer; otherwise the two agree.
    /// </param>
    public BertEncoding Encode(string? text, string? pair, int maxLength, TruncationSide side = TruncationSide.Right)
    {
        int specials = pair is null ? 2 : 3;
        if (maxLength < specials)
            throw new ArgumentOutOfRangeException(nameof(maxLength), maxLength,
                $"maxLength must be at least {specials} to hold {(pair is null ? "[CLS] and [SEP]" : "[CLS] and two [SEP]")}.");
        int budget = maxLength - specials;

        var a = new List<int>();
        if (!string.IsNullOrEmpty(text)) AppendIds(text, a);
        List<int>? b = null;
        if (pair is not null)
        {
            b = new List<int>();
            AppendIds(pair, b);
        }

        int keepA = a.Count, keepB = b?.Count ?? 0;
        if (keepA + keepB > budget)
        {
            if (b is null) keepA = budget;
            else (keepA, keepB) = LongestFirst(a.Count, b.Count, budget);
        }
        bool truncated = keepA < a.Count || keepB < (b?.Count ?? 0);

        int length = specials + keepA + keepB;
        var ids = new int[length];
        var types = new int[length];
        int k = 0;
        ids[k++] = ClsId;
        k = CopyKept(a, keepA, side, ids, k);
        ids[k++] = SepId;
        if (b is not null)
        {
            int secondStart = k;
            k = CopyKept(b, keepB, side, ids, k);
            ids[k++] = SepId;
            Array.Fill(types, 1, secondStart, k - secondStart);
        }
        return new BertEncoding(ids, types, truncated);
    }

    /// <summary><see cref="Encode"/> for many rows (pairs: null, or one entry per text).</summary>
    public BertEncoding[] EncodeBatch(IReadOnlyList<string?> texts, IReadOnlyList<string?>? pairs, int maxLength, TruncationSide side = TruncationSide.Right)
    {
        ArgumentNullException.ThrowIfNull(texts);
        if (pairs is not null && pairs.Count != texts.Count)
            throw new ArgumentException($"pairs has {pairs.Count} entries but texts has {texts.Count}.", nameof(pairs));
        var result = new BertEncoding[texts.Count];
        for (int i = 0; i < result.Length; i++) result[i] = Encode(texts[i], pairs?[i], maxLength, side);
        return result;
    }

    /// <summary>
    /// Lengths kept for a pair under "longest_first" (tokenizers' TruncationStrategy::LongestFirst):
    /// the shorter keeps everything if the longer can take the rest of the budget, otherwise each gets half,
    /// the odd token going to the longer one (the second one on a tie).
    /// </summary>
    internal static (int KeepA, int KeepB) LongestFirst(int lengthA, int lengthB, int budget)
    {
        bool swap = lengthA > lengthB;
        int n1 = swap ? lengthB : lengthA; // the shorter
        int n2 = n1 > budget ? n1 : Math.Max(n1, budget - n1);
        if (n1 + n2 > budget)
        {
            n1 = budget / 2;
            n2 = n1 + budget % 2;
        }
        return swap ? (Math.Min(n2, lengthA), Math.Min(n1, lengthB)) : (Math.Min(n1, lengthA), Math.Min(n2, lengthB));
    }

    private static int CopyKept(List<int> source, int keep, TruncationSide side, int[] destination, int at)
    {
        int from = side == TruncationSide.Left ? source.Count - keep : 0;
        source.CopyTo(from, destination, at, keep);
        return at + keep;
    }

    /// <summary>Special tokens cut out of the raw text first, then basic tokenization and WordPiece on the rest.</summary>
    private void AppendIds(string text, List<int> ids)
    {
        var words = new List<string>();
        int start = 0;
        while (start < text.Length)
        {
            var (at, token) = NextSpecialToken(text, start);
            int end = at < 0 ? text.Length : at;
            if (end > start)
            {
                words.Clear();
                _basic.Tokenize(text.Substring(start, end - start), words);
                foreach (string word in words)
                    ids.AddRange(_wordPiece.EncodeToIds(word, considerPreTokenization: false, considerNormalization: false));
            }
            if (at < 0) break;
            ids.Add(_specialTokens[token!]);
            start = at + token!.Length;
        }
    }

    /// <summary>Earliest special-token occurrence at or after <paramref name="from"/> (longest on a tie), or -1.</summary>
    private (int At, string? Token) NextSpecialToken(string text, int from)
    {
        int best = -1;
        string? bestToken = null;
        foreach (string token in _specialTokensLongestFirst)
        {
            int at = text.IndexOf(token, from, StringComparison.Ordinal);
            if (at >= 0 && (best < 0 || at < best)) { best = at; bestToken = token; }
        }
        return (best, bestToken);
    }
}
