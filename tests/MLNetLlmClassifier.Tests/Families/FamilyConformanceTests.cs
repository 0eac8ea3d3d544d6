using System.Text.Json.Nodes;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;
using MLNetLlmClassifier.Cli;
using MLNetLlmClassifier.Data;
using MLNetLlmClassifier.Families;
using static TorchSharp.torch;

namespace MLNetLlmClassifier.Tests.Families;

/// <summary>
/// One conformance check for every registered family, in the spirit of ML.NET's <c>TestEstimatorCore</c>: a family gets all of it by
/// registering. Fit on a small AG News sample (a tiny random checkpoint for families trained from one), Transform, Evaluate,
/// schema propagation, <c>Model.Save</c>/<c>Load</c> in a fresh context with identical scores, and bad-input errors; for checkpoint
/// families also the Hugging Face export and reload with identical scores and <c>logits</c>.
/// </summary>
[TestClass]
public class FamilyConformanceTests
{
    public static IEnumerable<object[]> Families
    {
        get
        {
            CliFamilies.EnsureRegistered();
            return ClassifierFamilies.All.Select(f => new object[] { f.Name });
        }
    }

    private static readonly Lazy<(TextClassificationTable Train, TextClassificationTable Test)> Data = new(() =>
    {
        var sample = StratifiedSplit.Sample(EmbeddedData.LoadAgNewsSample(renameLabels: true), 12, seed: 1);
        var split = StratifiedSplit.Split(sample, [0.75, 0.25], seed: 1);
        return (split[0], split[1]);
    });

    /// <summary>Options of <paramref name="family"/> for a quick CPU run on the "Text" column (checkpoints built once per family).</summary>
    internal static object QuickOptions(ClassifierFamily family, string modelsFolder)
    {
        CliFamilies.EnsureRegistered();
        string? model = family.UsesCheckpoint ? EmbeddedData.TinyRandomCheckpoint(family, modelsFolder) : null;
        var options = family.CreateOptions(model, "Text");
        family.ApplyFromScratchPreset(options, epochScale: 0.25);
        if (options is MLNetLlmClassifier.MlNetTextClassification.MlNetTextClassificationFamily.Options m)
        {
            m.NumberOfEpochs = 1;
            m.Seed = 3;
            m.Device = "cpu";
        }
        if (options is TransformerTrainerOptions t)
        {
            t.NumberOfEpochs = 1;
            t.BatchSize = 16;
            t.MaxSequenceLength = 64;
            t.Device = "cpu";
            t.Seed = 3;
        }
        return options;
    }

    private static readonly string ModelsFolder = Path.Combine(Path.GetTempPath(), $"mlnetllm-conformance-{Environment.ProcessId}");

    [ClassCleanup]
    public static void Cleanup()
    {
        if (Directory.Exists(ModelsFolder)) Directory.Delete(ModelsFolder, recursive: true);
    }

    [TestMethod]
    [DynamicData(nameof(Families))]
    public void EveryFamilyFitsScoresSavesAndLoads(string name)
    {
        CliFamilies.EnsureRegistered();
        var family = ClassifierFamilies.Get(name);
        var (train, test) = Data.Value;
        using var temp = new TempFolder();
        var ml = new MLContext(seed: 1);
        var trainView = train.ToDataView(ml);
        var pipeline = ml.Transforms.Conversion.MapValueToKey("Label", keyOrdinality: ValueToKeyMappingEstimator.KeyOrdinality.ByValue)
            .Append(family.CreateEstimator(ml, QuickOptions(family, ModelsFolder)))
            .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel"));

        // Schema propagation: the estimator says what Fit will produce.
        var shape = pipeline.GetOutputSchema(MLNetLlmClassifier.MLNet.MlNetInternals.SchemaShapeFromSchema(trainView.Schema));
        var score = shape.Single(c => c.Name == "Score");
        Assert.IsTrue(score.Kind == SchemaShape.Column.VectorKind.Vector && score.ItemType == NumberDataViewType.Single, "Score is a vector of Single");
        Assert.IsTrue(shape.Any(c => c.Name == "PredictedLabel"), "PredictedLabel");

        using var model = pipeline.Fit(trainView);
        var scored = model.Transform(test.ToDataView(ml));
        var scores = Scores(scored);
        Assert.AreEqual(test.Count, scores.Length);
        Assert.IsTrue(scores.All(s => s.Length == 4 && s.All(float.IsFinite)), "4 finite scores per row");
        var metrics = ml.MulticlassClassification.Evaluate(scored);
        Assert.IsTrue(metrics.MicroAccuracy is >= 0 and <= 1);

        // Model.Save / Load in a fresh context: identical scores.
        var zip = Path.Combine(temp.Path, "model.zip");
        ml.Model.Save(model, trainView.Schema, zip);
        var ml2 = new MLContext(seed: 2).RegisterMLNetLlmClassifier();
        var loaded = ml2.Model.Load(zip, out _);
        try
        {
            var again = Scores(loaded.Transform(test.ToDataView(ml2)));
            for (int i = 0; i < scores.Length; i++)
                for (int c = 0; c < 4; c++)
                    Assert.AreEqual(scores[i][c], again[i][c], 1e-6, $"row {i} class {c} after Save/Load");
        }
        finally
        {
            (loaded as IDisposable)?.Dispose();
        }

        // Bad input: a missing text column is an error that names it.
        var noText = ml.Data.LoadFromEnumerable(train.Select(r => new { r.Label, Body = r.Text }));
        var e = Assert.Throws<Exception>(() => pipeline.Fit(noText));
        StringAssert.Contains(e.Message, "Text");

        if (!family.UsesCheckpoint) return;

        // Hugging Face export and reload: the exported folder is a checkpoint that gives the same scores.
        var classifier = model.OfType<TextClassifierTransformer>().Single();
        var export = Path.Combine(temp.Path, "export");
        classifier.ExportHuggingFaceFolder(export);
        var settings = JsonNode.Parse(File.ReadAllText(Path.Combine(export, ClassifierFamilies.SettingsFile)))!.AsObject();
        Assert.AreEqual(family.Name, settings["family"]!.GetValue<string>(), "saved models use the family's one spelling");
        using var reloaded = new TextClassifierTransformer(ml, ClassifierFamilies.LoadClassifier(export, CPU), classifier.Columns, classifier.ClassNames, 8, null);
        var texts = test.Select(r => r.Text).ToArray();
        var direct = classifier.Predict(texts);
        var fromExport = reloaded.Predict(texts);
        for (int i = 0; i < texts.Length; i++)
            for (int c = 0; c < 4; c++)
                Assert.AreEqual(direct[i][c], fromExport[i][c], 1e-6, $"row {i} class {c} after export");

        // A tampered settings file (it travels in model.zip: untrusted) is one typed line naming the file and the field.
        var settingsPath = Path.Combine(export, ClassifierFamilies.SettingsFile);
        string intact = File.ReadAllText(settingsPath);
        foreach (var (field, value) in new (string, JsonNode?)[]
                 {
                     ("class_names", null), ("class_names", new JsonArray(1, 2)), ("max_sequence_length", "16"), ("max_sequence_length", 0),
                     ("truncation", "Sideways"), ("truncation", null), ("dtype", "Int64"),
                 })
        {
            var tampered = JsonNode.Parse(intact)!.AsObject();
            if (value is null) tampered.Remove(field);
            else tampered[field] = value;
            File.WriteAllText(settingsPath, tampered.ToJsonString());
            var bad = Assert.ThrowsExactly<InvalidDataException>(() => ClassifierFamilies.LoadClassifier(export, CPU).Dispose(), $"{field} = {value?.ToJsonString() ?? "(none)"}");
            StringAssert.Contains(bad.Message, settingsPath);
            StringAssert.Contains(bad.Message, $"\"{field}\"");
            Assert.DoesNotContain('\n', bad.Message);
        }
        File.WriteAllText(settingsPath, intact);

        // logits: the family's model_type dispatches to it, and its outputs are finite.
        Assert.AreEqual(family, ClassifierFamilies.ForModelFolder(export));
        var input = Path.Combine(temp.Path, "ids.jsonl");
        File.WriteAllText(input, "{\"ids\": [1, 2, 3]}\n{\"ids\": [5]}\n");
        var output = Path.Combine(temp.Path, "logits.jsonl");
        LogitsJsonl.RunJsonl(export, input, output, CPU, ScalarType.Float32);
        var lines = File.ReadAllLines(output);
        Assert.AreEqual(2, lines.Length);
        var logits = JsonNode.Parse(lines[0])!["logits"]!.AsArray();
        Assert.IsTrue(logits.Count > 0 && logits.All(v => float.IsFinite(v!.GetValue<float>())));
    }

    [TestMethod]
    [DynamicData(nameof(Families))]
    public void EveryFamilyIsFoundByEachOfItsNamesAndDeclaresValidDefaults(string name)
    {
        CliFamilies.EnsureRegistered();
        var family = ClassifierFamilies.Get(name);
        foreach (var alias in family.Aliases.Append(family.Name).Append(family.Name.ToUpperInvariant()))
            Assert.AreSame(family, ClassifierFamilies.Get(alias), alias);
        var options = family.CreateOptions(family.UsesCheckpoint ? "/nonexistent" : null, "Text");
        Assert.IsInstanceOfType(options, family.OptionsType);
        // Every dimension of the default search space names a settable option of the family.
        foreach (var r in family.DefaultSearchSpace)
            Assert.IsTrue(Configuration.OptionsBinder.CanSet(family.OptionsType, r.Option), $"{family.Name}: {r.Option}");
        // Every option is declared with a default and, where it ships, its documentation.
        var described = Configuration.OptionCatalog.Describe(family.OptionsType);
        Assert.IsTrue(described.Count > 0);
        Assert.IsTrue(described.All(o => !string.IsNullOrWhiteSpace(o.Summary)), $"{family.Name}: undocumented options: " +
            string.Join(", ", described.Where(o => string.IsNullOrWhiteSpace(o.Summary)).Select(o => o.Name)));
        if (family.UsesCheckpoint)
        {
            Assert.IsNotNull(family.ModelType);
            Assert.IsTrue(family.RandomPresets.Count > 0);
            Assert.IsTrue(EmbeddedData.TokenizerBundles.Contains(family.DefaultTokenizer), "the CLI embeds the family's tokenizer");
        }
    }

    private static float[][] Scores(IDataView scored) =>
        scored.GetColumn<VBuffer<float>>("Score").Select(v => v.DenseValues().ToArray()).ToArray();
}
