using MLNetLlmClassifier.Bert;
using MLNetLlmClassifier.Qwen3;
using MLNetLlmClassifier.Text;

namespace MLNetLlmClassifier.Tests.Text;

[TestClass]
public class TokenizerFolderTests
{
    private static string QwenFolder => Qwen3TokenizerTests.Folder;
    private static string BertFolder => BertWordPieceTokenizerTests.UncasedFolder;

    [TestMethod]
    public void DetectsBothFamilies()
    {
        var qwen = TokenizerFolder.Open(QwenFolder);
        Assert.IsInstanceOfType<Qwen3Tokenizer>(qwen);
        Assert.AreEqual("qwen3", qwen.Family);
        Assert.AreEqual(151669, qwen.VocabSize);
        CollectionAssert.AreEqual(new[] { 9707, 11, 1879, 0 }, qwen.EncodeWithoutSpecialTokens("Hello, world!"));

        var bert = TokenizerFolder.Open(BertFolder);
        Assert.IsInstanceOfType<BertWordPieceTokenizer>(bert);
        Assert.AreEqual("bert", bert.Family);
        CollectionAssert.AreEqual(new[] { 7592, 1010, 2088, 999 }, bert.EncodeWithoutSpecialTokens("Hello, world!"));
    }

    [TestMethod]
    public void AWordPieceTokenizerJsonAloneIsBert()
    {
        using var folder = new TempFolder();
        BertWordPieceTokenizerTests.WriteWordPieceTokenizerJson(folder.Path, lowercase: true);
        Assert.IsInstanceOfType<BertWordPieceTokenizer>(TokenizerFolder.Open(folder.Path));
    }

    [TestMethod]
    public void NothingUsableListsWhatWasLookedFor()
    {
        using var empty = new TempFolder();
        File.WriteAllText(Path.Combine(empty.Path, "README.md"), "not a tokenizer");
        var e = Assert.ThrowsExactly<FileNotFoundException>(() => TokenizerFolder.Open(empty.Path));
        StringAssert.Contains(e.Message, empty.Path);
        StringAssert.Contains(e.Message, "tokenizer.json");
        StringAssert.Contains(e.Message, "vocab.txt");

        string missing = Path.Combine(Path.GetTempPath(), "no-such-folder-" + Guid.NewGuid());
        StringAssert.Contains(Assert.ThrowsExactly<DirectoryNotFoundException>(() => TokenizerFolder.Open(missing)).Message, missing);
    }

    [TestMethod]
    public void AnUnsupportedModelTypeIsNamed()
    {
        using var folder = new TempFolder();
        File.WriteAllText(Path.Combine(folder.Path, "tokenizer.json"), """{"model": {"type": "Unigram", "vocab": []}}""");
        var e = Assert.ThrowsExactly<InvalidDataException>(() => TokenizerFolder.Open(folder.Path));
        StringAssert.Contains(e.Message, "Unigram");
    }

    [TestMethod]
    public void MalformedJsonNamesTheFile()
    {
        using var folder = new TempFolder();
        File.WriteAllText(Path.Combine(folder.Path, "tokenizer.json"), "{ not json");
        var e = Assert.ThrowsExactly<InvalidDataException>(() => TokenizerFolder.Open(folder.Path));
        StringAssert.Contains(e.Message, Path.Combine(folder.Path, "tokenizer.json"));
    }

    [TestMethod]
    public void CopyTokenizerFilesCopiesOnlyTokenizerFiles()
    {
        using var target = new TempFolder();
        string to = Path.Combine(target.Path, "checkpoint", "tokenizer");
        var copied = TokenizerFolder.CopyTokenizerFiles(QwenFolder, to);
        CollectionAssert.AreEquivalent(new[] { "tokenizer.json", "tokenizer_config.json" }, copied.ToArray());
        CollectionAssert.AreEquivalent(new[] { "tokenizer.json", "tokenizer_config.json" },
            Directory.GetFiles(to).Select(Path.GetFileName).ToArray()); // no README/LICENSE, no temporary files
        CollectionAssert.AreEqual(File.ReadAllBytes(Path.Combine(QwenFolder, "tokenizer_config.json")),
                                  File.ReadAllBytes(Path.Combine(to, "tokenizer_config.json")));

        // A second copy replaces what is there.
        File.WriteAllText(Path.Combine(to, "vocab.txt"), "stale");
        TokenizerFolder.CopyTokenizerFiles(BertFolder, to);
        CollectionAssert.AreEqual(File.ReadAllBytes(Path.Combine(BertFolder, "vocab.txt")), File.ReadAllBytes(Path.Combine(to, "vocab.txt")));
    }

    [TestMethod]
    public void CopyFromAFolderWithoutTokenizerFilesFails()
    {
        using var empty = new TempFolder();
        using var target = new TempFolder();
        var e = Assert.ThrowsExactly<FileNotFoundException>(() => TokenizerFolder.CopyTokenizerFiles(empty.Path, target.Path));
        StringAssert.Contains(e.Message, empty.Path);
        Assert.ThrowsExactly<DirectoryNotFoundException>(() => TokenizerFolder.CopyTokenizerFiles(Path.Combine(empty.Path, "nope"), target.Path));
    }
}
