using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetLlmClassifier.Cli.Commands;
using MLNetLlmClassifier.IO;
using MLNetLlmClassifier.MLNet;
using MLNetLlmClassifier.Tests.MLNet;

namespace MLNetLlmClassifier.Tests.IO;

/// <summary>
/// Ctrl-C and kills during a save (issue 11, item 8): the first Ctrl-C stops a save at its next write and the earlier model
/// stays; a second one exits after deleting this process's temporary files; what a kill leaves is removed by the next run;
/// a training --out is locked while it is written.
/// </summary>
[TestClass]
public class InterruptedSaveTests
{
    /// <summary>A process id no process has (Linux ids stay below 2^22).</summary>
    private const int DeadPid = 999_999_999;

    /// <summary>A transformer that runs <paramref name="onSave"/> when ML.NET starts saving it, then saves a dummy with a payload.</summary>
    private sealed class SaveHook(Action onSave, int payloadBytes) : ITransformer
    {
        private readonly DummyScaleTransformer _inner = new("X", 2f, ["a", "b"], new byte[payloadBytes]);
        public bool IsRowToRowMapper => true;
        public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => _inner.GetOutputSchema(inputSchema);
        public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => _inner.GetRowToRowMapper(inputSchema);
        public IDataView Transform(IDataView input) => _inner.Transform(input);
        public void Save(ModelSaveContext ctx)
        {
            onSave();
            _inner.Save(ctx);
        }
    }

    private sealed class Row
    {
        public float X { get; set; }
    }

    private static string[] TempSiblings(string path) =>
        Directory.GetFileSystemEntries(Path.GetDirectoryName(path)!, Path.GetFileName(path) + ".tmp-*");

    [TestMethod]
    public void CtrlCDuringSaveStopsTheSaveAndKeepsTheEarlierModel()
    {
        using var dir = new TempFolder();
        string zip = dir.File("model.zip");
        File.WriteAllText(zip, "the earlier model");
        var ml = new MLContext(seed: 1);
        var schema = ml.Data.LoadFromEnumerable(new[] { new Row { X = 1 } }).Schema;
        using var ctrlC = CtrlCCancellation.ForTest(TextWriter.Null);
        bool pressed = false;
        // Ctrl-C arrives once the save has begun, with 8 MB of the model still to write.
        var hook = new SaveHook(() => pressed = ctrlC.Press(), 8 << 20);

        var e = Assert.Throws<Exception>(() => CliCommon.SaveModelAtomically(ml, hook, schema, zip, ct: ctrlC.Token));
        Assert.IsTrue(pressed, "the first press keeps the process");
        Assert.IsInstanceOfType<OperationCanceledException>(CliCommon.Unwrap(e), e.ToString());
        Assert.AreEqual("the earlier model", File.ReadAllText(zip), "a cancelled save replaced the earlier model");
        Assert.IsEmpty(TempSiblings(zip), "the cancelled save left its temporary file");

        // The same save, not cancelled, replaces it.
        CliCommon.SaveModelAtomically(ml, new SaveHook(() => { }, 1024), schema, zip, ct: CancellationToken.None);
        Assert.AreNotEqual("the earlier model", File.ReadAllText(zip));
        Assert.IsEmpty(TempSiblings(zip));
    }

    [TestMethod]
    public void ASecondCtrlCExitsAndDeletesTheTemporaryFilesBeingWritten()
    {
        using var dir = new TempFolder();
        var log = new StringWriter();
        using var ctrlC = CtrlCCancellation.ForTest(log);
        string tmpFile = dir.File("model.zip.tmp-x");
        string tmpFolder = dir.File("mlnetllm-save-x");
        File.WriteAllText(tmpFile, "partial");
        Directory.CreateDirectory(tmpFolder);
        File.WriteAllText(Path.Combine(tmpFolder, "model.safetensors"), "partial");
        using var t1 = TempArtifacts.Track(tmpFile);
        using var t2 = TempArtifacts.Track(tmpFolder);

        Assert.IsTrue(ctrlC.Press(), "the first press must not end the process");
        Assert.IsTrue(ctrlC.Token.IsCancellationRequested);
        Assert.IsTrue(File.Exists(tmpFile), "the first press lets the writer clean up itself");

        Assert.IsFalse(ctrlC.Press(), "the second press must end the process (ConsoleCancelEventArgs.Cancel = false)");
        Assert.IsFalse(File.Exists(tmpFile), "the second press left a temporary file");
        Assert.IsFalse(Directory.Exists(tmpFolder), "the second press left a temporary folder");
        StringAssert.Contains(log.ToString(), "press Ctrl-C again to exit at once");
        StringAssert.Contains(log.ToString(), "exiting now");
    }

    /// <summary>An entry as a killed writer leaves it: named after <paramref name="pid"/>, last written <paramref name="age"/> ago.</summary>
    private static string Leftover(string folder, string prefix, int pid, TimeSpan age, bool asFolder)
    {
        string path = Path.Combine(folder, $"{prefix}{pid}-{Guid.NewGuid():N}");
        if (asFolder)
        {
            Directory.CreateDirectory(path);
            File.WriteAllBytes(Path.Combine(path, "model.safetensors"), new byte[4096]);
            Directory.SetLastWriteTimeUtc(path, DateTime.UtcNow - age);
        }
        else
        {
            File.WriteAllBytes(path, new byte[4096]);
            File.SetLastWriteTimeUtc(path, DateTime.UtcNow - age);
        }
        return path;
    }

    [TestMethod]
    public void TemporaryFilesOfKilledWritersAreRemovedByTheNextWrite()
    {
        using var dir = new TempFolder();
        string zip = dir.File("model.zip");
        var old = TimeSpan.FromMinutes(5);
        string dead = Leftover(dir.Path, "model.zip.tmp-", DeadPid, old, asFolder: false);
        string deadButFresh = Leftover(dir.Path, "model.zip.tmp-", DeadPid, TimeSpan.Zero, asFolder: false);
        string mine = Leftover(dir.Path, "model.zip.tmp-", Environment.ProcessId, old, asFolder: false);
        // Process 1 runs, but started long after 2001: its id was reused, the entry's writer is gone.
        string reusedId = Leftover(dir.Path, "model.zip.tmp-", 1, DateTime.UtcNow - new DateTime(2001, 1, 1, 0, 0, 0, DateTimeKind.Utc), asFolder: false);
        string otherFile = Leftover(dir.Path, "other.zip.tmp-", DeadPid, old, asFolder: false);

        AtomicFile.WriteAllText(zip, "new");

        Assert.IsFalse(File.Exists(dead), "a temporary file of a dead process was kept");
        Assert.IsFalse(File.Exists(reusedId), "a temporary file whose process id was reused was kept");
        Assert.IsTrue(File.Exists(deadButFresh), "a fresh temporary file was removed");
        Assert.IsTrue(File.Exists(mine), "a temporary file of a live process was removed");
        Assert.IsTrue(File.Exists(otherFile), "a temporary file of another target was removed");
        Assert.AreEqual("new", File.ReadAllText(zip));
    }

    [TestMethod]
    public void FolderWritersNameTheirTemporariesWithThePidAndRemoveThoseOfKilledWriters()
    {
        // AtomicFolder (random checkpoints, ONNX imports), the Hugging Face export and the comparison report all build a folder
        // beside its destination: a killed writer's leftover is removed by the next writer, a live or fresh one is kept.
        using var dir = new TempFolder();
        var old = TimeSpan.FromMinutes(5);
        string dead = Leftover(dir.Path, ".out.tmp-", DeadPid, old, asFolder: true);
        string deadOld = Leftover(dir.Path, ".out.old-", DeadPid, old, asFolder: true);
        string fresh = Leftover(dir.Path, ".out.tmp-", DeadPid, TimeSpan.Zero, asFolder: true);
        string seen = "";
        AtomicFolder.Build(Path.Combine(dir.Path, "out"), tmp => seen = Path.GetFileName(tmp));
        StringAssert.StartsWith(seen, $".out.tmp-{Environment.ProcessId}-", "the temporary folder is named with the writer's process id");
        Assert.IsFalse(Directory.Exists(dead), "a temporary folder of a killed writer was kept");
        Assert.IsTrue(Directory.Exists(fresh), "a fresh temporary folder (its writer may still be starting) was removed");
        Assert.IsTrue(Directory.Exists(deadOld), "only the '.tmp-' prefix is swept by a folder build");
        Assert.AreEqual(TempArtifacts.Sibling(Path.Combine(dir.Path, "out"), "old")[..^32], Path.Combine(dir.Path, $".out.old-{Environment.ProcessId}-"));
        Assert.IsFalse(Directory.Exists(deadOld), "the '.old-' sweep removes the killed writer's aside folder");
    }

    [TestMethod]
    public void ModelSizedSaveAndLoadFoldersOfKilledProcessesAreRemovedByTheNextSaveAndLoad()
    {
        using var dir = new TempFolder();
        string temp = Path.GetTempPath();
        var old = TimeSpan.FromMinutes(5);
        string save = Leftover(temp, TextClassifierTransformerPersistence.SaveFolderPrefix, DeadPid, old, asFolder: true);
        string load = Leftover(temp, TextClassifierTransformerPersistence.LoadFolderPrefix, DeadPid, old, asFolder: true);
        try
        {
            string zip = dir.File("model.zip");
            HostileModelZipTests.SaveTinyModel(dir, zip);
            Assert.IsFalse(Directory.Exists(save), "the save left a model folder of a killed save in the temp folder");
            var ml = new MLContext(seed: 1).RegisterMLNetLlmClassifier(loadDevice: "cpu");
            ((IDisposable)ml.Model.Load(zip, out _)).Dispose();
            Assert.IsFalse(Directory.Exists(load), "the load left a model folder of a killed load in the temp folder");
            // And neither leaves its own.
            Assert.IsEmpty(Directory.GetDirectories(temp, $"{TextClassifierTransformerPersistence.SaveFolderPrefix}{Environment.ProcessId}-*"));
            Assert.IsEmpty(Directory.GetDirectories(temp, $"{TextClassifierTransformerPersistence.LoadFolderPrefix}{Environment.ProcessId}-*"));
        }
        finally
        {
            foreach (var d in new[] { save, load }) if (Directory.Exists(d)) Directory.Delete(d, recursive: true);
        }
    }

    [TestMethod]
    public void AnOutputFileIsLockedWhileItIsWritten()
    {
        using var dir = new TempFolder();
        string zip = dir.File("model.zip");
        using (var held = CliCommon.LockOutputFile(zip, "--out"))
        {
            var e = Assert.Throws<IOException>(() => CliCommon.LockOutputFile(zip, "--out"));
            Console.WriteLine(e.Message);
            Assert.DoesNotContain("\n", e.Message);
            StringAssert.StartsWith(e.Message, $"--out {zip} is being written by another process (process {Environment.ProcessId} ");
            StringAssert.Contains(e.Message, held.Path);
        }
        Assert.IsEmpty(Directory.GetFileSystemEntries(dir.Path), "the released lock left its files");
        // A lock file left by a killed writer (unlocked) does not block.
        File.WriteAllText(zip + ".lock", "");
        CliCommon.LockOutputFile(zip, "--out").Dispose();
    }
}
