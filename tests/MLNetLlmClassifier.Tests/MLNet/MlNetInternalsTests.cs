using System.Diagnostics;
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetLlmClassifier.MLNet;

namespace MLNetLlmClassifier.Tests.MLNet;

[TestClass]
public sealed class MlNetInternalsTests
{
    /// <summary>Command that <see cref="Program"/> routes to <see cref="LoadInFreshProcess"/>.</summary>
    public const string LoadCommand = "load-dummy-model";

    private static readonly string[] Classes = ["low", "mid", "high"];

    public sealed class InputRow
    {
        public float X { get; set; }
        public string Label { get; set; } = "";
    }

    public sealed class OutputRow
    {
        public float Scaled { get; set; }
        public string PredictedLabelText { get; set; } = "";
        public string Label { get; set; } = "";
    }

    private static InputRow[] Rows() =>
    [
        new() { X = -2.5f, Label = "b" },
        new() { X = 0.25f, Label = "a" },
        new() { X = 1.5f, Label = "c" },
        new() { X = 3.75f, Label = "a" },
        new() { X = 7f, Label = "b" },
    ];

    private static byte[] Payload()
    {
        var bytes = new byte[4096 + 7];
        new Random(1234).NextBytes(bytes);
        return bytes;
    }

    private static MLContext NewContext()
    {
        var ml = new MLContext(seed: 1);
        MlNetInternals.RegisterLoader(DummyScaleTransformer.ModelFormat);
        ml.ComponentCatalog.RegisterMLNetLlmClassifier();
        return ml;
    }

    /// <summary>MapValueToKey(Label) → dummy → MapKeyToValue(PredictedLabel) → MapKeyToValue(Label).</summary>
    private static IEstimator<ITransformer> Pipeline(MLContext ml) =>
        ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(new DummyScaleEstimator("X", 1.5f, Classes, Payload()))
            .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabelText", DummyScaleTransformer.PredictedLabelColumn))
            .Append(ml.Transforms.Conversion.MapKeyToValue("Label"));

    /// <summary>One line per row, floats round-trippable, so two processes can be compared as text.</summary>
    private static string[] Describe(MLContext ml, ITransformer model)
    {
        var output = model.Transform(ml.Data.LoadFromEnumerable(Rows()));
        return ml.Data.CreateEnumerable<OutputRow>(output, reuseRowObject: false)
            .Select(r => string.Create(CultureInfo.InvariantCulture, $"{r.Scaled:R}\t{r.PredictedLabelText}\t{r.Label}"))
            .ToArray();
    }

    private static ITransformer FitPipeline(MLContext ml) => Pipeline(ml).Fit(ml.Data.LoadFromEnumerable(Rows()));

    /// <summary>Saves <paramref name="model"/> (input: <see cref="InputRow"/>) to a temp file, runs <paramref name="use"/> on its path, deletes it.</summary>
    private static void WithSavedModel(MLContext ml, ITransformer model, Action<string> use)
    {
        string path = Path.Combine(Path.GetTempPath(), $"mlnetllm-persist-{Guid.NewGuid():N}.zip");
        try
        {
            ml.Model.Save(model, ml.Data.LoadFromEnumerable(Rows()).Schema, path);
            use(path);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [TestMethod]
    public void EveryReflectedMlNetMemberExists()
    {
        // Fails first when a Microsoft.ML upgrade renames or removes an internal member we use.
        Assert.AreEqual(0, MlNetInternals.MissingMembers.Count,
            $"Microsoft.ML {MlNetInternals.MlNetVersion} lacks: {string.Join("; ", MlNetInternals.MissingMembers)}");
        Assert.IsTrue(Version.TryParse(MlNetInternals.MlNetVersion, out _), MlNetInternals.MlNetVersion);
    }

    [TestMethod]
    public void SaveLoad_TransformerAlone_RoundTripsHeaderStreamsAndOutputs()
    {
        var ml = NewContext();
        var data = ml.Data.LoadFromEnumerable(Rows());
        var transformer = new DummyScaleEstimator("X", -0.75f, Classes, Payload()).Fit(data);
        WithSavedModel(ml, transformer, path =>
        {
            var loaded = ml.Model.Load(path, out var inputSchema);

            // Model.Load wraps a single saved transformer in a TransformerChain.
            var inner = loaded is TransformerChain<ITransformer> chain ? chain.Single() : loaded;
            var dummy = (DummyScaleTransformer)inner;
            Assert.AreEqual("X", dummy.InputColumn);
            Assert.AreEqual(-0.75f, dummy.Factor);
            CollectionAssert.AreEqual(Classes, dummy.Classes.ToArray());
            CollectionAssert.AreEqual(Payload(), dummy.Payload);
            Assert.AreEqual("X", inputSchema[0].Name);

            float[] Scaled(ITransformer t) => t.Transform(data).GetColumn<float>(DummyScaleTransformer.ScaledColumn).ToArray();
            CollectionAssert.AreEqual(Rows().Select(r => r.X * -0.75f).ToArray(), Scaled(loaded));
            CollectionAssert.AreEqual(Scaled(transformer), Scaled(loaded));
        });
    }

    [TestMethod]
    public void SaveLoad_InPipeline_InNewMLContext_MatchesAndPredictionEngineWorks()
    {
        var ml = NewContext();
        var model = FitPipeline(ml);
        string[] expected = Describe(ml, model);
        // |-2.5 * 1.5| = 3.75 → floor 3 % 3 classes = 0 → key 1 → "low"; Label goes through key and back.
        Assert.AreEqual("-3.75\tlow\tb", expected[0]);
        WithSavedModel(ml, model, path =>
        {
            var fresh = new MLContext(seed: 2);
            fresh.ComponentCatalog.RegisterMLNetLlmClassifier();
            var loaded = fresh.Model.Load(path, out _);
            CollectionAssert.AreEqual(expected, Describe(fresh, loaded));

            var engine = fresh.Model.CreatePredictionEngine<InputRow, OutputRow>(loaded);
            var prediction = engine.Predict(new InputRow { X = 2f, Label = "c" });
            Assert.AreEqual(3f, prediction.Scaled);
            Assert.AreEqual("low", prediction.PredictedLabelText);
            Assert.AreEqual("c", prediction.Label);
        });
    }

    [TestMethod]
    public void Load_InNewMLContextWithoutRegistration_FailsUntilRegistered()
    {
        var ml = NewContext();
        var fresh = new MLContext(seed: 2);

        // A lone transformer, then one inside a chain: ML.NET's words for "no loader registered" (wrapped by
        // the TransformerChain loader's reflection in the second case).
        var lone = new DummyScaleEstimator("X", 1f, Classes, []).Fit(ml.Data.LoadFromEnumerable(Rows()));
        WithSavedModel(ml, lone, path => StringAssert.Contains(
            AllMessages(Assert.Throws<Exception>(() => fresh.Model.Load(path, out _))), "Couldn't load model: 'TransformerChain'"));
        var model = FitPipeline(ml);
        WithSavedModel(ml, model, path =>
        {
            StringAssert.Contains(AllMessages(Assert.Throws<Exception>(() => fresh.Model.Load(path, out _))),
                "Couldn't load model: 'TransformerChain/Transform_001'");

            fresh.ComponentCatalog.RegisterMLNetLlmClassifier();
            fresh.ComponentCatalog.RegisterMLNetLlmClassifier(); // idempotent
            fresh.RegisterMLNetLlmClassifier();
            CollectionAssert.AreEqual(Describe(ml, model), Describe(fresh, fresh.Model.Load(path, out _)));
        });
    }

    [TestMethod]
    public void Load_InFreshProcess_GivesSameOutputs()
    {
        var ml = NewContext();
        var model = FitPipeline(ml);
        WithSavedModel(ml, model, path =>
        {
            // The test assembly doubles as a console program (see Program.cs): a new runtime, nothing registered.
            string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";
            var start = new ProcessStartInfo(dotnet)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            start.ArgumentList.Add(typeof(MlNetInternalsTests).Assembly.Location);
            start.ArgumentList.Add(LoadCommand);
            start.ArgumentList.Add(path);
            using var child = Process.Start(start)!;
            var stderr = child.StandardError.ReadToEndAsync();
            string stdout = child.StandardOutput.ReadToEnd();
            Assert.IsTrue(child.WaitForExit(120_000), "child process did not finish");
            Assert.AreEqual(0, child.ExitCode, $"child failed: {stdout}\n{stderr.Result}");

            string[] lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            Assert.AreEqual("without registration: failed", lines[0]);
            CollectionAssert.AreEqual(Describe(ml, model), lines[1..]);
        });
    }

    /// <summary>Child-process side of <see cref="Load_InFreshProcess_GivesSameOutputs"/>.</summary>
    public static int LoadInFreshProcess(string modelPath)
    {
        try
        {
            new MLContext().Model.Load(modelPath, out _);
            Console.WriteLine("without registration: loaded");
        }
        catch (Exception e)
        {
            // Only ML.NET's "no loader registered" counts as the expected failure; a missing file or anything else is printed as such.
            string messages = AllMessages(e);
            Console.WriteLine(messages.Contains("Couldn't load model: 'TransformerChain/Transform_", StringComparison.Ordinal)
                ? "without registration: failed"
                : "without registration: failed otherwise: " + messages.ReplaceLineEndings(" "));
        }

        var ml = new MLContext(seed: 3);
        // Only because the dummy is not one of the library's built-in formats; for ours the next line suffices.
        MlNetInternals.RegisterLoader(DummyScaleTransformer.ModelFormat);
        ml.ComponentCatalog.RegisterMLNetLlmClassifier();
        var model = ml.Model.Load(modelPath, out _);
        foreach (string line in Describe(ml, model))
            Console.WriteLine(line);
        return 0;
    }

    [TestMethod]
    public void Load_ModelWrittenInNewerFormat_FailsNamingVersions()
    {
        var current = DummyScaleTransformer.ModelFormat with { LoaderSignature = "DUMMY-FUTURE" };
        var newer = current with { VerWritten = 0x00020000, VerReadable = 0x00020000 };
        MlNetInternals.RegisterLoader(current);
        var ml = NewContext();
        WithSavedModel(ml, new DummyScaleTransformer("X", 2f, Classes, Payload(), saveFormat: newer), path =>
        {
            string messages = AllMessages(Assert.Throws<Exception>(() => ml.Model.Load(path, out _)));
            StringAssert.Contains(messages, "newer MLNetLlmClassifier");
            StringAssert.Contains(messages, "00020000");
            StringAssert.Contains(messages, "DUMMY-FUTURE");
        });
    }

    [TestMethod]
    public void ModelReader_ExposesDirectoryVersionAndStreams()
    {
        MlNetModelReader? seen = null;
        bool absentFound = true;
        var probe = DummyScaleTransformer.ModelFormat with
        {
            LoaderSignature = "DUMMY-PROBE",
            Load = (env, reader) =>
            {
                seen = reader;
                absentFound = reader.TryReadStream("absent.bin", _ => { });
                var error = Assert.Throws<InvalidDataException>(() => reader.ReadStream("absent.bin", _ => { }));
                StringAssert.Contains(error.Message, "absent.bin");
                return DummyScaleTransformer.Load(env, reader);
            },
        };
        MlNetInternals.RegisterLoader(probe);
        var ml = NewContext();
        var data = ml.Data.LoadFromEnumerable(Rows());
        var model = ml.Transforms.Conversion.MapValueToKey("Label").Fit(data)
            .Append(new DummyScaleTransformer("X", 2f, Classes, Payload(), saveFormat: probe));
        WithSavedModel(ml, model, path => ml.Model.Load(path, out _));

        Assert.IsNotNull(seen);
        Assert.IsFalse(absentFound);
        Assert.AreEqual("DUMMY-PROBE", seen.LoaderSignature);
        Assert.AreEqual(probe.VerWritten, seen.VersionWritten);
        CollectionAssert.AreEqual(new[] { "config.json", "payload.bin" }, seen.StreamNames.ToArray());
        StringAssert.EndsWith(seen.Directory, "Transform_001");
    }

    [TestMethod]
    public void SaveModel_RejectsReservedDuplicateAndBadStreamNames()
    {
        var ml = NewContext();
        foreach (string[] names in new[] { new[] { "Model.key" }, new[] { "a.bin", "A.BIN" }, new[] { "dir/a.bin" }, new[] { "" } })
        {
            // Save throws before anything is written; WithSavedModel still cleans up the file ML.NET created.
            var error = Assert.Throws<ArgumentException>(() => WithSavedModel(ml, new StreamNamesTransformer(names), _ => { }));
            StringAssert.Contains(error.Message, DummyScaleTransformer.ModelFormat.LoaderSignature);
        }
    }

    [TestMethod]
    public void RegisterLoader_AnotherFormatUnderSameSignature_Throws()
    {
        MlNetInternals.RegisterLoader(DummyScaleTransformer.ModelFormat);
        MlNetInternals.RegisterLoader(DummyScaleTransformer.ModelFormat); // same format: fine
        var other = DummyScaleTransformer.ModelFormat with { ModelSignature = "OTHERSIG" };
        var error = Assert.Throws<InvalidOperationException>(() => MlNetInternals.RegisterLoader(other));
        StringAssert.Contains(error.Message, DummyScaleTransformer.ModelFormat.LoaderSignature);
        Assert.Throws<ArgumentException>(() => MlNetInternals.RegisterLoader(other with { LoaderSignature = "THIS-SIGNATURE-IS-LONGER-THAN-24" }));
    }

    private static string AllMessages(Exception error)
    {
        var messages = new List<string>();
        for (Exception? e = error; e is not null; e = e.InnerException)
            messages.Add(e.Message);
        return string.Join(" | ", messages);
    }

    /// <summary>Saves only streams with the given names, to test name validation.</summary>
    private sealed class StreamNamesTransformer(string[] names) : ITransformer
    {
        public bool IsRowToRowMapper => false;
        public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => inputSchema;
        public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => throw new NotSupportedException();
        public IDataView Transform(IDataView input) => input;

        public void Save(ModelSaveContext ctx) =>
            MlNetInternals.SaveModel(ctx, DummyScaleTransformer.ModelFormat, _ => { },
                names.Select(name => (name, (Action<Stream>)(_ => { }))));
    }
}
