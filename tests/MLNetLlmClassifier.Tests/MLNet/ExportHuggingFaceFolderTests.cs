using System.Text.Json.Nodes;
using Microsoft.ML;
using MLNetLlmClassifier.Bert;
using MLNetLlmClassifier.Families;
using MLNetLlmClassifier.MLNet;
using MLNetLlmClassifier.Tests.Checkpoints;

namespace MLNetLlmClassifier.Tests.MLNet;

/// <summary>
/// <see cref="TextClassifierTransformer.ExportHuggingFaceFolder"/> for a BERT classifier (the prompted decoder's export is
/// tested with its trainer, in Qwen3/PromptedDecoderClassifierTrainerTests).
/// </summary>
[TestClass]
public class ExportHuggingFaceFolderTests
{
    private sealed class Row
    {
        public string Label { get; set; } = "";
        public string Sentence1 { get; set; } = "";
    }

    [TestMethod]
    public void ABertClassifierExportsAFolderThatLoadsAsBertForSequenceClassification()
    {
        using var temp = new TempFolder();
        string checkpoint = Path.Combine(temp.Path, "bert-tiny");
        Directory.CreateDirectory(checkpoint);
        foreach (var f in new[] { "config.json", "model.safetensors" })
            File.Copy(TestPaths.Shared("fixtures", "hf-parity", "bert-tiny-a", f), Path.Combine(checkpoint, f));
        File.Copy(TestPaths.Shared("models", "bert-uncased-vocab", "vocab.txt"), Path.Combine(checkpoint, "vocab.txt"));

        var ml = new MLContext(1);
        var rows = Enumerable.Range(0, 8).Select(i => new Row { Label = i % 2 == 0 ? "good" : "bad", Sentence1 = i % 2 == 0 ? "a fine day" : "a sad day" });
        var data = ml.Data.LoadFromEnumerable(rows);
        var keyed = ml.Transforms.Conversion.MapValueToKey("Label").Fit(data).Transform(data);
        using var classifier = ml.MulticlassClassification.Trainers.BertTextClassification(new BertTextClassificationTrainer.Options
        {
            ModelPath = checkpoint,
            BatchSize = 8,
            NumberOfEpochs = 1,
            MaxSequenceLength = 16,
            Seed = 1,
        }).Fit(keyed);

        string export = Path.Combine(temp.Path, "out", "exported");
        classifier.ExportHuggingFaceFolder(export);
        foreach (var f in new[] { "config.json", "model.safetensors", "vocab.txt", "mlnet-classifier.json" })
            Assert.IsTrue(File.Exists(Path.Combine(export, f)), f);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(export, "config.json")))!.AsObject();
        Assert.AreEqual("good", config["id2label"]!["0"]!.GetValue<string>());
        Assert.AreEqual("bad", config["id2label"]!["1"]!.GetValue<string>());
        var settings = JsonNode.Parse(File.ReadAllText(Path.Combine(export, "mlnet-classifier.json")))!.AsObject();
        Assert.AreEqual("bert", settings["family"]!.GetValue<string>());
        CollectionAssert.AreEqual(new[] { "exported" }, Directory.GetFileSystemEntries(Path.Combine(temp.Path, "out")).Select(Path.GetFileName).ToArray(),
            "no temporary folder is left next to the export");

        // The exported folder is a checkpoint: the same predictions come back from it.
        var reloaded = ClassifierFamilies.LoadClassifier(export, TorchSharp.torch.CPU);
        var expected = classifier.Predict(["a fine day", "a sad day"]);
        using var again = new TextClassifierTransformer(ml, reloaded, classifier.Columns, classifier.ClassNames, 8, null);
        var actual = again.Predict(["a fine day", "a sad day"]);
        for (int i = 0; i < 2; i++) CollectionAssert.AreEqual(expected[i], actual[i]);

        Assert.ThrowsExactly<IOException>(() => classifier.ExportHuggingFaceFolder(export), "an existing folder is not replaced without overwrite");
        classifier.ExportHuggingFaceFolder(export, overwrite: true);
        Assert.IsTrue(File.Exists(Path.Combine(export, "model.safetensors")));
    }
}
