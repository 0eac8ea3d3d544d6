using System.Security.Cryptography;
using MLNetLlmClassifier.Cli;
using MLNetLlmClassifier.Data;

namespace MLNetLlmClassifier.Tests.Data;

/// <summary>
/// The shared AG News test split and the CLI's embedded sample made from it.
/// </summary>
/// <remarks>
/// To (re)create src/MLNetLlmClassifier.Cli/Data/ag_news_sample.csv run
/// <c>MLNETLLM_WRITE_AG_NEWS_SAMPLE=1 dotnet test tests/MLNetLlmClassifier.Tests -c Release --filter "FullyQualifiedName~AgNewsTests.EmbeddedSampleIsReproducibleFromTheSource"</c>.
/// Without the variable the same test checks that the committed file is exactly what the procedure produces.
/// </remarks>
[TestClass]
public class AgNewsTests
{
    /// <summary>Seed and size of the embedded sample (documented in src/MLNetLlmClassifier.Cli/Data/README.md).</summary>
    internal const int SampleSeed = 42, SampleRowsPerClass = 500;

    private const string SourceSha256 = "521465c2428ed7f02f8d6db6ffdd4b5447c1c701962353eb2c40d548c3c85699";

    private static string SourcePath => TestPaths.Shared("data", "ag_news", "test.csv");

    private static string SamplePath => Path.Combine(TestPaths.RepoRoot, "src", "MLNetLlmClassifier.Cli", "Data", EmbeddedData.AgNewsSampleFileName);

    [TestMethod]
    public void TestSplitLoadsWithLabelColumn0AndTextColumns1And2()
    {
        var t = TextClassificationFile.Load(SourcePath, new TextFileOptions { LabelColumn = "0", TextColumns = ["1", "2"] });
        Assert.AreEqual(7600, t.Count);
        CollectionAssert.AreEqual(new[] { "3", "4", "2", "1" }, t.Labels.ToArray(), "labels in order of first appearance");
        foreach (var (label, n) in t.CountByLabel()) Assert.AreEqual(1900, n, $"class {label}");
        Assert.AreEqual(
            "Fears for T N pension after talks Unions representing workers at Turner   Newall say they are 'disappointed' after talks with stricken parent firm Federal Mogul.",
            t[0].Text);
        Assert.IsNull(t[0].Text2);
    }

    [TestMethod]
    public void RenamedLabelsAreTheClassNames()
    {
        var t = TextClassificationFile.Load(SourcePath, AgNews.Options(renameLabels: true));
        CollectionAssert.AreEquivalent(AgNews.ClassNames.ToArray(), t.Labels.ToArray());
        Assert.AreEqual("Business", t[0].Label);
        Assert.AreEqual("Sci/Tech", t[1].Label);
    }

    [TestMethod]
    public void EmbeddedSampleHas500RowsPerClass()
    {
        var t = EmbeddedData.LoadAgNewsSample();
        Assert.AreEqual(2000, t.Count);
        var counts = t.CountByLabel();
        CollectionAssert.AreEquivalent(new[] { "1", "2", "3", "4" }, counts.Keys.ToArray());
        foreach (var (label, n) in counts) Assert.AreEqual(500, n, $"class {label}");

        var named = EmbeddedData.LoadAgNewsSample(renameLabels: true);
        CollectionAssert.AreEquivalent(AgNews.ClassNames.ToArray(), named.Labels.ToArray());
        StringAssert.Contains(named.Source, "(embedded) ag_news_sample.csv");
    }

    [TestMethod]
    public void EmbeddedSampleLinesAreDistinctSourceLinesInSourceOrder()
    {
        var sourceLines = File.ReadAllLines(SourcePath);
        var position = new Dictionary<string, int>();
        for (int i = 0; i < sourceLines.Length; i++) position.TryAdd(sourceLines[i], i);
        using var reader = new StreamReader(EmbeddedData.OpenAgNewsSample());
        var sampleLines = reader.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.AreEqual(2000, sampleLines.Length);
        int last = -1;
        foreach (var line in sampleLines)
        {
            Assert.IsTrue(position.TryGetValue(line, out int p), $"not a line of test.csv: {line}");
            Assert.IsTrue(p > last, "sample lines keep the source order and do not repeat");
            last = p;
        }
    }

    [TestMethod]
    public void EmbeddedSampleIsReproducibleFromTheSource()
    {
        Assert.AreEqual(SourceSha256, Sha256(SourcePath), "the shared AG News test.csv is not the documented file");
        bool write = Environment.GetEnvironmentVariable("MLNETLLM_WRITE_AG_NEWS_SAMPLE") == "1";
        string target = write ? SamplePath : Path.Combine(Directory.CreateTempSubdirectory("mlnetllm-data-").FullName, "sample.csv");
        try
        {
            int rows = TextClassificationFile.WriteStratifiedSample(SourcePath, target, AgNews.Options(), SampleRowsPerClass, SampleSeed);
            Assert.AreEqual(2000, rows);
            if (write) return; // rebuild to embed the new file, then run this test again without the variable
            using var embedded = EmbeddedData.OpenAgNewsSample();
            using var copy = new MemoryStream();
            embedded.CopyTo(copy);
            CollectionAssert.AreEqual(File.ReadAllBytes(target), copy.ToArray(),
                "the embedded sample differs from what the documented procedure produces; rerun it (see the class remarks)");
        }
        finally
        {
            if (!write) Directory.Delete(Path.GetDirectoryName(target)!, recursive: true);
        }
    }

    private static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}
