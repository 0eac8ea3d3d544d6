using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetLlmClassifier.Data;

namespace MLNetLlmClassifier.Tests.Data;

[TestClass]
public class TextClassificationTableTests
{
    [TestMethod]
    public void ToDataViewHasLabelAndTextColumnsAndRoundTrips()
    {
        var ml = new MLContext(seed: 0);
        var table = new TextClassificationTable([new("x", "one"), new("y", ""), new("x", "three")]);
        var view = table.ToDataView(ml);
        CollectionAssert.AreEqual(new[] { "Label", "Text" }, view.Schema.Select(c => c.Name).ToArray());
        Assert.IsInstanceOfType<TextDataViewType>(view.Schema["Label"].Type);
        CollectionAssert.AreEqual(new[] { "one", "", "three" }, view.GetColumn<string>("Text").ToArray());
        CollectionAssert.AreEqual(table.ToArray(), TextClassificationTable.FromDataView(view).ToArray());
    }

    [TestMethod]
    public void PairTablesGetAText2Column()
    {
        var ml = new MLContext(seed: 0);
        var table = new TextClassificationTable([new("e", "p", "h"), new("n", "p2", null)]);
        Assert.IsTrue(table.HasText2);
        var view = table.ToDataView(ml);
        CollectionAssert.AreEqual(new[] { "h", "" }, view.GetColumn<string>("Text2").ToArray());
        var back = TextClassificationTable.FromDataView(view, text2Column: "Text2");
        Assert.AreEqual(new TextClassificationRow("n", "p2", ""), back[1]);
    }

    [TestMethod]
    public void FromDataViewReadsKeyLabelsThroughTheirKeyValues()
    {
        var ml = new MLContext(seed: 0);
        var table = new TextClassificationTable([new("b", "t1"), new("a", "t2"), new("b", "t3")]);
        var keyed = ml.Transforms.Conversion.MapValueToKey("Label").Fit(table.ToDataView(ml)).Transform(table.ToDataView(ml));
        Assert.IsInstanceOfType<KeyDataViewType>(keyed.Schema["Label"].Type);
        CollectionAssert.AreEqual(table.ToArray(), TextClassificationTable.FromDataView(keyed).ToArray());
    }

    [TestMethod]
    public void FromDataViewNamesAMissingColumn()
    {
        var ml = new MLContext(seed: 0);
        var view = new TextClassificationTable([new("a", "t")]).ToDataView(ml);
        var e = Assert.ThrowsExactly<ArgumentException>(() => TextClassificationTable.FromDataView(view, textColumn: "Sentence"));
        StringAssert.Contains(e.Message, "no column 'Sentence'; the view has: Label, Text");
    }

    [TestMethod]
    public void LabelsAreInOrderOfFirstAppearanceAndCanBeRenamed()
    {
        var table = new TextClassificationTable([new("2", "a"), new("1", "b"), new("2", "c")]);
        CollectionAssert.AreEqual(new[] { "2", "1" }, table.Labels.ToArray());
        Assert.AreEqual(2, table.CountByLabel()["2"]);
        var renamed = table.WithLabelNames(AgNews.LabelNames);
        CollectionAssert.AreEqual(new[] { "Sports", "World", "Sports" }, renamed.Select(r => r.Label).ToArray());
        Assert.ThrowsExactly<ArgumentException>(() => table.WithLabelNames(new Dictionary<string, string> { ["1"] = "x" }));
    }

    [TestMethod]
    public void EmptyLabelIsRejected()
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => new TextClassificationTable([new("a", "t"), new("", "u")], "mine"));
        StringAssert.Contains(e.Message, "mine: row 2 has an empty label");
    }
}
