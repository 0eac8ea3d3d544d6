using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using Microsoft.ML;
using MLNetLlmClassifier.Bert;
using MLNetLlmClassifier.MLNet;
using MLNetLlmClassifier.Training;

namespace MLNetLlmClassifier.Tests.MLNet;

/// <summary>
/// Tampered model.zip files: every value read from the header is checked before it is used, and a bad one fails
/// at once with one line naming the model directory and the field (issue 11, item 1).
/// </summary>
[TestClass]
public class HostileModelZipTests
{
    private static TempFolder _temp = null!;
    private static string _zip = "";

    [ClassInitialize]
    public static void Init(TestContext _)
    {
        _temp = new TempFolder();
        _zip = _temp.File("model.zip");
        SaveTinyModel(_temp, _zip);
    }

    /// <summary>
    /// Fits a tiny random BERT on 32 synthetic rows with four classes named "C0".."C3" (one length, so that one can be
    /// overwritten with another in place) and saves the ML.NET model (no MapKeyToValue: PredictedLabel stays a key).
    /// </summary>
    internal static void SaveTinyModel(TempFolder temp, string zip, Action<TextClassifierTransformer>? tamper = null)
    {
        var checkpoint = temp.File("bert-" + Guid.NewGuid().ToString("N"));
        BertFamily.Instance.CreateRandomCheckpoint(new("tiny", TestPaths.Shared("models", "bert-uncased-vocab", "vocab.txt"), checkpoint, Seed: 1));
        var ml = new MLContext(seed: 1);
        var labels = new Dictionary<string, string>();
        var rows = MLNetLlmClassifier.Tests.Bert.BertTrainerTests.Synthetic(32, 1)
            .Select(r => new MLNetLlmClassifier.Tests.Bert.BertTrainerTests.Row
            {
                Label = labels.TryGetValue(r.Label, out var l) ? l : labels[r.Label] = "C" + labels.Count,
                Sentence1 = r.Sentence1,
            }).ToList();
        var data = ml.Data.LoadFromEnumerable(rows);
        using var model = ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(ml.MulticlassClassification.Trainers.BertTextClassification(new BertTextClassificationTrainer.Options
            {
                ModelPath = checkpoint,
                BatchSize = 16,
                NumberOfEpochs = 1,
                MaxSequenceLength = 16,
                Seed = 1,
                Device = "cpu",
            })).Fit(data);
        tamper?.Invoke(((IEnumerable<ITransformer>)model).OfType<TextClassifierTransformer>().Single());
        ml.Model.Save(model, data.Schema, zip);
    }

    [ClassCleanup]
    public static void Cleanup() => _temp?.Dispose();

    /// <summary>Where each value of our header lies in the Model.key entry of the transformer's directory.</summary>
    internal sealed record HeaderLayout(string EntryName, byte[] Bytes, int ClassCount, List<(int Offset, int Length)> ClassNames,
        int ClassCountOffset, int BatchSizeOffset, int FileCountOffset, List<(int Offset, int Length)> FileNames);

    internal static HeaderLayout ReadLayout(string zip)
    {
        using var archive = ZipFile.OpenRead(zip);
        var magic = Encoding.UTF8.GetBytes("MLNetLlmClassifier.Model");
        foreach (var entry in archive.Entries.Where(e => e.Name == "Model.key"))
        {
            using var ms = new MemoryStream();
            using (var s = entry.Open()) s.CopyTo(ms);
            var bytes = ms.ToArray();
            int at = bytes.AsSpan().IndexOf([(byte)magic.Length, .. magic]);
            if (at < 0) continue;
            var r = new BinaryReader(new MemoryStream(bytes), Encoding.UTF8);
            r.BaseStream.Position = at;
            r.ReadString(); r.ReadString(); r.ReadUInt32(); r.ReadUInt32();
            int streams = r.ReadInt32();
            for (int i = 0; i < streams; i++) r.ReadString();
            r.ReadInt64();
            r.ReadString(); // text column
            if (r.ReadBoolean()) r.ReadString();
            r.ReadString(); r.ReadString();
            int classCountOffset = (int)r.BaseStream.Position;
            int classCount = r.ReadInt32();
            var names = new List<(int, int)>();
            for (int i = 0; i < classCount; i++)
            {
                int start = (int)r.BaseStream.Position;
                string n = r.ReadString();
                names.Add((start + 1, Encoding.UTF8.GetByteCount(n)));
            }
            int batchOffset = (int)r.BaseStream.Position;
            r.ReadInt32();
            int fileCountOffset = (int)r.BaseStream.Position;
            int files = r.ReadInt32();
            var fileNames = new List<(int, int)>();
            for (int i = 0; i < files; i++)
            {
                int start = (int)r.BaseStream.Position;
                string n = r.ReadString();
                fileNames.Add((start + 1, Encoding.UTF8.GetByteCount(n)));
            }
            return new HeaderLayout(entry.FullName, bytes, classCount, names, classCountOffset, batchOffset, fileCountOffset, fileNames);
        }
        throw new InvalidOperationException($"{zip} has no MLNetLlmClassifier header.");
    }

    /// <summary>A copy of <paramref name="zip"/> whose header entry is changed by <paramref name="edit"/>.</summary>
    internal static string Tampered(string zip, string name, Action<HeaderLayout, byte[]> edit)
    {
        var layout = ReadLayout(zip);
        var bytes = (byte[])layout.Bytes.Clone();
        edit(layout, bytes);
        var copy = Path.Combine(Path.GetDirectoryName(zip)!, $"tampered-{name}.zip");
        File.Copy(zip, copy, overwrite: true);
        using (var archive = ZipFile.Open(copy, ZipArchiveMode.Update))
        {
            archive.GetEntry(layout.EntryName)!.Delete();
            using var s = archive.CreateEntry(layout.EntryName).Open();
            s.Write(bytes);
        }
        return copy;
    }

    internal static void WriteInt(byte[] bytes, int offset, int value) => BitConverter.TryWriteBytes(bytes.AsSpan(offset, 4), value);

    /// <summary>The innermost exception of a load failure (ML.NET may wrap ours).</summary>
    internal static Exception Innermost(Exception e)
    {
        while (e.InnerException is not null) e = e.InnerException;
        return e;
    }

    private static void AssertFailsFast(string zip, params string[] expected)
    {
        var ml = new MLContext(seed: 1).RegisterMLNetLlmClassifier(loadDevice: "cpu");
        var watch = Stopwatch.StartNew();
        ITransformer? loaded = null;
        Exception? error = null;
        // Run on a separate thread with a deadline, so that a regression that hangs fails instead of stalling the suite.
        var task = Task.Run(() =>
        {
            try
            {
                loaded = ml.Model.Load(zip, out _);
                // A model that loads must also score (a batch size of 0 used to hang here).
                var engine = ml.Model.CreatePredictionEngine<MLNetLlmClassifier.Tests.Bert.BertTrainerTests.Row, Prediction>(loaded);
                engine.Predict(new MLNetLlmClassifier.Tests.Bert.BertTrainerTests.Row { Label = "C0", Sentence1 = "a b c" });
            }
            catch (Exception e)
            {
                error = e;
            }
            finally
            {
                (loaded as IDisposable)?.Dispose();
            }
        });
        Assert.IsTrue(task.Wait(TimeSpan.FromSeconds(20)), $"{Path.GetFileName(zip)}: loading did not end within 20 s");
        Assert.IsLessThan(5.0, watch.Elapsed.TotalSeconds, $"{Path.GetFileName(zip)}: took {watch.Elapsed.TotalSeconds:F1} s");
        Assert.IsNotNull(error, $"{Path.GetFileName(zip)} loaded and scored without an error");
        var inner = Innermost(error);
        Console.WriteLine($"{Path.GetFileName(zip)}: {watch.Elapsed.TotalMilliseconds:F0} ms: {inner.GetType().Name}: {inner.Message}");
        Assert.IsInstanceOfType<InvalidDataException>(inner, $"{Path.GetFileName(zip)}: {inner}");
        Assert.DoesNotContain("\n", inner.Message, inner.Message);
        StringAssert.Contains(inner.Message, "Model directory '", inner.Message);
        foreach (var e in expected)
            StringAssert.Contains(inner.Message, e, inner.Message);
    }

    internal sealed class Prediction
    {
        public float[] Score { get; set; } = [];
    }

    [TestMethod]
    public void AnIntactModelLoadsAndScores()
    {
        var ml = new MLContext(seed: 1).RegisterMLNetLlmClassifier(loadDevice: "cpu");
        var loaded = ml.Model.Load(_zip, out _);
        using (loaded as IDisposable)
        {
            var engine = ml.Model.CreatePredictionEngine<MLNetLlmClassifier.Tests.Bert.BertTrainerTests.Row, Prediction>(loaded);
            var scores = engine.Predict(new MLNetLlmClassifier.Tests.Bert.BertTrainerTests.Row { Label = "C0", Sentence1 = "a b c" }).Score;
            Assert.HasCount(4, scores);
            Assert.AreEqual(1.0, scores.Sum(), 1e-4);
        }
    }

    [TestMethod]
    [DataRow(0)]
    [DataRow(-1)]
    [DataRow(int.MinValue)]
    [DataRow(65_537)]
    public void ABatchSizeOutOfRangeFailsFast(int batchSize) =>
        AssertFailsFast(Tampered(_zip, $"batch{batchSize}", (l, b) => WriteInt(b, l.BatchSizeOffset, batchSize)),
            "batchSize", $"= {batchSize}");

    [TestMethod]
    [DataRow(-5)]
    [DataRow(0)]
    [DataRow(int.MaxValue)]
    [DataRow(1_000_001)]
    public void AClassCountOutOfRangeFailsFast(int count) =>
        AssertFailsFast(Tampered(_zip, $"classes{count}", (l, b) => WriteInt(b, l.ClassCountOffset, count)),
            "classCount", $"= {count}");

    [TestMethod]
    public void AClassCountThatDisagreesWithTheNamesFails() =>
        // Three classes read where four were written: the fourth name is read as the batch size, and so on.
        AssertFailsFast(Tampered(_zip, "classes3", (l, b) => WriteInt(b, l.ClassCountOffset, l.ClassCount - 1)), "header field");

    [TestMethod]
    public void ADuplicateClassNameFails() =>
        AssertFailsFast(Tampered(_zip, "duplicate", (l, b) =>
        {
            var (from, length) = l.ClassNames[0];
            var (to, length1) = l.ClassNames[1];
            Assert.AreEqual(length, length1);
            Array.Copy(b, from, b, to, length);
        }), "classNames[1]", "appears twice");

    [TestMethod]
    [DataRow(-1)]
    [DataRow(0)]
    [DataRow(int.MaxValue)]
    public void AFileCountOutOfRangeFailsFast(int count) =>
        AssertFailsFast(Tampered(_zip, $"files{count}", (l, b) => WriteInt(b, l.FileCountOffset, count)), "fileCount", $"= {count}");

    [TestMethod]
    public void AFileNameThatLeavesTheFolderFails() =>
        AssertFailsFast(Tampered(_zip, "traversal", (l, b) =>
        {
            var (at, length) = l.FileNames[0];
            Assert.IsGreaterThanOrEqualTo(4, length);
            "../"u8.CopyTo(b.AsSpan(at, 3));
        }), "files[0]", "not a plain file name");

    [TestMethod]
    public void AMissingEntryIsNamedAsMissingNotListedAsPresent()
    {
        // The header still lists config.json, but its zip entry was deleted: the message says the entry is missing (it used to say
        // "has no stream 'config.json'. Streams present: ..., config.json, ...").
        var layout = ReadLayout(_zip);
        string entry = layout.EntryName[..layout.EntryName.LastIndexOf('/')] + "/config.json";
        var cut = _temp.File("missing-entry.zip");
        File.Copy(_zip, cut, overwrite: true);
        using (var archive = ZipFile.Open(cut, ZipArchiveMode.Update))
            archive.GetEntry(entry)!.Delete();
        AssertFailsFast(cut, "lists the stream 'config.json'", $"no entry '{entry}'", "altered or cut short");
    }

    [TestMethod]
    public void AZipBombEntryIsRefusedBeforeExtraction()
    {
        // vocab.txt replaced by 256 MiB of zeros, about 250 KB compressed (1000×): refused on the declared sizes.
        var layout = ReadLayout(_zip);
        string entry = layout.EntryName[..layout.EntryName.LastIndexOf('/')] + "/vocab.txt";
        var bomb = _temp.File("bomb.zip");
        File.Copy(_zip, bomb, overwrite: true);
        using (var archive = ZipFile.Open(bomb, ZipArchiveMode.Update))
        {
            archive.GetEntry(entry)!.Delete();
            using var s = archive.CreateEntry(entry, CompressionLevel.SmallestSize).Open();
            var zeros = new byte[1 << 20];
            for (int i = 0; i < 256; i++) s.Write(zeros);
        }
        Assert.IsLessThan(2L << 20, new FileInfo(bomb).Length - new FileInfo(_zip).Length, $"{new FileInfo(bomb).Length} vs {new FileInfo(_zip).Length}");
        var before = Directory.GetDirectories(Path.GetTempPath(), "mlnetllm-load-*").Length;
        AssertFailsFast(bomb, "zip bomb", "vocab.txt", "nothing was extracted");
        Assert.AreEqual(before, Directory.GetDirectories(Path.GetTempPath(), "mlnetllm-load-*").Length, "no temp folder is left");
    }

    [TestMethod]
    public void ACopyStopsAtTheDeclaredLength()
    {
        using var source = new MemoryStream(new byte[1000]);
        using var destination = new MemoryStream();
        var e = Assert.ThrowsExactly<InvalidDataException>(() => ModelZipLimits.CopyBounded(source, destination, 999, "stream 'x'"));
        StringAssert.Contains(e.Message, "stream 'x' holds more than the 999 bytes");
        Assert.IsLessThanOrEqualTo(999L, destination.Length);
        source.Position = 0;
        destination.SetLength(0);
        Assert.AreEqual(1000L, ModelZipLimits.CopyBounded(source, destination, 1000, "stream 'x'"));
    }

    [TestMethod]
    public void TheSamplerRefusesABatchSizeBelowOne()
    {
        int[] lengths = [3, 1, 2];
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => LengthBucketSampler.InferenceBatches(lengths, 0));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => LengthBucketSampler.InferenceBatches(lengths, -1));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => LengthBucketSampler.TrainingBatches(lengths, 0, new Random(1)));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => LengthBucketSampler.TrainingBatches(lengths, -3, new Random(1)));
        Assert.HasCount(1, LengthBucketSampler.InferenceBatches(lengths, int.MaxValue));
        Assert.HasCount(1, LengthBucketSampler.TrainingBatches(lengths, int.MaxValue, new Random(1)));
    }
}
