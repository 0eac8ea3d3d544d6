using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;
using MLNetLlmClassifier.Bert;
using MLNetLlmClassifier.Cli;
using MLNetLlmClassifier.Data;
using MLNetLlmClassifier.MlNetTextClassification;
using TorchSharp;

namespace MLNetLlmClassifier.Tests.MlNetTextClassification;

/// <summary>
/// ML.NET's own TextClassification (Microsoft.ML.TorchSharp 0.24.0) on TorchSharp 0.107, through this repository's build fix and the
/// family that puts it beside our trainers. Offline: the random stand-in with the exact shapes of NasBert2000000.tsm.
/// </summary>
[TestClass]
public class MlNetTextClassificationTests
{
    private static string _temp = "";
    private static TextClassificationTable _train = null!, _test = null!;

    [ClassInitialize]
    public static void Init(TestContext _)
    {
        _temp = Path.Combine(Path.GetTempPath(), $"mlnetllm-nasbert-{Guid.NewGuid():N}");
        Directory.CreateDirectory(_temp);
        var sample = StratifiedSplit.Sample(EmbeddedData.LoadAgNewsSample(renameLabels: true), 60, seed: 1);
        var split = StratifiedSplit.Split(sample, [200.0 / 240, 40.0 / 240], seed: 1);
        (_train, _test) = (split[0], split[1]);
    }

    [ClassCleanup]
    public static void Cleanup()
    {
        if (Directory.Exists(_temp)) Directory.Delete(_temp, recursive: true);
    }

    private static MLContext Context(int seed = 1) => new(seed) { TempFilePath = _temp };

    private static MlNetTextClassificationFamily.Options Options(int? seed = 5) => new()
    {
        RandomWeights = true,
        NumberOfEpochs = 1,
        BatchSize = 32,
        LearningRate = 1e-3,
        Seed = seed,
        Device = "cpu",
    };

    private static IEstimator<ITransformer> Pipeline(MLContext ml, MlNetTextClassificationFamily.Options o) =>
        ml.Transforms.Conversion.MapValueToKey("Label", keyOrdinality: ValueToKeyMappingEstimator.KeyOrdinality.ByValue)
            .Append(MlNetTextClassificationFamily.Instance.CreateEstimator(ml, o))
            .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel"));

    private static float[][] Scores(IDataView scored) =>
        scored.GetColumn<VBuffer<float>>("Score").Select(v => v.DenseValues().ToArray()).ToArray();

    [TestMethod]
    public void TheBuildFixKeepsTheEncodersWeights()
    {
        // Guard: without build/MLNetTorchSharpDisposeFix.targets, ModelUtils.Init* dispose the parameters they initialise and the
        // state dict of a freshly built encoder has invalid tensors (and Fit fails with "Mismatched state_dict sizes").
        using var encoder = NasBertStandIn.Create();
        var state = encoder.state_dict();
        Assert.AreEqual(142, state.Count, "NasBertEncoder's state dict");
        foreach (var (name, tensor) in state)
            Assert.IsTrue(tensor.Handle != IntPtr.Zero && tensor.numel() > 0, $"{name} was disposed: the Microsoft.ML.TorchSharp dispose fix is missing from this build output");
        long parameters = state.Values.Sum(t => t.numel());
        Assert.IsTrue(parameters is > 4_000_000 and < 5_000_000, $"{parameters} parameters");

        // The package as published still needs the fix: the four methods of its ModelUtils still have the pattern. When this fails,
        // upstream has fixed dotnet/machinelearning#7350: drop the fix.
        var original = OriginalAssembly();
        // The build task reads the metadata tables by hand (MSBuild inline tasks lack System.Reflection.Metadata): check it against SRM.
        var expected = DisposeCallsBySystemReflectionMetadata(original);
        var actual = ModelUtilsDisposePatch.Find(File.ReadAllBytes(original), out _);
        CollectionAssert.AreEqual(expected, actual, $"SRM: {string.Join(", ", expected)}; the task: {string.Join(", ", actual)}");
        int patched = ModelUtilsDisposePatch.Patch(File.ReadAllBytes(original), out int already);
        Assert.AreEqual(4, patched, $"{original}: upstream Microsoft.ML.TorchSharp no longer disposes initialised weights; remove the dispose fix");
        Assert.AreEqual(0, already);
        // Our output copy is patched, and patching it again changes nothing.
        var output = typeof(Microsoft.ML.TorchSharp.NasBert.TextClassificationTrainer).Assembly.Location;
        Assert.AreEqual(0, ModelUtilsDisposePatch.Patch(File.ReadAllBytes(output), out already));
        Assert.AreEqual(4, already, $"{output} is not patched");
    }

    /// <summary>File offsets of `callvirt IDisposable::Dispose` in ModelUtils.Init*, found with System.Reflection.Metadata.</summary>
    private static List<int> DisposeCallsBySystemReflectionMetadata(string path)
    {
        var bytes = File.ReadAllBytes(path);
        using var pe = new System.Reflection.PortableExecutable.PEReader(new MemoryStream(bytes));
        var md = System.Reflection.Metadata.PEReaderExtensions.GetMetadataReader(pe);
        var found = new List<int>();
        foreach (var th in md.TypeDefinitions)
        {
            var type = md.GetTypeDefinition(th);
            if (md.GetString(type.Name) != "ModelUtils") continue;
            foreach (var mh in type.GetMethods())
            {
                var method = md.GetMethodDefinition(mh);
                if (!md.GetString(method.Name).StartsWith("Init", StringComparison.Ordinal)) continue;
                var body = System.Reflection.Metadata.PEReaderExtensions.GetMethodBody(pe, method.RelativeVirtualAddress);
                var il = body.GetILBytes()!;
                var section = pe.PEHeaders.SectionHeaders.Single(h => method.RelativeVirtualAddress >= h.VirtualAddress && method.RelativeVirtualAddress < h.VirtualAddress + h.VirtualSize);
                int bodyStart = method.RelativeVirtualAddress - section.VirtualAddress + section.PointerToRawData;
                int header = (bytes[bodyStart] & 3) == 2 ? 1 : ((bytes[bodyStart] | bytes[bodyStart + 1] << 8) >> 12) * 4; // tiny or fat
                int ilStart = bodyStart + header;
                for (int i = 0; i + 4 < il.Length; i++)
                {
                    if (il[i] != 0x6F) continue;
                    var handle = System.Reflection.Metadata.Ecma335.MetadataTokens.EntityHandle(BitConverter.ToInt32(il, i + 1));
                    if (handle.Kind != System.Reflection.Metadata.HandleKind.MemberReference) continue;
                    var member = md.GetMemberReference((System.Reflection.Metadata.MemberReferenceHandle)handle);
                    if (md.GetString(member.Name) == "Dispose") found.Add(ilStart + i);
                }
            }
        }
        return found;
    }

    private static string OriginalAssembly()
    {
        var root = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } p ? p
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        var version = typeof(Microsoft.ML.TorchSharp.NasBert.TextClassificationTrainer).Assembly
            .GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
            .OfType<System.Reflection.AssemblyInformationalVersionAttribute>().Single().InformationalVersion.Split('+')[0];
        var path = Path.Combine(root, "microsoft.ml.torchsharp", version, "lib", "net8.0", "Microsoft.ML.TorchSharp.dll");
        Assert.IsTrue(File.Exists(path), $"{path} (the package as restored)");
        return path;
    }

    [TestMethod]
    public void FitsEvaluatesSavesLoadsAndPredictsFromTheRandomStandIn()
    {
        var ml = Context();
        var trainView = _train.ToDataView(ml);
        var model = Pipeline(ml, Options()).Fit(trainView);
        using var modelDisposal = model as IDisposable;
        Assert.IsTrue(File.Exists(Path.Combine(_temp, "mlnetllm-nasbert-random-standin", "mlnet", "NasBert2000000.tsm")), "the stand-in is built on the spot");
        Assert.IsFalse(File.Exists(Path.Combine(_temp, "mlnet", "NasBert2000000.tsm")), "never where ML.NET keeps the real weights");

        var scored = model.Transform(_test.ToDataView(ml));
        var metrics = ml.MulticlassClassification.Evaluate(scored);
        Assert.IsTrue(metrics.MicroAccuracy is >= 0 and <= 1);
        var report = MLNetLlmClassifier.Cli.Commands.EvaluateCommand.Evaluate(ml, model, _test, scoresAreLogits: true);
        Assert.IsTrue(report.LogLoss is > 0 and < 5, $"log-loss from probabilities: {report.LogLoss}");
        Assert.IsTrue(MLNetLlmClassifier.Cli.Commands.EvaluateCommand.ScoresAreLogits(model));

        var zip = Path.Combine(_temp, "nasbert.zip");
        ml.Model.Save(model, trainView.Schema, zip);
        var ml2 = new MLContext(seed: 9);
        var loaded = ml2.Model.Load(zip, out _);
        var before = Scores(scored);
        var after = Scores(loaded.Transform(_test.ToDataView(ml2)));
        for (int i = 0; i < before.Length; i++) CollectionAssert.AreEqual(before[i], after[i], $"row {i} after Save/Load");

        var engine = ml2.Model.CreatePredictionEngine<TextRow, Prediction>(loaded);
        var p = engine.Predict(new TextRow { Text = _test[0].Text });
        CollectionAssert.Contains(new[] { "World", "Sports", "Business", "Sci/Tech" }, p.PredictedLabel);
        CollectionAssert.AreEqual(before[0], p.Score);
    }

    [TestMethod]
    public void SeededRunsAreIdenticalFromTheStandInOrTheSameFileGivenAndOtherSeedsDiffer()
    {
        var small = new TextClassificationTable(_train.Take(64), "64 rows");
        var copy = Path.Combine(_temp, "my-weights.tsm");
        File.Copy(Path.Combine(NasBertStandIn.Ensure(_temp), "mlnet", "NasBert2000000.tsm"), copy, overwrite: true);
        float[][] Run(int seed, string? weights)
        {
            var ml = Context();
            var o = Options(seed);
            if (weights is not null) (o.RandomWeights, o.WeightsPath) = (false, weights);
            var model = Pipeline(ml, o).Fit(small.ToDataView(ml));
            using var modelDisposal = model as IDisposable;
            return Scores(model.Transform(_test.ToDataView(ml)));
        }
        var a = Run(5, null);
        var b = Run(5, copy);   // the same weights given as a file: the same model
        for (int i = 0; i < a.Length; i++) CollectionAssert.AreEqual(a[i], b[i], $"row {i}");
        var c = Run(6, null);
        Assert.IsTrue(a.Zip(c).Any(x => !x.First.SequenceEqual(x.Second)), "another seed gives other scores");
    }

    [TestMethod]
    public void OursAndTheBuiltInTrainInOneContextAndSaveInOnePipelineEach()
    {
        var ml = Context();
        var bert = Path.Combine(_temp, "bert");
        if (!Directory.Exists(bert))
            BertFamily.Instance.CreateRandomCheckpoint(new("tiny", TestPaths.Shared("models", "bert-uncased-vocab", "vocab.txt"), bert, Seed: 1));
        var data = _train.ToDataView(ml);
        var key = ml.Transforms.Conversion.MapValueToKey("Label", keyOrdinality: ValueToKeyMappingEstimator.KeyOrdinality.ByValue);
        // One pipeline: our BERT scores into its own columns, then ML.NET's TextClassification into Score/PredictedLabel.
        var pipeline = key
            .Append(ml.MulticlassClassification.Trainers.BertTextClassification(new BertTextClassificationTrainer.Options
            {
                ModelPath = bert,
                Sentence1ColumnName = "Text",
                ScoreColumnName = "BertScore",
                PredictedLabelColumnName = "BertPredictedLabel",
                NumberOfEpochs = 1,
                BatchSize = 32,
                MaxSequenceLength = 64,
                Seed = 1,
                Device = "cpu",
            }))
            .Append(MlNetTextClassificationFamily.Instance.CreateEstimator(ml, Options()));
        var model = pipeline.Fit(data);
        using var modelDisposal = model as IDisposable;
        var scored = model.Transform(_test.ToDataView(ml));
        var ours = scored.GetColumn<VBuffer<float>>("BertScore").Select(v => v.DenseValues().ToArray()).ToArray();
        var theirs = Scores(scored);
        Assert.AreEqual(_test.Count, ours.Length);
        Assert.AreEqual(_test.Count, theirs.Length);

        var zip = Path.Combine(_temp, "both.zip");
        ml.Model.Save(model, data.Schema, zip);
        var ml2 = new MLContext(seed: 3).RegisterMLNetLlmClassifier();
        var loaded = ml2.Model.Load(zip, out _);
        using (loaded as IDisposable)
        {
            var again = loaded.Transform(_test.ToDataView(ml2));
            var ours2 = again.GetColumn<VBuffer<float>>("BertScore").Select(v => v.DenseValues().ToArray()).ToArray();
            var theirs2 = Scores(again);
            for (int i = 0; i < ours.Length; i++)
            {
                CollectionAssert.AreEqual(ours[i], ours2[i], $"our row {i}");
                CollectionAssert.AreEqual(theirs[i], theirs2[i], $"ML.NET's row {i}");
            }
        }
    }

    [TestMethod]
    public void OfflineWithoutTheWeightsFailsFastWithOneLine()
    {
        var previous = Environment.GetEnvironmentVariable("MICROSOFTML_RESOURCE_PATH");
        // A loopback port nothing listens on: the download address does not answer.
        Environment.SetEnvironmentVariable("MICROSOFTML_RESOURCE_PATH", "http://127.0.0.1:9/");
        try
        {
            var empty = Path.Combine(_temp, "empty");
            Directory.CreateDirectory(empty);
            var ml = new MLContext(seed: 1) { TempFilePath = empty };
            var o = Options();
            o.RandomWeights = false;
            var sw = Stopwatch.StartNew();
            var e = Assert.ThrowsExactly<InvalidOperationException>(() => Pipeline(ml, o).Fit(_train.ToDataView(ml)));
            Assert.IsTrue(sw.Elapsed < TimeSpan.FromSeconds(20), $"took {sw.Elapsed}");
            StringAssert.Contains(e.Message, "NasBert2000000.tsm");
            StringAssert.Contains(e.Message, "WeightsPath");
            Assert.IsFalse(e.Message.Contains('\n'), "one line");
        }
        finally
        {
            Environment.SetEnvironmentVariable("MICROSOFTML_RESOURCE_PATH", previous);
        }
    }

    private sealed class TextRow
    {
        public string Text { get; set; } = "";
        public string Label { get; set; } = "";
    }

    private sealed class Prediction
    {
        public string PredictedLabel { get; set; } = "";
        public float[] Score { get; set; } = [];
    }
}
