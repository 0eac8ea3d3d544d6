using System.Buffers.Binary;
using System.Text;
using MLNetLlmClassifier.Checkpoints;
using MLNetLlmClassifier.IO;
using TorchSharp;

namespace MLNetLlmClassifier.Tests.Checkpoints;

[TestClass]
public class SafeTensorsFileTests
{
    private static string BertTinyWeights => TestPaths.Shared("fixtures", "hf-parity", "bert-tiny-a", "model.safetensors");

    private static Dictionary<string, torch.Tensor> EveryDtype()
    {
        var floats = torch.tensor(new float[] { -1.5f, 0f, 3.25f, 1e-3f, 65504f, -2.5e-5f });
        return new Dictionary<string, torch.Tensor>
        {
            ["f64"] = torch.tensor(new double[] { Math.PI, -1e300, 0, 5e-324 }).reshape(2, 2),
            ["f32"] = floats.reshape(3, 2),
            ["f16"] = floats.to(torch.ScalarType.Float16),
            ["bf16"] = floats.to(torch.ScalarType.BFloat16).reshape(1, 2, 3),
            ["i64"] = torch.tensor(new long[] { long.MinValue, -1, 0, long.MaxValue }),
            ["i32"] = torch.tensor(new int[] { int.MinValue, 7, int.MaxValue }),
            ["i16"] = torch.tensor(new short[] { short.MinValue, -3, short.MaxValue }),
            ["i8"] = torch.tensor(new sbyte[] { sbyte.MinValue, -1, sbyte.MaxValue }),
            ["u8"] = torch.tensor(new byte[] { 0, 128, 255 }),
            ["bool"] = torch.tensor(new[] { true, false, true, true }),
            ["scalar"] = torch.tensor(42.5f),
            ["empty"] = torch.zeros(0, 3),
        };
    }

    [TestMethod]
    public void EveryDtypeRoundTripsExactly()
    {
        using var tmp = new TempFolder();
        using var scope = torch.NewDisposeScope();
        var tensors = EveryDtype();
        string path = tmp.File("all.safetensors");
        SafeTensorsFile.Save(path, tensors, new Dictionary<string, string> { ["format"] = "pt", ["note"] = "é+<>" });

        using var file = SafeTensorsFile.Open(path);
        Assert.AreEqual("pt", file.Metadata["format"]);
        Assert.AreEqual("é+<>", file.Metadata["note"]);
        CollectionAssert.AreEquivalent(tensors.Keys.ToList(), file.Tensors.Select(t => t.Name).ToList());
        var expectedDtypes = new Dictionary<string, string>
        {
            ["f64"] = "F64",
            ["f32"] = "F32",
            ["f16"] = "F16",
            ["bf16"] = "BF16",
            ["i64"] = "I64",
            ["i32"] = "I32",
            ["i16"] = "I16",
            ["i8"] = "I8",
            ["u8"] = "U8",
            ["bool"] = "BOOL",
            ["scalar"] = "F32",
            ["empty"] = "F32",
        };
        foreach (var (name, expected) in tensors)
        {
            var info = file.Info(name);
            Assert.AreEqual(expectedDtypes[name], info.DType, name);
            CollectionAssert.AreEqual(expected.shape, info.Shape, name);
            Assert.AreEqual(0, info.Offset % expected.ElementSize, $"{name} is not aligned to its element size");
            TensorAssert.SameBytes(expected, file.Read(name), name);
        }
    }

    [TestMethod]
    public void HeaderIsPaddedToEightBytesAndTensorsAreOrderedLikeTheReference()
    {
        using var tmp = new TempFolder();
        using var scope = torch.NewDisposeScope();
        string path = tmp.File("x.safetensors");
        SafeTensorsFile.Save(path, new Dictionary<string, torch.Tensor> { ["b"] = torch.ones(3), ["a"] = torch.ones(1, dtype: torch.ScalarType.Int8), ["c"] = torch.ones(2, dtype: torch.ScalarType.Float64) });
        var bytes = File.ReadAllBytes(path);
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.AreEqual(0UL, n % 8);
        string header = Encoding.UTF8.GetString(bytes, 8, (int)n);
        // Largest element first (alignment), then by name; padding is spaces.
        Assert.IsTrue(header.StartsWith("{\"c\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]},\"b\":", StringComparison.Ordinal), header);
        Assert.AreEqual(header.TrimEnd(' ').Length, header.TrimEnd().Length);
        Assert.AreEqual(8 + (long)n + 16 + 12 + 1, bytes.Length);
    }

    [TestMethod]
    public void ReadsTheReferenceImplementationsFileAndRewritesItByteForByte()
    {
        using var tmp = new TempFolder();
        using var scope = torch.NewDisposeScope();
        using var file = SafeTensorsFile.Open(BertTinyWeights);
        Assert.AreEqual(41, file.Tensors.Count);
        Assert.AreEqual("pt", file.Metadata["format"]);
        var info = file.Info("bert.embeddings.word_embeddings.weight");
        Assert.AreEqual("F32", info.DType);
        CollectionAssert.AreEqual(new long[] { 30522, 64 }, info.Shape);

        // The tensor holds exactly the file bytes at Offset (checked independently of TorchSharp's reader).
        var classifier = file.Info("classifier.weight");
        var raw = new byte[classifier.Length];
        using (var stream = File.OpenRead(BertTinyWeights))
        {
            stream.Position = classifier.Offset;
            stream.ReadExactly(raw);
        }
        var values = file.Read("classifier.weight").data<float>().ToArray();
        for (int i = 0; i < values.Length; i++)
            Assert.AreEqual(BinaryPrimitives.ReadSingleLittleEndian(raw.AsSpan(4 * i)), values[i]);

        // Writing the same tensors back gives the identical file (same header layout and data order).
        string copy = tmp.File("copy.safetensors");
        SafeTensorsFile.Save(copy, file.Tensors.Select(t => KeyValuePair.Create(t.Name, file.Read(t.Name))), file.Metadata);
        CollectionAssert.AreEqual(File.ReadAllBytes(BertTinyWeights), File.ReadAllBytes(copy));
    }

    [TestMethod]
    public void ReadConvertsDtypeOnRequest()
    {
        using var scope = torch.NewDisposeScope();
        using var file = SafeTensorsFile.Open(BertTinyWeights);
        var bf16 = file.Read("classifier.bias", torch.ScalarType.BFloat16, torch.CPU);
        Assert.AreEqual(torch.ScalarType.BFloat16, bf16.dtype);
        var f32 = file.Read("classifier.bias");
        TensorAssert.SameBytes(f32.to(torch.ScalarType.BFloat16), bf16, "classifier.bias");
    }

    [TestMethod]
    public void LargeTensorsAreReadAndWrittenInChunks()
    {
        using var tmp = new TempFolder();
        using var scope = torch.NewDisposeScope();
        long saved = SafeTensorsFile.MaxChunkBytes;
        SafeTensorsFile.MaxChunkBytes = 28; // 7 floats per chunk: several chunks, the last one partial
        try
        {
            var big = torch.arange(100, dtype: torch.ScalarType.Float32).reshape(4, 25);
            string path = tmp.File("chunks.safetensors");
            SafeTensorsFile.Save(path, [KeyValuePair.Create("big", big)]);
            using var file = SafeTensorsFile.Open(path);
            TensorAssert.SameBytes(big, file.Read("big"), "big");
        }
        finally
        {
            SafeTensorsFile.MaxChunkBytes = saved;
        }
    }

    [TestMethod]
    public void NonContiguousAndOffsetViewsAreSavedByValue()
    {
        using var tmp = new TempFolder();
        using var scope = torch.NewDisposeScope();
        var source = torch.arange(12, dtype: torch.ScalarType.Float32).reshape(3, 4);
        var transposed = source.t();            // not contiguous
        var rows = source.narrow(0, 1, 2);      // contiguous, storage offset 4
        string path = tmp.File("views.safetensors");
        SafeTensorsFile.Save(path, new Dictionary<string, torch.Tensor> { ["t"] = transposed, ["rows"] = rows });
        using var file = SafeTensorsFile.Open(path);
        TensorAssert.SameBytes(transposed, file.Read("t"), "t");
        TensorAssert.SameBytes(rows, file.Read("rows"), "rows");
    }

    [TestMethod]
    public void UnknownTensorNameIsAKeyNotFoundNamingTheFile()
    {
        using var file = SafeTensorsFile.Open(BertTinyWeights);
        var e = Assert.ThrowsExactly<KeyNotFoundException>(() => file.Read("nope"));
        StringAssert.Contains(e.Message, "nope");
        StringAssert.Contains(e.Message, "model.safetensors");
    }

    [TestMethod]
    public void TruncatedFileIsRejectedNamingTheFileAndTensor()
    {
        using var tmp = new TempFolder();
        string path = tmp.File("truncated.safetensors");
        var bytes = File.ReadAllBytes(BertTinyWeights);
        File.WriteAllBytes(path, bytes[..^100]);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => SafeTensorsFile.Open(path));
        StringAssert.Contains(e.Message, path);
        StringAssert.Contains(e.Message, "classifier.weight"); // the last tensor, cut short
        StringAssert.Contains(e.Message, "truncated");
    }

    [TestMethod]
    public void HeaderLengthBeyondTheCapOrTheFileIsRejected()
    {
        using var tmp = new TempFolder();
        string huge = tmp.File("huge.safetensors");
        WriteRaw(huge, "{}", [], headerLength: 1UL << 40);
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => SafeTensorsFile.Open(huge)).Message, "exceeds");

        string past = tmp.File("past.safetensors");
        WriteRaw(past, "{}", [], headerLength: 1000);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => SafeTensorsFile.Open(past));
        StringAssert.Contains(e.Message, "runs past the end");
        StringAssert.Contains(e.Message, past);

        string tiny = tmp.File("tiny.safetensors");
        File.WriteAllBytes(tiny, [1, 2, 3]);
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => SafeTensorsFile.Open(tiny)).Message, "too short");
    }

    [TestMethod]
    [DataRow("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,1000]}}", 16, "w", "past the end", DisplayName = "offsets out of range")]
    [DataRow("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,12]}}", 12, "w", "needs 16", DisplayName = "size mismatch")]
    [DataRow("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,0]}}", 16, "w", "begin after", DisplayName = "begin after end")]
    [DataRow("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}", 24, "b", "overlap", DisplayName = "overlapping tensors")]
    [DataRow("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "a", "gap", DisplayName = "gap")]
    [DataRow("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, "safetensors", "trailing", DisplayName = "trailing bytes")]
    [DataRow("{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4, "w", "F8_E4M3", DisplayName = "unsupported dtype")]
    [DataRow("{\"w\":{\"dtype\":\"float\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16, "w", "'float' is not supported", DisplayName = "bad dtype")]
    [DataRow("{\"w\":{\"dtype\":\"F32\",\"shape\":[-4],\"data_offsets\":[0,16]}}", 16, "w", "non-negative", DisplayName = "negative dimension")]
    [DataRow("{\"w\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,16]}}", 16, "w", "overflows", DisplayName = "shape overflow")]
    [DataRow("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0]}}", 16, "w", "data_offsets", DisplayName = "one offset")]
    [DataRow("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,16]}}", 16, "w", "'shape' is missing", DisplayName = "no shape")]
    [DataRow("{\"w\":[1,2]}", 0, "w", "not an object", DisplayName = "entry not an object")]
    [DataRow("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "w", "twice", DisplayName = "duplicate name")]
    [DataRow("{\"__metadata__\":{\"format\":1}}", 0, "safetensors", "not a string", DisplayName = "metadata not strings")]
    [DataRow("{not json", 0, "safetensors", "not valid JSON", DisplayName = "bad JSON")]
    [DataRow("[1,2,3]", 0, "safetensors", "not an object", DisplayName = "header not an object")]
    public void CorruptHeadersAreRejectedNamingTheFileAndTensor(string header, int dataBytes, string expectedName, string expectedProblem)
    {
        using var tmp = new TempFolder();
        string path = tmp.File("bad.safetensors");
        WriteRaw(path, header, new byte[dataBytes]);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => SafeTensorsFile.Open(path));
        StringAssert.Contains(e.Message, path);
        StringAssert.Contains(e.Message, expectedName);
        StringAssert.Contains(e.Message, expectedProblem);
    }

    [TestMethod]
    public void SaveRejectsBadInputBeforeTouchingTheExistingFile()
    {
        using var tmp = new TempFolder();
        using var scope = torch.NewDisposeScope();
        string path = tmp.File("keep.safetensors");
        SafeTensorsFile.Save(path, [KeyValuePair.Create("w", torch.ones(2))]);
        var before = File.ReadAllBytes(path);

        var complex = torch.ones(2, dtype: torch.ScalarType.ComplexFloat32);
        var e = Assert.ThrowsExactly<ArgumentException>(() =>
            SafeTensorsFile.Save(path, [KeyValuePair.Create("w", torch.zeros(2)), KeyValuePair.Create("z", complex)]));
        StringAssert.Contains(e.Message, "'z'");
        Assert.ThrowsExactly<ArgumentException>(() =>
            SafeTensorsFile.Save(path, [KeyValuePair.Create("__metadata__", torch.zeros(2))]));

        CollectionAssert.AreEqual(before, File.ReadAllBytes(path));
        Assert.AreEqual(1, Directory.GetFiles(tmp.Path).Length, "a temporary file was left behind");
    }

    [TestMethod]
    public void AWriterThatFailsHalfwayLeavesTheOldFileIntact()
    {
        using var tmp = new TempFolder();
        string path = tmp.File("data.bin");
        File.WriteAllText(path, "old content");
        Assert.ThrowsExactly<IOException>(() => AtomicFile.Write(path, stream =>
        {
            stream.Write(new byte[4096]);
            throw new IOException("disk full (simulated)");
        }));
        Assert.AreEqual("old content", File.ReadAllText(path));
        CollectionAssert.AreEqual(new[] { path }, Directory.GetFiles(tmp.Path));
    }

    /// <summary>Writes a safetensors-like file by hand: header length (or a forged one), header bytes, data.</summary>
    private static void WriteRaw(string path, string header, byte[] data, ulong? headerLength = null)
    {
        var headerBytes = Encoding.UTF8.GetBytes(header);
        var length = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, headerLength ?? (ulong)headerBytes.Length);
        File.WriteAllBytes(path, [.. length, .. headerBytes, .. data]);
    }
}
