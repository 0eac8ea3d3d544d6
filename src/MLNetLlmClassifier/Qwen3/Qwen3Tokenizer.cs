using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;
using MLNetLlmClassifier.Text;

namespace MLNetLlmClassifier.Qwen3;

/// <summary>
/// The Qwen3 (Qwen2-style byte-level BPE) tokenizer of a Hugging Face tokenizer.json, on Microsoft.ML.Tokenizers'
/// <see cref="BpeTokenizer"/>; gives the same ids as Hugging Face's tokenizers.
/// </summary>
/// <remarks>
/// Pipeline, as declared in tokenizer.json: NFC normalisation; added tokens (<c>&lt;|im_start|&gt;</c>, <c>&lt;think&gt;</c>, ...)
/// found anywhere in the text become single tokens; the rest is split by the pre-tokenizer's regex
/// ("Isolated" matches), each piece turned into UTF-8 bytes shown as printable characters (GPT-2 byte-to-unicode),
/// then merged by BPE rank. No BOS/EOS is added (Qwen3 has no BOS; add_bos_token is false).
/// Known limit: .NET regexes see a character outside the BMP (e.g. 𝐀, CJK extension B) as two surrogates rather than a
/// letter, so such letters glued to ordinary letters are pre-tokenized differently from Hugging Face (Rust regex).
/// Thread-safe for encoding and decoding.
/// </remarks>
public sealed class Qwen3Tokenizer : ITextTokenizer
{
    private readonly BpeTokenizer _bpe;
    private readonly Dictionary<string, int> _vocab;
    private readonly Dictionary<string, int> _addedTokens;

    private Qwen3Tokenizer(BpeTokenizer bpe, Dictionary<string, int> vocab, Dictionary<string, int> addedTokens,
                           int vocabSize, int padTokenId, int eosTokenId)
    {
        _bpe = bpe;
        _vocab = vocab;
        _addedTokens = addedTokens;
        VocabSize = vocabSize;
        PadTokenId = padTokenId;
        EosTokenId = eosTokenId;
    }

    /// <inheritdoc/>
    public string Family => "qwen3";

    /// <summary>Number of token ids, added tokens included (151,669 for Qwen3; the model's embedding is padded to 151,936).</summary>
    public int VocabSize { get; }

    /// <summary>Padding id: tokenizer_config.json <c>pad_token</c> (Qwen3: <c>&lt;|endoftext|&gt;</c> = 151643).</summary>
    public int PadTokenId { get; }

    /// <summary>End-of-turn id: tokenizer_config.json <c>eos_token</c> (Qwen3: <c>&lt;|im_end|&gt;</c> = 151645).</summary>
    public int EosTokenId { get; }

    /// <summary>The added tokens (content → id), e.g. <c>&lt;|im_start|&gt;</c> → 151644.</summary>
    public IReadOnlyDictionary<string, int> AddedTokens => _addedTokens.AsReadOnly();

    /// <summary>
    /// Loads <c>tokenizer.json</c> (a BPE model with byte-level pre-tokenizer and decoder) and, if present,
    /// <c>tokenizer_config.json</c> (for pad_token/eos_token; without it <c>&lt;|endoftext|&gt;</c> and <c>&lt;|im_end|&gt;</c>
    /// are used when they are added tokens). Nothing is cached on disk.
    /// </summary>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">tokenizer.json is missing.</exception>
    /// <exception cref="InvalidDataException">tokenizer.json is malformed or declares steps this class does not implement.</exception>
    public static Qwen3Tokenizer FromFolder(string folder)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        if (!Directory.Exists(folder))
            throw new DirectoryNotFoundException($"Qwen3 tokenizer folder '{folder}' does not exist.");
        string path = Path.Combine(folder, HfTokenizerFiles.TokenizerJson);
        if (!File.Exists(path))
            throw new FileNotFoundException($"No Qwen3 tokenizer in '{folder}': tokenizer.json is missing.", path);

        // A field of the wrong JSON type (JsonElement throws InvalidOperationException) or a value the BPE model refuses
        // becomes one InvalidDataException naming the file.
        return HfTokenizerFiles.Load(path, () => Read(folder, path));
    }

    private static Qwen3Tokenizer Read(string folder, string path)
    {
        using JsonDocument json = HfTokenizerFiles.TryReadJson(path)!;
        using JsonDocument? config = HfTokenizerFiles.TryReadJson(Path.Combine(folder, HfTokenizerFiles.TokenizerConfigJson));
        JsonElement root = json.RootElement;

        var (model, type) = HfTokenizerFiles.Model(root, path);
        if (type != "BPE")
            throw new InvalidDataException($"'{path}' holds a {type ?? "untyped"} model, not a byte-level BPE one.");
        CheckBpeOptions(model, path);
        Regex split = PreTokenizerRegex(root, path);
        Normalizer? normalizer = ReadNormalizer(root, path);

        Dictionary<string, int> vocab = ReadVocab(model, path);
        List<string> merges = ReadMerges(model, path);
        Dictionary<string, int> added = HfTokenizerFiles.AddedTokens(root, config?.RootElement, folder);

        BpeTokenizer bpe = HfTokenizerFiles.Load(path, () => BpeTokenizer.Create(new BpeOptions(vocab)
        {
            Merges = merges,
            // Added tokens are matched in the text by the pre-tokenizer and mapped straight to their ids.
            SpecialTokens = added,
            PreTokenizer = new RegexPreTokenizer(split, added),
            Normalizer = normalizer,
            ByteLevel = true,
        }));

        int vocabSize = Math.Max(vocab.Values.Max(), added.Count == 0 ? -1 : added.Values.Max()) + 1;
        int Id(string key, string fallback)
        {
            string token = HfTokenizerFiles.TokenString(config?.RootElement, key) ?? fallback;
            return added.TryGetValue(token, out int id) || vocab.TryGetValue(token, out id) ? id
                : throw new InvalidDataException($"Qwen3 tokenizer '{folder}': {key} '{token}' is not a token of '{path}'.");
        }
        return new Qwen3Tokenizer(bpe, vocab, added, vocabSize, Id("pad_token", "<|endoftext|>"), Id("eos_token", "<|im_end|>"));
    }

    /// <summary>
    /// Token ids for <paramref name="text"/>, nothing added around it; added-token strings inside the text
    /// (<c>&lt;|im_start|&gt;</c>, <c>&lt;think&gt;</c>, ...) become single tokens. Empty text gives no ids.
    /// </summary>
    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length == 0) return [];
        IReadOnlyList<int> ids = _bpe.EncodeToIds(text);
        return ids as int[] ?? [.. ids];
    }

    /// <inheritdoc/>
    public int[] EncodeWithoutSpecialTokens(string text) => Encode(text);

    /// <summary>Text of the ids; added tokens are written out (e.g. <c>&lt;|im_end|&gt;</c>), as HF's decode(skip_special_tokens=False).</summary>
    /// <exception cref="ArgumentException">An id is not a token of this tokenizer.</exception>
    public string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var list = ids as IReadOnlyList<int> ?? ids.ToList();
        foreach (int id in list)
            if (id < 0 || id >= VocabSize)
                throw new ArgumentException($"Token id {id} is outside this tokenizer's vocabulary (0..{VocabSize - 1}).", nameof(ids));
        return _bpe.Decode(list, considerSpecialTokens: true);
    }

    /// <summary>Id of a token string in byte-level form (e.g. <c>"ĠA"</c> for " A") or of an added token.</summary>
    /// <exception cref="KeyNotFoundException">No such token.</exception>
    public int TokenToId(string token) =>
        TryTokenToId(token) ?? throw new KeyNotFoundException($"'{token}' is not a Qwen3 token (vocabulary entries are in byte-level form, e.g. \"ĠA\" for \" A\").");

    /// <summary>Id of a token string in byte-level form or of an added token; null when there is none.</summary>
    public int? TryTokenToId(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        return _addedTokens.TryGetValue(token, out int id) || _vocab.TryGetValue(token, out id) ? id : null;
    }

    private static void CheckBpeOptions(JsonElement model, string path)
    {
        // Steps of tokenizers' BPE model that Qwen3 leaves off and that are not implemented here: refuse rather than differ.
        if (HfTokenizerFiles.Bool(model, "byte_fallback") == true)
            throw new InvalidDataException($"'{path}': BPE byte_fallback is not supported.");
        if (HfTokenizerFiles.Bool(model, "ignore_merges") == true)
            throw new InvalidDataException($"'{path}': BPE ignore_merges is not supported.");
        if (model.TryGetProperty("dropout", out var d) && d.ValueKind == JsonValueKind.Number && d.GetDouble() > 0)
            throw new InvalidDataException($"'{path}': BPE dropout is not supported.");
        foreach (string affix in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
            if (model.TryGetProperty(affix, out var a) && a.ValueKind == JsonValueKind.String && a.GetString()!.Length > 0)
                throw new InvalidDataException($"'{path}': BPE {affix} is not supported in a byte-level model.");
    }

    /// <summary>
    /// The split regex of the pre-tokenizer: Qwen2/Qwen3 declare <c>Sequence[Split(Regex, Isolated), ByteLevel(use_regex=false)]</c>.
    /// </summary>
    private static Regex PreTokenizerRegex(JsonElement root, string path)
    {
        if (!root.TryGetProperty("pre_tokenizer", out var pre) || pre.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException($"'{path}' has no pre_tokenizer; expected the Qwen2 Split + ByteLevel sequence.");
        var steps = pre.TryGetProperty("pretokenizers", out var list) && list.ValueKind == JsonValueKind.Array
            ? list.EnumerateArray().ToList() : [pre];

        string? pattern = null;
        bool byteLevel = false;
        foreach (var step in steps)
        {
            string? type = step.TryGetProperty("type", out var t) ? t.GetString() : null;
            if (type == "Split" && pattern is null
                && step.TryGetProperty("pattern", out var p) && p.TryGetProperty("Regex", out var r)
                && (!step.TryGetProperty("behavior", out var b) || b.GetString() == "Isolated")
                && HfTokenizerFiles.Bool(step, "invert") != true)
                pattern = r.GetString();
            else if (type == "ByteLevel" && HfTokenizerFiles.Bool(step, "use_regex") != true && HfTokenizerFiles.Bool(step, "add_prefix_space") != true)
                byteLevel = true;
            else
                throw new InvalidDataException($"'{path}': pre_tokenizer step {step.GetRawText()} is not supported; expected Split(Regex, Isolated) then ByteLevel(use_regex=false, add_prefix_space=false).");
        }
        if (pattern is null || !byteLevel)
            throw new InvalidDataException($"'{path}': pre_tokenizer must be a Split with a Regex pattern followed by ByteLevel.");
        try
        {
            // CultureInvariant: the (?i:'s|'t|...) contractions must not depend on the current culture.
            return new Regex(pattern, RegexOptions.Compiled | RegexOptions.CultureInvariant);
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"'{path}': the pre_tokenizer regex does not compile in .NET: {e.Message}", e);
        }
    }

    private static Normalizer? ReadNormalizer(JsonElement root, string path)
    {
        if (!root.TryGetProperty("normalizer", out var n) || n.ValueKind == JsonValueKind.Null) return null;
        string? type = n.TryGetProperty("type", out var t) ? t.GetString() : null;
        return type == "NFC" ? NfcNormalizer.Instance
            : throw new InvalidDataException($"'{path}': normalizer '{type}' is not supported (Qwen3 uses NFC).");
    }

    private static Dictionary<string, int> ReadVocab(JsonElement model, string path)
    {
        if (!model.TryGetProperty("vocab", out var v) || v.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException($"'{path}': the BPE model has no \"vocab\" object.");
        var vocab = new Dictionary<string, int>(160_000, StringComparer.Ordinal);
        foreach (var p in v.EnumerateObject())
        {
            if (!p.Value.TryGetInt32(out int id) || id < 0)
                throw new InvalidDataException($"'{path}': vocab entry '{p.Name}' has no non-negative integer id.");
            vocab[p.Name] = id;
        }
        if (vocab.Count == 0) throw new InvalidDataException($"'{path}': the BPE vocabulary is empty.");
        return vocab;
    }

    /// <summary>Merges as "a b" lines: tokenizer.json stores them as [a, b] pairs (newer format) or "a b" strings (older).</summary>
    private static List<string> ReadMerges(JsonElement model, string path)
    {
        if (!model.TryGetProperty("merges", out var m) || m.ValueKind != JsonValueKind.Array)
            throw new InvalidDataException($"'{path}': the BPE model has no \"merges\" array.");
        var merges = new List<string>(m.GetArrayLength());
        int i = 0;
        foreach (var e in m.EnumerateArray())
        {
            string? merge = e.ValueKind switch
            {
                JsonValueKind.String => e.GetString(),
                JsonValueKind.Array when e.GetArrayLength() == 2 => string.Concat(e[0].GetString(), " ", e[1].GetString()),
                _ => null,
            };
            // Byte-level symbols never contain a space (it is written 'Ġ'), so "a b" is unambiguous.
            if (merge is null || merge.Count(c => c == ' ') != 1)
                throw new InvalidDataException($"'{path}': merges[{i}] = {e.GetRawText()} is not a pair of symbols.");
            merges.Add(merge);
            i++;
        }
        return merges;
    }

    /// <summary>Unicode NFC, the normalizer Qwen3's tokenizer.json declares.</summary>
    private sealed class NfcNormalizer : Normalizer
    {
        public static readonly NfcNormalizer Instance = new();

        // Not string.Normalize: it does nothing under globalization-invariant mode (see UnicodeNormalization).
        public override string Normalize(string original) => UnicodeNormalization.Nfc(original);

        public override string Normalize(ReadOnlySpan<char> original) => Normalize(original.ToString());
    }
}
