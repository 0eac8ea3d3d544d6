using System.Text.Json;
using MLNetLlmClassifier.Bert;
using MLNetLlmClassifier.Text;

namespace MLNetLlmClassifier.Tests.Text;

[TestClass]
public class BertWordPieceTokenizerTests
{
    private static BertWordPieceTokenizer _uncased = null!;
    private static BertWordPieceTokenizer _cased = null!;
    private static TempFolder _casedFolder = null!;
    private static Dictionary<string, int> _vocab = null!;

    public static string UncasedFolder => TestPaths.Shared("models", "bert-uncased-vocab");

    [ClassInitialize]
    public static void Load(TestContext _)
    {
        _uncased = BertWordPieceTokenizer.FromFolder(UncasedFolder);
        _casedFolder = new TempFolder();
        File.Copy(Path.Combine(UncasedFolder, "vocab.txt"), Path.Combine(_casedFolder.Path, "vocab.txt"));
        File.WriteAllText(Path.Combine(_casedFolder.Path, "tokenizer_config.json"), """{"do_lower_case": false}""");
        _cased = BertWordPieceTokenizer.FromFolder(_casedFolder.Path);
        // Independent of the tokenizer: line number (0-based) = id.
        _vocab = File.ReadLines(Path.Combine(UncasedFolder, "vocab.txt")).Select((t, i) => (t, i)).ToDictionary(p => p.t, p => p.i);
    }

    [ClassCleanup]
    public static void Cleanup() => _casedFolder.Dispose();

    private static int[] V(params string[] tokens) => tokens.Select(t => _vocab[t]).ToArray();

    [TestMethod]
    public void PropertiesOfBertBaseUncased()
    {
        Assert.AreEqual(101, _uncased.ClsId);
        Assert.AreEqual(102, _uncased.SepId);
        Assert.AreEqual(0, _uncased.PadId);
        Assert.AreEqual(100, _uncased.UnkId);
        Assert.AreEqual(103, _uncased.MaskId);
        Assert.AreEqual(30522, _uncased.VocabSize);
        Assert.IsTrue(_uncased.DoLowerCase);
        Assert.IsFalse(_cased.DoLowerCase);
        Assert.AreEqual("bert", _uncased.Family);
    }

    [TestMethod]
    public void HelloWorld()
    {
        var e = _uncased.Encode("Hello, world!", null, 512);
        CollectionAssert.AreEqual(new[] { 101, 7592, 1010, 2088, 999, 102 }, e.InputIds);
        CollectionAssert.AreEqual(new int[6], e.TokenTypeIds);
        Assert.IsFalse(e.Truncated);
        CollectionAssert.AreEqual(new[] { 7592, 1010, 2088, 999 }, _uncased.EncodeWithoutSpecialTokens("Hello, world!"));
    }

    [TestMethod]
    public void AccentsAreStrippedWhenLowercasing()
    {
        CollectionAssert.AreEqual(V("cafe"), _uncased.EncodeWithoutSpecialTokens("Café"));
        CollectionAssert.AreEqual(V("cafe"), _uncased.EncodeWithoutSpecialTokens("Cafe\u0301")); // decomposed spelling
        CollectionAssert.AreEqual(V("naive"), _uncased.EncodeWithoutSpecialTokens("NAÏVE"));
    }

    [TestMethod]
    public void StripAccentsFalseKeepsThemEvenWhenLowercasing()
    {
        using var folder = new TempFolder();
        File.Copy(Path.Combine(UncasedFolder, "vocab.txt"), Path.Combine(folder.Path, "vocab.txt"));
        File.WriteAllText(Path.Combine(folder.Path, "tokenizer_config.json"), """{"strip_accents": false}""");
        var tok = BertWordPieceTokenizer.FromFolder(folder.Path);
        Assert.IsTrue(tok.DoLowerCase);
        // "é" is in no piece of the uncased vocabulary ("caf" is, "##é" is not), so the whole word is [UNK].
        CollectionAssert.AreEqual(new[] { 100 }, tok.EncodeWithoutSpecialTokens("Café"));
        CollectionAssert.AreEqual(V("hello"), tok.EncodeWithoutSpecialTokens("HELLO"));
    }

    [TestMethod]
    public void UnknownCharactersBecomeUnk()
    {
        CollectionAssert.AreEqual(new[] { 100 }, _uncased.EncodeWithoutSpecialTokens("☃"));
        CollectionAssert.AreEqual(new[] { 7592, 100, 2088 }, _uncased.EncodeWithoutSpecialTokens("hello ☃ world"));
        // A word with one unknown character becomes a single [UNK] as a whole.
        CollectionAssert.AreEqual(new[] { 100 }, _uncased.EncodeWithoutSpecialTokens("snow☃man"));
    }

    [TestMethod]
    public void WordsAreCutIntoWordPieces()
    {
        // bert-base-uncased: "unaffable" → una ##ffa ##ble (the textbook un ##aff ##able is bert-base-cased's vocabulary).
        CollectionAssert.AreEqual(V("una", "##ffa", "##ble"), _uncased.EncodeWithoutSpecialTokens("unaffable"));
        CollectionAssert.AreEqual(V("token", "##ization"), _uncased.EncodeWithoutSpecialTokens("Tokenization"));
        // Longer than 100 characters: [UNK], as HF's max_input_chars_per_word.
        CollectionAssert.AreEqual(new[] { 100 }, _uncased.EncodeWithoutSpecialTokens(new string('a', 101)));
    }

    [TestMethod]
    public void CjkIdeographsAreSplitIntoCharacters()
    {
        CollectionAssert.AreEqual(V("中", "文"), _uncased.EncodeWithoutSpecialTokens("中文"));
        CollectionAssert.AreEqual(V("a", "中", "b"), _uncased.EncodeWithoutSpecialTokens("a中b"));
    }

    [TestMethod]
    public void HangulIsLeftDecomposedAfterStrippingAccentsAsInHuggingFace()
    {
        // NFD turns 한 into the jamo ᄒ ᅡ ᆫ; HF does not recompose them.
        CollectionAssert.AreEqual(V("ᄒ", "##ᅡ", "##ᆫ"), _uncased.EncodeWithoutSpecialTokens("한"));
    }

    [TestMethod]
    public void WhitespaceControlAndPunctuationFollowHuggingFace()
    {
        // Tab, newline and CR separate words (they are not deleted as control characters).
        CollectionAssert.AreEqual(V("hello", "world", "fox"), _uncased.EncodeWithoutSpecialTokens("hello\tworld\r\nfox"));
        // Zero-width space (format character) and NUL are deleted.
        CollectionAssert.AreEqual(V("hello"), _uncased.EncodeWithoutSpecialTokens("hel\u200Blo\0"));
        // ASCII symbols are punctuation for BERT: split off, not dropped.
        CollectionAssert.AreEqual(V("$", "5"), _uncased.EncodeWithoutSpecialTokens("$5"));
        // A non-ASCII symbol stays inside its word.
        CollectionAssert.AreEqual(V("€"), _uncased.EncodeWithoutSpecialTokens("€"));
        // Python's lower(): a word-final capital sigma becomes final sigma.
        CollectionAssert.AreEqual(V("ο", "##δ", "##ος"), _uncased.EncodeWithoutSpecialTokens("ΟΔΟΣ"));
    }

    [TestMethod]
    public void SpecialTokenStringsInTextAreMatchedCaseSensitively()
    {
        CollectionAssert.AreEqual(new[] { _vocab["a"], 102, _vocab["b"] }, _uncased.EncodeWithoutSpecialTokens("a [SEP] b"));
        CollectionAssert.AreEqual(new[] { 103 }, _uncased.EncodeWithoutSpecialTokens("[MASK]"));
        CollectionAssert.AreEqual(V("[", "sep", "]"), _uncased.EncodeWithoutSpecialTokens("[sep]"));
    }

    [TestMethod]
    public void PairHasTokenTypeOneOnTheSecondSegmentAndItsSep()
    {
        var e = _uncased.Encode("hello world", "the fox", 512);
        CollectionAssert.AreEqual(new[] { 101, 7592, 2088, 102, _vocab["the"], _vocab["fox"], 102 }, e.InputIds);
        CollectionAssert.AreEqual(new[] { 0, 0, 0, 0, 1, 1, 1 }, e.TokenTypeIds);
    }

    [TestMethod]
    public void NullOrEmptyTextGivesOnlySpecialTokens()
    {
        CollectionAssert.AreEqual(new[] { 101, 102 }, _uncased.Encode(null, null, 8).InputIds);
        CollectionAssert.AreEqual(new[] { 101, 102 }, _uncased.Encode("", null, 8).InputIds);
        var emptyPair = _uncased.Encode("hello", "", 8);
        CollectionAssert.AreEqual(new[] { 101, 7592, 102, 102 }, emptyPair.InputIds);
        CollectionAssert.AreEqual(new[] { 0, 0, 0, 1 }, emptyPair.TokenTypeIds);
    }

    [TestMethod]
    public void TruncationKeepsTheBeginningOrTheEnd()
    {
        const string text = "the quick brown fox";
        var right = _uncased.Encode(text, null, 4);
        CollectionAssert.AreEqual(new[] { 101, _vocab["the"], _vocab["quick"], 102 }, right.InputIds);
        Assert.IsTrue(right.Truncated);
        var left = _uncased.Encode(text, null, 4, TruncationSide.Left);
        CollectionAssert.AreEqual(new[] { 101, _vocab["brown"], _vocab["fox"], 102 }, left.InputIds);
        Assert.IsTrue(left.Truncated);
        var fits = _uncased.Encode(text, null, 6);
        Assert.AreEqual(6, fits.Length);
        Assert.IsFalse(fits.Truncated);
    }

    [TestMethod]
    public void PairTruncationIsLongestFirst()
    {
        // 4 + 2 tokens, budget 8 - 3 = 5: only the longer first segment loses a token.
        var e = _uncased.Encode("the quick brown fox", "hello world", 8);
        CollectionAssert.AreEqual(new[] { 101, _vocab["the"], _vocab["quick"], _vocab["brown"], 102, 7592, 2088, 102 }, e.InputIds);
        CollectionAssert.AreEqual(new[] { 0, 0, 0, 0, 0, 1, 1, 1 }, e.TokenTypeIds);
        Assert.IsTrue(e.Truncated);
        // Left side keeps the end of each segment.
        var left = _uncased.Encode("the quick brown fox", "hello world", 8, TruncationSide.Left);
        CollectionAssert.AreEqual(new[] { 101, _vocab["quick"], _vocab["brown"], _vocab["fox"], 102, 7592, 2088, 102 }, left.InputIds);
    }

    [TestMethod]
    [DataRow(5, 5, 7, 3, 4)]   // tie: the odd token goes to the second segment
    [DataRow(6, 4, 7, 4, 3)]   // the odd token goes to the longer one
    [DataRow(4, 6, 7, 3, 4)]
    [DataRow(2, 10, 8, 2, 6)]  // the shorter fits whole
    [DataRow(10, 2, 8, 6, 2)]
    [DataRow(3, 3, 6, 3, 3)]   // nothing to cut
    [DataRow(20, 30, 0, 0, 0)]
    public void LongestFirstLengths(int a, int b, int budget, int keepA, int keepB) =>
        Assert.AreEqual((keepA, keepB), BertWordPieceTokenizer.LongestFirst(a, b, budget));

    [TestMethod]
    public void MaxLengthTooSmallIsRejected()
    {
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => _uncased.Encode("a", null, 1));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => _uncased.Encode("a", "b", 2));
        CollectionAssert.AreEqual(new[] { 101, 102 }, _uncased.Encode("a", null, 2).InputIds);
    }

    [TestMethod]
    public void EncodeBatchEncodesEachRow()
    {
        var batch = _uncased.EncodeBatch(["hello", null, "the fox"], ["world", "a", null], 16);
        Assert.AreEqual(3, batch.Length);
        CollectionAssert.AreEqual(_uncased.Encode("hello", "world", 16).InputIds, batch[0].InputIds);
        CollectionAssert.AreEqual(new[] { 101, 102, _vocab["a"], 102 }, batch[1].InputIds);
        CollectionAssert.AreEqual(_uncased.Encode("the fox", null, 16).InputIds, batch[2].InputIds);
        Assert.ThrowsExactly<ArgumentException>(() => _uncased.EncodeBatch(["a"], ["b", "c"], 16));
    }

    [TestMethod]
    public void CasedFolderKeepsCase()
    {
        // The uncased vocabulary has no capital letters: a capitalised word is [UNK] as a whole.
        CollectionAssert.AreEqual(new[] { 100, _vocab["world"] }, _cased.EncodeWithoutSpecialTokens("Hello world"));
        // Accents are kept too (strip_accents follows do_lower_case): "café" has no pieces ("##é" is missing) → [UNK].
        CollectionAssert.AreEqual(new[] { 100 }, _cased.EncodeWithoutSpecialTokens("café"));
        CollectionAssert.AreEqual(V("hello"), _cased.EncodeWithoutSpecialTokens("hello"));
    }

    [TestMethod]
    public void TokenizerJsonOnlyFolderGivesTheSameIds()
    {
        using var folder = new TempFolder();
        WriteWordPieceTokenizerJson(folder.Path, lowercase: true);
        var fromJson = BertWordPieceTokenizer.FromFolder(folder.Path);
        Assert.IsTrue(fromJson.DoLowerCase);
        Assert.AreEqual(30522, fromJson.VocabSize);
        foreach (string text in new[] { "Hello, world!", "Café unaffable 中文 [SEP] $5", "the quick brown fox" })
            CollectionAssert.AreEqual(_uncased.EncodeWithoutSpecialTokens(text), fromJson.EncodeWithoutSpecialTokens(text), text);

        using var casedFolder = new TempFolder();
        WriteWordPieceTokenizerJson(casedFolder.Path, lowercase: false);
        var casedJson = BertWordPieceTokenizer.FromFolder(casedFolder.Path);
        Assert.IsFalse(casedJson.DoLowerCase);
        CollectionAssert.AreEqual(_cased.EncodeWithoutSpecialTokens("Hello world"), casedJson.EncodeWithoutSpecialTokens("Hello world"));
    }

    /// <summary>A tokenizers-format tokenizer.json for the shared vocabulary (WordPiece model + BertNormalizer).</summary>
    internal static void WriteWordPieceTokenizerJson(string folder, bool lowercase)
    {
        var vocab = File.ReadLines(Path.Combine(UncasedFolder, "vocab.txt")).Select((t, i) => (t, i)).ToDictionary(p => p.t, p => p.i);
        var json = new
        {
            version = "1.0",
            added_tokens = new[] { ("[PAD]", 0), ("[UNK]", 100), ("[CLS]", 101), ("[SEP]", 102), ("[MASK]", 103) }
                .Select(t => new { id = t.Item2, content = t.Item1, special = true }),
            normalizer = new { type = "BertNormalizer", clean_text = true, handle_chinese_chars = true, strip_accents = (bool?)null, lowercase },
            model = new { type = "WordPiece", unk_token = "[UNK]", continuing_subword_prefix = "##", max_input_chars_per_word = 100, vocab },
        };
        File.WriteAllText(Path.Combine(folder, "tokenizer.json"), JsonSerializer.Serialize(json));
    }

    [TestMethod]
    public void FoldersWithoutAVocabularyAreNamed()
    {
        string missing = Path.Combine(Path.GetTempPath(), "no-such-bert-" + Guid.NewGuid());
        StringAssert.Contains(Assert.ThrowsExactly<DirectoryNotFoundException>(() => BertWordPieceTokenizer.FromFolder(missing)).Message, missing);
        using var empty = new TempFolder();
        var e = Assert.ThrowsExactly<FileNotFoundException>(() => BertWordPieceTokenizer.FromFolder(empty.Path));
        StringAssert.Contains(e.Message, empty.Path);
        StringAssert.Contains(e.Message, "vocab.txt");
        StringAssert.Contains(e.Message, "tokenizer.json");
    }

    [TestMethod]
    public void AVocabularyWithoutClsIsNamed()
    {
        using var folder = new TempFolder();
        File.WriteAllLines(Path.Combine(folder.Path, "vocab.txt"), ["[PAD]", "[UNK]", "[SEP]", "hello"]);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => BertWordPieceTokenizer.FromFolder(folder.Path));
        StringAssert.Contains(e.Message, "cls_token");
        StringAssert.Contains(e.Message, "[CLS]");
    }

    [TestMethod]
    public void ABpeTokenizerJsonIsRefused()
    {
        using var folder = new TempFolder();
        File.WriteAllText(Path.Combine(folder.Path, "tokenizer.json"), """{"model": {"type": "BPE", "vocab": {}, "merges": []}}""");
        var e = Assert.ThrowsExactly<InvalidDataException>(() => BertWordPieceTokenizer.FromFolder(folder.Path));
        StringAssert.Contains(e.Message, "BPE");
    }

    [TestMethod]
    public void AVocabularyIdFarBeyondItsSizeIsRefusedBeforeAllocating()
    {
        using var folder = new TempFolder();
        var vocab = new Dictionary<string, int> { ["[PAD]"] = 0, ["[UNK]"] = 1, ["[CLS]"] = 2, ["[SEP]"] = 3, ["hello"] = 4 };
        string Write(int id)
        {
            vocab["world"] = id;
            File.WriteAllText(Path.Combine(folder.Path, "tokenizer.json"), JsonSerializer.Serialize(new { model = new { type = "WordPiece", unk_token = "[UNK]", vocab } }));
            return folder.Path;
        }
        // A few unused ids are fine (real vocabularies have some)...
        Assert.AreEqual(101, BertWordPieceTokenizer.FromFolder(Write(100)).VocabSize);
        // ...but an id that would size the id table (and an embedding) by itself is named, with little allocated.
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.ThrowsExactly<InvalidDataException>(() => BertWordPieceTokenizer.FromFolder(Write(400_000_000)));
        Assert.IsLessThan(64L << 20, GC.GetAllocatedBytesForCurrentThread() - before);
        StringAssert.Contains(e.Message, "'world' has id 400000000");
        StringAssert.Contains(e.Message, "tokenizer.json");
    }
}
