using MLNetLlmClassifier.Bert;
using MLNetLlmClassifier.Checkpoints;
using static MLNetLlmClassifier.Tests.Checkpoints.OnnxTestFiles;

namespace MLNetLlmClassifier.Tests.Checkpoints;

[TestClass]
public sealed class OnnxModelTests
{
    private static readonly float[] Values = [1.5f, -2.25f, 3e-7f, 4f, 0f, -1e9f];

    [TestMethod]
    public void RawDataFloatDataAndExternalDataReadTheSameValues()
    {
        using var dir = new TempFolder();
        var bytes = Model(
        [
            FloatTensor("raw", [2, 3], Values, Storage.RawData),
            FloatTensor("typed", [2, 3], Values, Storage.FloatData),
            FloatTensor("external", [2, 3], Values, Storage.External, dir.File("weights.bin")),
        ]);
        File.WriteAllBytes(dir.File("model.onnx"), bytes);
        var model = OnnxModel.Load(dir.File("model.onnx"));
        Assert.AreEqual(7L, model.IrVersion);
        Assert.AreEqual(13L, model.DefaultOpset);
        foreach (var t in model.Graph.Initializers)
        {
            CollectionAssert.AreEqual(new long[] { 2, 3 }, t.Shape, t.Name);
            CollectionAssert.AreEqual(Values, t.ToFloats(model.Directory), t.Name);
        }
        Assert.IsTrue(model.Graph.Initializers.Single(t => t.Name == "external").IsExternal);
    }

    [TestMethod]
    public void ExternalDataOutsideTheModelsFolderIsRefusedNamingTheTensor()
    {
        using var dir = new TempFolder();
        Directory.CreateDirectory(dir.File("model"));
        File.WriteAllBytes(dir.File("model", "model.onnx"),
            Model([FloatTensor("w", [6], Values, Storage.External, dir.File("outside.bin"), location: "../outside.bin")]));
        var model = OnnxModel.Load(dir.File("model", "model.onnx"));
        var e = Assert.ThrowsExactly<InvalidDataException>(() => model.Graph.Initializers[0].ToFloats(model.Directory));
        StringAssert.Contains(e.Message, "w [6] float");
        StringAssert.Contains(e.Message, "../outside.bin");
    }

    [TestMethod]
    public void DataShorterThanTheShapeIsAnErrorNamingTheTensor()
    {
        using var dir = new TempFolder();
        File.WriteAllBytes(dir.File("model.onnx"), Model([FloatTensor("short", [7], Values)]));
        var model = OnnxModel.Load(dir.File("model.onnx"));
        var e = Assert.ThrowsExactly<InvalidDataException>(() => model.Graph.Initializers[0].ToFloats(model.Directory));
        StringAssert.Contains(e.Message, "short [7] float");
    }

    [TestMethod]
    public void NotAnOnnxFileIsAnErrorNamingTheFile()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir.File("model.onnx"), "this is not a protobuf message at all");
        var e = Assert.ThrowsExactly<InvalidDataException>(() => OnnxModel.Load(dir.File("model.onnx")));
        StringAssert.Contains(e.Message, "model.onnx");
    }

    [TestMethod]
    public void ImportNamesEveryInitializerItCannotPlace()
    {
        using var dir = new TempFolder();
        float[] square = [.. Enumerable.Repeat(0.5f, 16)];
        // Named embeddings are placed; two numbered weights that feed no MatMul + bias Add cannot be.
        File.WriteAllBytes(dir.File("model.onnx"), Model(
        [
            FloatTensor("embeddings.word_embeddings.weight", [4, 4], square),
            FloatTensor("onnx::MatMul_901", [4, 4], square),
            FloatTensor("onnx::MatMul_902", [4, 4], square),
            FloatTensor("scalar_constant", [1], [1e-12f]),
        ], [Node("Identity", ["onnx::MatMul_901"], ["x"])]));
        File.WriteAllLines(dir.File("vocab.txt"), ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => BertOnnxImport.Convert(dir.File("model.onnx"), dir.File("vocab.txt"), dir.File("out")));
        StringAssert.Contains(e.Message, "onnx::MatMul_901 [4, 4] float");
        StringAssert.Contains(e.Message, "onnx::MatMul_902 [4, 4] float");
        Assert.DoesNotContain("scalar_constant", e.Message, "a scalar is a graph constant, not a weight");
        Assert.IsFalse(Directory.Exists(dir.File("out")), "nothing is written");
    }
}
