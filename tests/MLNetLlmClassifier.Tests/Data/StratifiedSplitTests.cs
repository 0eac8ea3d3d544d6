using MLNetLlmClassifier.Data;

namespace MLNetLlmClassifier.Tests.Data;

[TestClass]
public class StratifiedSplitTests
{
    /// <summary>100 rows of "a", 30 of "b", 7 of "c", 2 of "d", interleaved; text = the row's index.</summary>
    private static TextClassificationTable Table()
    {
        var rows = new List<TextClassificationRow>();
        var remaining = new Dictionary<string, int> { ["a"] = 100, ["b"] = 30, ["c"] = 7, ["d"] = 2 };
        while (remaining.Values.Any(v => v > 0))
            foreach (var label in remaining.Keys.ToArray())
                if (remaining[label]-- > 0) rows.Add(new TextClassificationRow(label, rows.Count.ToString()));
        return new TextClassificationTable(rows, "synthetic");
    }

    private static Dictionary<string, int> Counts(TextClassificationTable t) => t.CountByLabel().ToDictionary();

    [TestMethod]
    public void ProportionsAreKeptPerClassAndPartsCoverTheTableOnce()
    {
        var table = Table();
        var (train, valid, test) = StratifiedSplit.Split(table, 0.8, 0.1, 0.1, seed: 1);
        // a: 80/10/10; b: 24/3/3; c: 5.6/0.7/0.7 → floors 5/0/0, the 2 left go to the largest remainders → 5/1/1;
        // d: 1.6/0.2/0.2 → 1/0/0 + 1 → 2/0/0 (2 rows are too few to reach all 3 parts).
        CollectionAssert.AreEquivalent(new Dictionary<string, int> { ["a"] = 80, ["b"] = 24, ["c"] = 5, ["d"] = 2 }, Counts(train));
        CollectionAssert.AreEquivalent(new Dictionary<string, int> { ["a"] = 10, ["b"] = 3, ["c"] = 1 }, Counts(valid));
        CollectionAssert.AreEquivalent(new Dictionary<string, int> { ["a"] = 10, ["b"] = 3, ["c"] = 1 }, Counts(test));

        var all = train.Concat(valid).Concat(test).Select(r => int.Parse(r.Text)).Order().ToArray();
        CollectionAssert.AreEqual(Enumerable.Range(0, table.Count).ToArray(), all, "every row lands in exactly one part");
        foreach (var part in new[] { train, valid, test })
        {
            var order = part.Select(r => int.Parse(r.Text)).ToArray();
            CollectionAssert.AreEqual(order.Order().ToArray(), order, "rows keep the input order");
        }
    }

    [TestMethod]
    public void SameSeedSameSplitOtherSeedOtherSplit()
    {
        var table = Table();
        var a = StratifiedSplit.Split(table, [0.5, 0.5], seed: 7);
        var b = StratifiedSplit.Split(table, [0.5, 0.5], seed: 7);
        var c = StratifiedSplit.Split(table, [0.5, 0.5], seed: 8);
        CollectionAssert.AreEqual(a[0].ToArray(), b[0].ToArray());
        CollectionAssert.AreEqual(a[1].ToArray(), b[1].ToArray());
        CollectionAssert.AreNotEqual(a[0].ToArray(), c[0].ToArray());
    }

    [TestMethod]
    public void ApportionUsesLargestRemaindersThenFillsEmptyParts()
    {
        CollectionAssert.AreEqual(new[] { 8, 1, 1 }, StratifiedSplit.Apportion(10, [0.8, 0.1, 0.1]));
        CollectionAssert.AreEqual(new[] { 2, 1, 1 }, StratifiedSplit.Apportion(4, [0.8, 0.1, 0.1]));
        CollectionAssert.AreEqual(new[] { 2, 0, 0 }, StratifiedSplit.Apportion(2, [0.8, 0.1, 0.1]));
        CollectionAssert.AreEqual(new[] { 2, 1 }, StratifiedSplit.Apportion(3, [0.5, 0.5]));
        CollectionAssert.AreEqual(new[] { 5, 0, 0 }, StratifiedSplit.Apportion(5, [1, 0, 0]), "a zero fraction stays empty");
    }

    [TestMethod]
    public void ZeroFractionGivesAnEmptyPart()
    {
        var (train, valid, test) = StratifiedSplit.Split(Table(), 0.9, 0, 0.1, seed: 3);
        Assert.AreEqual(0, valid.Count);
        Assert.AreEqual(Table().Count, train.Count + test.Count);
    }

    [TestMethod]
    [DataRow(new[] { 0.5, 0.6 })]
    [DataRow(new[] { 1.2, -0.2 })]
    [DataRow(new[] { double.NaN, 1.0 })]
    [DataRow(new double[0])]
    public void InvalidFractionsAreRejected(double[] fractions)
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => StratifiedSplit.Split(Table(), fractions, seed: 0));
        Assert.AreEqual("fractions", e.ParamName);
    }

    [TestMethod]
    public void SampleTakesAtMostRowsPerClass()
    {
        var s = StratifiedSplit.Sample(Table(), rowsPerClass: 5, seed: 11);
        CollectionAssert.AreEquivalent(new Dictionary<string, int> { ["a"] = 5, ["b"] = 5, ["c"] = 5, ["d"] = 2 }, Counts(s));
        CollectionAssert.AreEqual(s.ToArray(), StratifiedSplit.Sample(Table(), 5, 11).ToArray());
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => StratifiedSplit.Sample(Table(), 0, 11));
    }

    [TestMethod]
    public void SampleTotalKeepsProportions()
    {
        // 139 rows → 50: a 35.97, b 10.79, c 2.52, d 0.72 → floors 35/10/2/0 (47), the 3 left go to the largest remainders a, b, d.
        var s = StratifiedSplit.SampleTotal(Table(), 50, seed: 5);
        Assert.AreEqual(50, s.Count);
        CollectionAssert.AreEquivalent(new Dictionary<string, int> { ["a"] = 36, ["b"] = 11, ["c"] = 2, ["d"] = 1 }, Counts(s));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => StratifiedSplit.SampleTotal(Table(), 140, 5));
    }

    [TestMethod]
    public void SampleIndicesAreSortedAndSeeded()
    {
        string[] labels = ["x", "y", "x", "y", "x", "y", "x"];
        var a = StratifiedSplit.SampleIndices(labels, 2, seed: 9);
        Assert.AreEqual(4, a.Count);
        CollectionAssert.AreEqual(a.Order().ToArray(), a.ToArray());
        Assert.AreEqual(2, a.Count(i => labels[i] == "x"));
        CollectionAssert.AreEqual(a.ToArray(), StratifiedSplit.SampleIndices(labels, 2, seed: 9).ToArray());
    }

    [TestMethod]
    public void SplitMix64MatchesTheReferenceSequence()
    {
        // First outputs of SplitMix64 seeded with 1234567 (reference values of the published C implementation).
        var rng = new SplitMix64(1234567);
        Assert.AreEqual(6457827717110365317UL, rng.NextUInt64());
        Assert.AreEqual(3203168211198807973UL, rng.NextUInt64());
        Assert.AreEqual(9817491932198370423UL, rng.NextUInt64());
    }
}
