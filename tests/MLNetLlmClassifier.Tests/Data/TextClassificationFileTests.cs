using System.Text;
using MLNetLlmClassifier.Data;

namespace MLNetLlmClassifier.Tests.Data;

[TestClass]
public class TextClassificationFileTests
{
    private static readonly TextFileOptions ByIndex = new() { LabelColumn = "0", TextColumns = ["1", "2"] };
    private static readonly TextFileOptions ByName = new() { LabelColumn = "category", TextColumns = ["text"] };

    private static TextClassificationTable Parse(string text, TextFileOptions options, string name = "t.csv") =>
        TextClassificationFile.Parse(text, name, options);

    private static TextFileException ParseError(string text, TextFileOptions options, string name = "t.csv") =>
        Assert.ThrowsExactly<TextFileException>(() => Parse(text, options, name));

    [TestMethod]
    public void AnUnquotedCommaThatShiftsTheLabelIsAWarningNamingTheRow()
    {
        // Header text,label: row 2's unquoted comma makes its label " cheap" (read as "cheap") and gives it three fields.
        var t = Parse("text,label\nawful,negative\nGreat food, cheap,positive\nfine,positive\n", new TextFileOptions { LabelColumn = "label", TextColumns = ["text"] });
        Assert.AreEqual(2, t.Warnings.Count, string.Join("\n", t.Warnings));
        StringAssert.Contains(t.Warnings[0], "line 3: row 2 has the label ' cheap'");
        StringAssert.Contains(t.Warnings[1], "row 2 has 3 field(s) where the header has 2");
        Assert.AreEqual(0, Parse("1,a,b\n2,c,d\n", ByIndex).Warnings.Count);
    }

    [TestMethod]
    public void QuotedFieldsKeepSeparatorsDoubledQuotesAndLineBreaks()
    {
        var t = Parse("\"1\",\"a, b\",\"he said \"\"hi\"\"\nnext line\"\n2,plain,x\n", ByIndex);
        Assert.AreEqual(2, t.Count);
        Assert.AreEqual(new TextClassificationRow("1", "a, b he said \"hi\"\nnext line"), t[0]);
        Assert.AreEqual(new TextClassificationRow("2", "plain x"), t[1]);
    }

    [TestMethod]
    public void QuoteInsideAnUnquotedFieldIsLiteral()
    {
        var t = Parse("1,5\" screen,ok\"\n", ByIndex);
        Assert.AreEqual("5\" screen ok\"", t[0].Text);
    }

    [TestMethod]
    public void EmptyTextPartsAreSkippedAndEmptyTextIsKept()
    {
        var t = Parse("1,,desc\n2,title,\n3,,\n4,\"\",\"\"", ByIndex);
        CollectionAssert.AreEqual(new[] { "desc", "title", "", "" }, t.Select(r => r.Text).ToArray());
        CollectionAssert.AreEqual(new[] { "1", "2", "3", "4" }, t.Select(r => r.Label).ToArray());
    }

    [TestMethod]
    public void CrlfBomAndMissingFinalNewlineGiveTheSameTable()
    {
        string lf = "\"1\",\"t\",\"multi\nline\"\n2,u,v\n\n3,w,x\n";
        var expected = Parse(lf, ByIndex);
        string crlf = lf.Replace("\n", "\r\n", StringComparison.Ordinal).TrimEnd('\r', '\n');
        string dir = Directory.CreateTempSubdirectory("mlnetllm-data-").FullName;
        try
        {
            string path = Path.Combine(dir, "crlf.csv");
            File.WriteAllBytes(path, [.. Encoding.UTF8.GetPreamble(), .. Encoding.UTF8.GetBytes(crlf)]);
            var actual = TextClassificationFile.Load(path, ByIndex);
            CollectionAssert.AreEqual(expected.ToArray(), actual.ToArray());
            Assert.AreEqual("t multi\nline", actual[0].Text);
            Assert.AreEqual(path, actual.Source);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [TestMethod]
    public void LineNumbersCountLineBreaksInsideQuotes()
    {
        // Record 1 spans lines 1-3; record 2 (line 4) is short.
        var e = ParseError("1,\"a\nb\nc\",d\n2,x\n", ByIndex);
        Assert.AreEqual(4, e.Line);
        StringAssert.Contains(e.Message, "t.csv, line 4");
        StringAssert.Contains(e.Message, "row 2 has 2 field(s)");
        StringAssert.Contains(e.Message, "index 2");
    }

    [TestMethod]
    public void HeaderFileLoadsByColumnNamesCaseInsensitive()
    {
        var t = Parse("text,category\n\"great, really\",pos\nawful,neg\n", new TextFileOptions { LabelColumn = "Category", TextColumns = ["TEXT"] });
        Assert.AreEqual(2, t.Count);
        Assert.AreEqual(new TextClassificationRow("pos", "great, really"), t[0]);
        CollectionAssert.AreEqual(new[] { "pos", "neg" }, t.Labels.ToArray());
        // --label-column category --text-column text
        CollectionAssert.AreEqual(t.ToArray(), Parse("text,category\n\"great, really\",pos\nawful,neg\n", ByName).ToArray());
    }

    [TestMethod]
    public void IndexesOnlyTreatTheFirstRowAsDataUnlessHasHeaderIsTrue()
    {
        const string text = "label,title,body\n1,a,b\n";
        var auto = Parse(text, ByIndex);
        Assert.AreEqual(2, auto.Count);
        Assert.AreEqual("label", auto[0].Label);
        var skip = Parse(text, new TextFileOptions { LabelColumn = "0", TextColumns = ["1", "2"], HasHeader = true });
        Assert.AreEqual(1, skip.Count);
        Assert.AreEqual(new TextClassificationRow("1", "a b"), skip[0]);
    }

    [TestMethod]
    public void NamesAndIndexesMixAndSentence2IsRead()
    {
        var t = Parse("premise,hypothesis,gold\np1,h1,entail\n", new TextFileOptions { LabelColumn = "gold", TextColumns = ["0"], Sentence2Column = "hypothesis" });
        Assert.AreEqual(new TextClassificationRow("entail", "p1", "h1"), t[0]);
        Assert.IsTrue(t.HasText2);
    }

    [TestMethod]
    public void SeparatorComesFromExtensionOrIsSniffed()
    {
        var tsv = Parse("1\ta,b\tc\n", ByIndex, "x.tsv");
        Assert.AreEqual("a,b c", tsv[0].Text);
        var sniffedTab = Parse("1\t\"x\ty\"\tz\n", ByIndex, "x.txt");
        Assert.AreEqual("x\ty z", sniffedTab[0].Text);
        var sniffedSemicolon = Parse("1;\"a;b\";c,d\n", ByIndex, "data");
        Assert.AreEqual("a;b c,d", sniffedSemicolon[0].Text);
        var explicitPipe = Parse("1|a|b\n", ByIndex with { Separator = '|' }, "x.csv");
        Assert.AreEqual("a b", explicitPipe[0].Text);
    }

    [TestMethod]
    public void LabelsAreTrimmedAndRenamed()
    {
        var t = Parse(" 1 ,a,b\n2,c,d\n", ByIndex with { LabelNames = AgNews.LabelNames });
        CollectionAssert.AreEqual(new[] { "World", "Sports" }, t.Select(r => r.Label).ToArray());
        var e = ParseError("1,a,b\n7,c,d\n", ByIndex with { LabelNames = AgNews.LabelNames });
        Assert.AreEqual(2, e.Line);
        StringAssert.Contains(e.Message, "label '7'");
        StringAssert.Contains(e.Message, "1, 2, 3, 4");
    }

    [TestMethod]
    public void UnknownColumnNameListsTheHeader()
    {
        var e = ParseError("text,category\na,b\n", new TextFileOptions { LabelColumn = "label", TextColumns = ["text"] });
        Assert.AreEqual(1, e.Line);
        StringAssert.Contains(e.Message, "unknown label column 'label'");
        StringAssert.Contains(e.Message, "'text', 'category'");
    }

    [TestMethod]
    public void NameWithHasHeaderFalseIsAnError()
    {
        var e = ParseError("text,category\n", ByName with { HasHeader = false });
        StringAssert.Contains(e.Message, "'category' is referenced by name but HasHeader is false");
    }

    [TestMethod]
    public void IndexOutOfRangeNamesTheFieldCount()
    {
        var e = ParseError("1,a\n", new TextFileOptions { LabelColumn = "0", TextColumns = ["5"] });
        StringAssert.Contains(e.Message, "t.csv, line 1: text column index 5 is out of range: the first record has 2 field(s)");
    }

    [TestMethod]
    public void UnterminatedQuoteNamesItsLine()
    {
        var e = ParseError("1,a,b\n2,\"open,\nstill open\n", ByIndex);
        Assert.AreEqual(2, e.Line);
        StringAssert.Contains(e.Message, "unterminated quote");
    }

    [TestMethod]
    public void TextAfterClosingQuoteIsAnError()
    {
        var e = ParseError("1,a,b\n2,\"x\"y,z\n", ByIndex);
        Assert.AreEqual(2, e.Line);
        StringAssert.Contains(e.Message, "unexpected character 'y' after the closing quote of field 2");
    }

    [TestMethod]
    public void MissingLabelIsAnError()
    {
        var e = ParseError("1,a,b\n  ,c,d\n", ByIndex);
        Assert.AreEqual(2, e.Line);
        StringAssert.Contains(e.Message, "row 2 has no label");
    }

    [TestMethod]
    [DataRow("")]
    [DataRow("\n\r\n")]
    [DataRow("\uFEFF")]
    public void EmptyFileIsAnError(string text)
    {
        var e = ParseError(text, ByIndex);
        Assert.IsNull(e.Line);
        StringAssert.Contains(e.Message, "t.csv: the file is empty");
    }

    [TestMethod]
    public void HeaderOnlyIsAnError()
    {
        var e = ParseError("text,category\n", ByName);
        StringAssert.Contains(e.Message, "header but no data rows");
    }

    [TestMethod]
    public void InvalidUtf8IsAnError()
    {
        using var stream = new MemoryStream([(byte)'1', (byte)',', 0xC3, 0x28, (byte)',', (byte)'x']);
        var e = Assert.ThrowsExactly<TextFileException>(() => TextClassificationFile.Load(stream, "bad.csv", ByIndex));
        StringAssert.Contains(e.Message, "bad.csv: the file is not valid UTF-8");
    }

    [TestMethod]
    public void MissingFileIsFileNotFound()
    {
        var e = Assert.ThrowsExactly<FileNotFoundException>(() => TextClassificationFile.Load("/nonexistent/x.csv", ByIndex));
        StringAssert.Contains(e.Message, "/nonexistent/x.csv");
    }

    [TestMethod]
    public void SaveThenLoadRoundTrips()
    {
        var table = new TextClassificationTable(
        [
            new("pos", "quote \" comma , newline\nend", "second"),
            new("neg", "", null),
        ]);
        string dir = Directory.CreateTempSubdirectory("mlnetllm-data-").FullName;
        try
        {
            string path = Path.Combine(dir, "out.csv");
            TextClassificationFile.Save(table, path);
            var back = TextClassificationFile.Load(path, new TextFileOptions { LabelColumn = "label", TextColumns = ["text"], Sentence2Column = "text2" });
            CollectionAssert.AreEqual(new TextClassificationRow[] { new("pos", "quote \" comma , newline\nend", "second"), new("neg", "", "") }, back.ToArray());
            Assert.AreEqual(1, Directory.GetFiles(dir).Length, "no temporary file is left behind");
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [TestMethod]
    public void ParseColumnListSplitsAndTrims()
    {
        CollectionAssert.AreEqual(new[] { "1", "2" }, TextFileOptions.ParseColumnList("1, 2").ToArray());
        CollectionAssert.AreEqual(new[] { "title", "description" }, TextFileOptions.ParseColumnList("title,description,").ToArray());
        Assert.ThrowsExactly<ArgumentException>(() => TextFileOptions.ParseColumnList(" , "));
    }
}
