using System.Diagnostics;
using System.Text.Json;
using MLNetLlmClassifier.Qwen3;
using MLNetLlmClassifier.Text;

namespace MLNetLlmClassifier.Tests.Text;

[TestClass]
public class Qwen3TokenizerTests
{
    private static Qwen3Tokenizer _tok = null!;
    private static List<(int Line, string Text, int[] Ids)> _reference = null!;

    public static string Folder => TestPaths.Shared("models", "qwen3-tokenizer");

    [ClassInitialize]
    public static void Load(TestContext context)
    {
        var sw = Stopwatch.StartNew();
        _tok = Qwen3Tokenizer.FromFolder(Folder);
        context.WriteLine($"Qwen3Tokenizer.FromFolder: {sw.ElapsedMilliseconds} ms");
        _reference = ReadReference();
    }

    /// <summary>../shared/fixtures/qwen3-tokenizer-reference.jsonl as (1-based line, text, ids).</summary>
    public static List<(int Line, string Text, int[] Ids)> ReadReference()
    {
        var rows = new List<(int, string, int[])>();
        int n = 0;
        foreach (string line in File.ReadLines(TestPaths.Shared("fixtures", "qwen3-tokenizer-reference.jsonl")))
        {
            n++;
            using var doc = JsonDocument.Parse(line);
            rows.Add((n, doc.RootElement.GetProperty("text").GetString()!,
                      doc.RootElement.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray()));
        }
        return rows;
    }

    [TestMethod]
    public void ReferenceFileHasAllLines() => Assert.AreEqual(1031, _reference.Count);

    [TestMethod]
    public void EveryReferenceLineGivesExactlyTheReferenceIds()
    {
        int mismatches = 0;
        string? first = null;
        foreach (var (line, text, expected) in _reference)
        {
            int[] actual = _tok.Encode(text);
            if (actual.SequenceEqual(expected)) continue;
            mismatches++;
            first ??= $"line {line}: text {JsonSerializer.Serialize(text)}\n expected [{string.Join(",", expected)}]\n actual   [{string.Join(",", actual)}]";
        }
        Assert.AreEqual(0, mismatches, $"{mismatches} of {_reference.Count} lines differ; first: {first}");
    }

    [TestMethod]
    public void DecodeRoundTripsEveryReferenceLine()
    {
        foreach (var (line, text, ids) in _reference)
        {
            // The tokenizer NFC-normalises, so line 15's decomposed "e\u0301" comes back as "\u00e9".
            string expected = line == 15 ? text.Replace("e\u0301", "\u00e9") : text;
            Assert.AreEqual(expected, _tok.Decode(ids), $"line {line}");
        }
    }

    [TestMethod]
    public void SpecialIdsAndVocabSize()
    {
        Assert.AreEqual(151643, _tok.PadTokenId);
        Assert.AreEqual(151645, _tok.EosTokenId);
        Assert.AreEqual(151669, _tok.VocabSize);
        Assert.AreEqual(151644, _tok.TokenToId("<|im_start|>"));
        Assert.AreEqual(151667, _tok.TokenToId("<think>"));
        Assert.AreEqual(151668, _tok.TokenToId("</think>"));
        Assert.AreEqual(26, _tok.AddedTokens.Count);
        Assert.IsNull(_tok.TryTokenToId("no such token"));
        Assert.ThrowsExactly<KeyNotFoundException>(() => _tok.TokenToId("no such token"));
        Assert.AreEqual("qwen3", _tok.Family);
    }

    [TestMethod]
    public void AddedTokensInsideTextAreSingleTokens()
    {
        int[] ids = _tok.Encode("<|im_start|>user\nhi<|im_end|><think></think>");
        Assert.AreEqual(151644, ids[0]);
        CollectionAssert.Contains(ids, 151645);
        CollectionAssert.AreEqual(new[] { 151667, 151668 }, ids[^2..]);
        Assert.AreEqual("<|im_start|>user\nhi<|im_end|><think></think>", _tok.Decode(ids));
    }

    [TestMethod]
    public void OptionLettersMatchByteLevelVocabulary()
    {
        // " A" is one token, spelled "ĠA" in the byte-level vocabulary.
        CollectionAssert.AreEqual(new[] { _tok.TokenToId("ĠA") }, _tok.Encode(" A"));
        CollectionAssert.AreEqual(new[] { _tok.TokenToId("A") }, _tok.Encode("A"));
        CollectionAssert.AreEqual(_tok.Encode("x"), _tok.EncodeWithoutSpecialTokens("x"));
    }

    [TestMethod]
    public void EmptyTextGivesNoIds() => Assert.AreEqual(0, _tok.Encode("").Length);

    [TestMethod]
    public void DecodeRejectsUnknownIds()
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => _tok.Decode([1, 151669]));
        StringAssert.Contains(e.Message, "151669");
    }

    [TestMethod]
    public void MissingFolderAndMissingFileAreNamed()
    {
        string missing = Path.Combine(Path.GetTempPath(), "no-such-tokenizer-" + Guid.NewGuid());
        StringAssert.Contains(Assert.ThrowsExactly<DirectoryNotFoundException>(() => Qwen3Tokenizer.FromFolder(missing)).Message, missing);
        using var empty = new TempFolder();
        var e = Assert.ThrowsExactly<FileNotFoundException>(() => Qwen3Tokenizer.FromFolder(empty.Path));
        StringAssert.Contains(e.Message, empty.Path);
        StringAssert.Contains(e.Message, "tokenizer.json");
    }

    [TestMethod]
    public void AWordPieceTokenizerJsonIsRefused()
    {
        using var folder = new TempFolder();
        File.WriteAllText(Path.Combine(folder.Path, "tokenizer.json"),
            """{"model": {"type": "WordPiece", "vocab": {"[UNK]": 0}, "unk_token": "[UNK]"}}""");
        var e = Assert.ThrowsExactly<InvalidDataException>(() => Qwen3Tokenizer.FromFolder(folder.Path));
        StringAssert.Contains(e.Message, "WordPiece");
    }

    [TestMethod]
    public void AMissingPadTokenIsNamed()
    {
        using var folder = new TempFolder();
        File.Copy(Path.Combine(Folder, "tokenizer.json"), Path.Combine(folder.Path, "tokenizer.json"));
        File.WriteAllText(Path.Combine(folder.Path, "tokenizer_config.json"), """{"pad_token": "<pad-that-is-not-there>"}""");
        var e = Assert.ThrowsExactly<InvalidDataException>(() => Qwen3Tokenizer.FromFolder(folder.Path));
        StringAssert.Contains(e.Message, "pad_token");
        StringAssert.Contains(e.Message, "<pad-that-is-not-there>");
    }
}
