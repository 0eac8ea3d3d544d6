using System.IO.Compression;
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Transforms;
using MLNetLlmClassifier.Bert;
using MLNetLlmClassifier.Checkpoints;
using MLNetLlmClassifier.Cli.Commands;
using MLNetLlmClassifier.Configuration;
using MLNetLlmClassifier.Peft;
using MLNetLlmClassifier.Sweeps;
using MLNetLlmClassifier.Tests.Bert;
using MLNetLlmClassifier.Tests.Cli;
using MLNetLlmClassifier.Training;

namespace MLNetLlmClassifier.Tests.Peft;

/// <summary>LoRA through ML.NET (Fit, model.zip, PredictionEngine), the CLI (flags, export, --adapter), config files and sweeps.</summary>
[TestClass]
public class LoraEndToEndTests
{
    private static TempFolder _root = null!;
    private static string _bert = "";

    [ClassInitialize]
    public static void Init(TestContext _)
    {
        _root = new TempFolder();
        _bert = _root.File("bert-tiny");
        BertFamily.Instance.CreateRandomCheckpoint(new("tiny", TestPaths.Shared("models", "bert-uncased-vocab", "vocab.txt"), _bert, Seed: 7));
    }

    [ClassCleanup]
    public static void Cleanup() => _root?.Dispose();

    [TestMethod]
    public void ALoraModelRoundTripsThroughModelZipWithIdenticalScores()
    {
        var ml = new MLContext(seed: 1);
        var train = ml.Data.LoadFromEnumerable(BertTrainerTests.Synthetic(64, seed: 1));
        var messages = new List<string>();
        var o = new BertTextClassificationTrainer.Options
        {
            ModelPath = _bert,
            LearningRate = 5e-3,
            BatchSize = 16,
            NumberOfEpochs = 1,
            MaxSequenceLength = 48,
            Device = "cpu",
            LoraRank = 4,
            LoraAlpha = 8,
            LoraTargetModules = "query,value",
            LoraBias = LoraBias.LoraOnly,
            Progress = new Progress(messages.Add),
        };
        var model = ml.Transforms.Conversion.MapValueToKey("Label", keyOrdinality: ValueToKeyMappingEstimator.KeyOrdinality.ByValue)
            .Append(ml.MulticlassClassification.Trainers.BertTextClassification(o))
            .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel")).Fit(train);
        using var disposable = model as IDisposable;
        Assert.IsTrue(messages.Any(m => m.StartsWith("Trainable parameters: ", StringComparison.Ordinal) && m.Contains(" of ", StringComparison.Ordinal)),
            string.Join("\n", messages));
        var classifier = model.OfType<TextClassifierTransformer>().Single();
        Assert.IsNotNull(LoraModel.Of(classifier.Model.Module), "the fitted model carries its adapter");

        string zip = _root.File("lora.zip");
        ml.Model.Save(model, train.Schema, zip);
        using (var archive = ZipFile.OpenRead(zip))
        {
            var names = archive.Entries.Select(e => e.FullName).ToArray();
            Assert.IsTrue(names.Any(n => n.EndsWith(PeftAdapterFolder.ConfigFileName, StringComparison.Ordinal)), string.Join(", ", names));
            Assert.IsTrue(names.Any(n => n.EndsWith(PeftAdapterFolder.WeightsFileName, StringComparison.Ordinal)));
        }
        var fresh = new MLContext(seed: 5);
        fresh.ComponentCatalog.RegisterMLNetLlmClassifier();
        var loaded = fresh.Model.Load(zip, out _);
        using var loadedDisposable = loaded as IDisposable;
        Assert.IsNotNull(LoraModel.Of(((IEnumerable<ITransformer>)loaded).OfType<TextClassifierTransformer>().Single().Model.Module), "loading re-applies the adapter");
        var engine = ml.Model.CreatePredictionEngine<BertTrainerTests.Row, BertTrainerTests.Prediction>(model);
        var reloadedEngine = fresh.Model.CreatePredictionEngine<BertTrainerTests.Row, BertTrainerTests.Prediction>(loaded);
        foreach (var row in BertTrainerTests.Synthetic(6, seed: 3))
            CollectionAssert.AreEqual(engine.Predict(row).Score, reloadedEngine.Predict(row).Score, row.Sentence1);
    }

    private sealed class Progress(Action<string> add) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => add(value.Message);
    }

    [TestMethod]
    public void TheCliTrainsWithLoraFlagsExportsMergedOrAdapterOnlyAndTrainsOnFromAnAdapter()
    {
        string train = _root.File("train.csv");
        File.WriteAllLines(train, new[] { "text,category" }.Concat(BertTrainerTests.Synthetic(48, 1).Select(r => $"\"{r.Sentence1}\",{r.Label}")));
        string[] common = ["--label-column", "category", "--text-column", "text", "--epochs", "1", "--batch-size", "16", "--max-length", "48", "--lr", "5e-3"];
        string zip = _root.File("cli-lora.zip");
        var (code, output) = CliTests.Run([.. new[] { "train", "--trainer", "bert", "--model", _bert, "--train", train, "--out", zip,
            "--lora-rank", "4", "--lora-alpha", "8", "--lora-targets", "query,value,dense", "--lora-dropout", "0.1" }, .. common]);
        Assert.AreEqual(0, code, output);

        string full = _root.File("export-full");
        (code, output) = CliTests.Run("export", "--model", zip, "--out", full);
        Assert.AreEqual(0, code, output);
        StringAssert.Contains(output, "Verified");
        var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(full, PeftAdapterFolder.ConfigFileName))).RootElement;
        Assert.AreEqual(4, config.GetProperty("r").GetInt32());
        Assert.AreEqual(0.1, config.GetProperty("lora_dropout").GetDouble());
        CollectionAssert.AreEqual(new[] { "query", "value", "dense" }, config.GetProperty("target_modules").EnumerateArray().Select(e => e.GetString()).ToArray());
        using (var weights = SafeTensorsFile.Open(Path.Combine(full, HfModelFolder.WeightsFileName)))
        {
            Assert.IsFalse(weights.Tensors.Any(t => LoraLinear.IsAdapterKey(t.Name)), "model.safetensors holds the base weights under their HF keys only");
            Assert.IsTrue(weights.Contains("bert.encoder.layer.0.attention.self.query.weight"));
        }

        string merged = _root.File("export-merged");
        (code, output) = CliTests.Run("export", "--model", zip, "--out", merged, "--merge");
        Assert.AreEqual(0, code, output);
        StringAssert.Contains(output, "Verified");
        Assert.IsFalse(File.Exists(Path.Combine(merged, PeftAdapterFolder.ConfigFileName)), "a merged export is a plain Hugging Face folder");

        string adapter = _root.File("export-adapter");
        (code, output) = CliTests.Run("export", "--model", zip, "--out", adapter, "--adapter-only");
        Assert.AreEqual(0, code, output);
        CollectionAssert.AreEquivalent(new[] { PeftAdapterFolder.ConfigFileName, PeftAdapterFolder.WeightsFileName },
            Directory.GetFiles(adapter).Select(Path.GetFileName).ToArray());

        // Training on from the exported adapter, on the exported base (which holds the trained head).
        (code, output) = CliTests.Run([.. new[] { "train", "--trainer", "bert", "--model", full, "--adapter", adapter, "--train", train,
            "--out", _root.File("cli-lora-2.zip"), "--verbose" }, .. common]);
        Assert.AreEqual(0, code, output);
        StringAssert.Contains(output, "loaded the adapter");
    }

    [TestMethod]
    public void LoraOptionsAreDeclaredOnceForFlagsConfigFilesAndSweeps()
    {
        var catalog = OptionCatalog.Describe(typeof(BertTextClassificationTrainer.Options)).ToDictionary(o => o.Name);
        Assert.AreEqual(0, catalog["LoraRank"].Default);
        Assert.AreEqual("--lora-rank", catalog["LoraRank"].Alias);
        Assert.AreEqual("all-linear", catalog["LoraTargetModules"].Default);
        Assert.AreEqual(LoraBias.None, catalog["LoraBias"].Default);
        Assert.AreEqual(0, catalog["FreezeFirstLayers"].Default);
        Assert.IsTrue(catalog.ContainsKey("FreezeEmbeddings") && catalog.ContainsKey("AdapterPath") && catalog.ContainsKey("LoraUseRsLora"));

        var set = ModelOptionsConfig.WithSettings(null, ["bert.LoraRank=8", "bert.LoraTargetModules=query,value", "bert.LoraBias=LoraOnly",
            "bert.LoraAlpha=32", "bert.FreezeEmbeddings=true", "bert.FreezeFirstLayers=1"])!;
        var o = new BertTextClassificationTrainer.Options { ModelPath = _bert };
        ModelOptionsConfig.Apply(o, set["bert"]!.AsObject(), "--set");
        Assert.AreEqual((8, "query,value", LoraBias.LoraOnly, 32.0, true, 1), (o.LoraRank, o.LoraTargetModules, o.LoraBias, o.LoraAlpha, o.FreezeEmbeddings, o.FreezeFirstLayers));
        o.Validate();
        o.LoraDropout = 1;
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(o.Validate);
        StringAssert.Contains(e.Message, "LoraDropout");

        // A sweep over rank, alpha and target set: string choices reach the option as they are.
        var candidate = SweepConfig.Parse("""
            { "output": "o", "data": { "train": "t.csv" }, "budget": { "maxTrials": 3 },
              "candidates": [{ "trainer": "bert", "useDefaultSpace": false, "space": {
                "LoraRank": { "choice": [4, 8, 16] }, "LoraAlpha": { "logUniform": [4, 64] },
                "LoraTargetModules": { "choice": ["query,value", "all-linear"] } } }] }
            """, "/tmp").Candidates[0];
        var space = candidate.CreateSearchSpace();
        var sampled = new BertTextClassificationTrainer.Options();
        OptionsBinder.Apply(sampled, new TrialParameters("bert", space, space.ToDictionary(d => d.Name, d => d.FromUnit(0.9))));
        Assert.AreEqual((16, "all-linear"), (sampled.LoraRank, sampled.LoraTargetModules));
        Assert.IsTrue(sampled.LoraAlpha is > 4 and < 64);
    }
}
