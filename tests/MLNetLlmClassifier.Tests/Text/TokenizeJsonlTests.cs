using System.Text.Json;
using MLNetLlmClassifier.Bert;
using MLNetLlmClassifier.Cli;
using MLNetLlmClassifier.Text;

namespace MLNetLlmClassifier.Tests.Text;

[TestClass]
public class TokenizeJsonlTests
{
    private static List<(string Text, int[] Ids)> ReadOutput(string path) =>
        File.ReadLines(path).Select(l =>
        {
            using var doc = JsonDocument.Parse(l);
            return (doc.RootElement.GetProperty("text").GetString()!,
                    doc.RootElement.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray());
        }).ToList();

    [TestMethod]
    public void Qwen3OutputMatchesTheReferenceIds()
    {
        var reference = Qwen3TokenizerTests.ReadReference().Take(200).ToList();
        using var dir = new TempFolder();
        string input = Path.Combine(dir.Path, "in.jsonl"), output = Path.Combine(dir.Path, "out", "ids.jsonl");
        // Blank lines are skipped; extra fields are ignored.
        File.WriteAllLines(input, reference.SelectMany((r, i) => i % 50 == 0
            ? new[] { "", JsonSerializer.Serialize(new { text = r.Text, label = i }) }
            : new[] { JsonSerializer.Serialize(new { text = r.Text }) }));

        Assert.AreEqual(200, TokenizeJsonl.Run(Qwen3TokenizerTests.Folder, input, output));
        var rows = ReadOutput(output);
        Assert.AreEqual(200, rows.Count);
        for (int i = 0; i < rows.Count; i++)
        {
            Assert.AreEqual(reference[i].Text, rows[i].Text, $"row {i + 1}");
            CollectionAssert.AreEqual(reference[i].Ids, rows[i].Ids, $"row {i + 1}: {reference[i].Text}");
        }
        Assert.AreEqual(1, Directory.GetFiles(Path.GetDirectoryName(output)!).Length, "no temporary file left");
    }

    [TestMethod]
    public void BertOutputHasNoSpecialTokensAdded()
    {
        using var dir = new TempFolder();
        string input = Path.Combine(dir.Path, "in.jsonl"), output = Path.Combine(dir.Path, "out.jsonl");
        File.WriteAllLines(input, ["""{"text": "Hello, world!"}""", "   ", """{"text": "Café \"quoted\" 中文"}"""]);
        Assert.AreEqual(2, TokenizeJsonl.Run(BertWordPieceTokenizerTests.UncasedFolder, input, output));
        var rows = ReadOutput(output);
        CollectionAssert.AreEqual(new[] { 7592, 1010, 2088, 999 }, rows[0].Ids);
        Assert.AreEqual("Café \"quoted\" 中文", rows[1].Text);
        var bert = BertWordPieceTokenizer.FromFolder(BertWordPieceTokenizerTests.UncasedFolder);
        CollectionAssert.AreEqual(bert.EncodeWithoutSpecialTokens(rows[1].Text), rows[1].Ids);
    }

    [TestMethod]
    [DataRow("not json", "not valid JSON")]
    [DataRow("""{"txt": "a"}""", "\"text\"")]
    [DataRow("""{"text": 5}""", "\"text\"")]
    [DataRow("""["a"]""", "JSON object")]
    [DataRow("""{"text": "lone \ud800 surrogate"}""", "Unicode")]
    public void ABadLineIsNamedAndEarlierOutputIsKept(string badLine, string expectedInMessage)
    {
        using var dir = new TempFolder();
        string input = Path.Combine(dir.Path, "in.jsonl"), output = Path.Combine(dir.Path, "out.jsonl");
        File.WriteAllLines(input, ["""{"text": "a"}""", "", badLine]);
        File.WriteAllText(output, "previous output");
        var e = Assert.ThrowsExactly<InvalidDataException>(() => TokenizeJsonl.Run(BertWordPieceTokenizerTests.UncasedFolder, input, output));
        StringAssert.Contains(e.Message, "line 3");
        StringAssert.Contains(e.Message, input);
        StringAssert.Contains(e.Message, expectedInMessage);
        Assert.AreEqual("previous output", File.ReadAllText(output));
        Assert.AreEqual(2, Directory.GetFiles(dir.Path).Length, "no temporary file left");
    }

    [TestMethod]
    public void MissingInputIsNamed()
    {
        using var dir = new TempFolder();
        string input = Path.Combine(dir.Path, "missing.jsonl");
        var e = Assert.ThrowsExactly<FileNotFoundException>(() => TokenizeJsonl.Run(BertWordPieceTokenizerTests.UncasedFolder, input, Path.Combine(dir.Path, "o.jsonl")));
        StringAssert.Contains(e.Message, input);
    }
}
