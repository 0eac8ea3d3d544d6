using MLNetLlmClassifier.Text;

namespace MLNetLlmClassifier.Tests.Text;

/// <summary>
/// The library's own NFC/NFD. This test project runs with InvariantGlobalization, where string.Normalize does nothing,
/// so these also check that tokenization does not depend on ICU. Expected values from Python's unicodedata.
/// </summary>
[TestClass]
public class UnicodeNormalizationTests
{
    [TestMethod]
    [DataRow("e\u0301", "\u00e9", "e\u0301")]                          // compose / decompose an accent
    [DataRow("a\u0301\u0323", "\u1ea1\u0301", "a\u0323\u0301")]        // canonical ordering (220 before 230), then composition
    [DataRow("e\u0301\u0301", "\u00e9\u0301", "e\u0301\u0301")]        // a second identical mark is blocked
    [DataRow("\u0958", "\u0915\u093c", "\u0915\u093c")]                // composition exclusion
    [DataRow("\u212b", "\u00c5", "A\u030a")]                           // singleton (Angstrom sign)
    [DataRow("\u1e9b\u0323", "\u1e9b\u0323", "\u017f\u0323\u0307")]    // recursive decomposition + reordering
    [DataRow("\u0344", "\u0308\u0301", "\u0308\u0301")]                // non-starter decomposition
    [DataRow("\U0001D15E", "\U0001D157\U0001D165", "\U0001D157\U0001D165")] // outside the BMP
    [DataRow("\ud55c", "\ud55c", "\u1112\u1161\u11ab")]                // Hangul LVT syllable, algorithmic
    [DataRow("\u1112\u1161", "\ud558", "\u1112\u1161")]                // Hangul L+V composes
    [DataRow("plain ASCII", "plain ASCII", "plain ASCII")]
    [DataRow("\u0301a", "\u0301a", "\u0301a")]                         // leading non-starter stays
    public void MatchesPythonUnicodedata(string input, string nfc, string nfd)
    {
        Assert.AreEqual(nfc, UnicodeNormalization.Nfc(input));
        Assert.AreEqual(nfd, UnicodeNormalization.Nfd(input));
    }

    [TestMethod]
    public void LoneSurrogatesPassThrough()
    {
        Assert.AreEqual("a\ud800b\u00e9", UnicodeNormalization.Nfc("a\ud800be\u0301"));
        Assert.AreEqual("\udc00", UnicodeNormalization.Nfd("\udc00"));
    }
}
