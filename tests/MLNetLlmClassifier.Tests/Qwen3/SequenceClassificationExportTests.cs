using System.Text.Json.Nodes;
using Microsoft.ML;
using MLNetLlmClassifier.Checkpoints;
using MLNetLlmClassifier.Cli.Commands;
using MLNetLlmClassifier.Families;
using MLNetLlmClassifier.Qwen3;
using MLNetLlmClassifier.Tests.Cli;
using MLNetLlmClassifier.Text;
using MLNetLlmClassifier.Training;
using static MLNetLlmClassifier.Tests.Qwen3.PromptedDecoderTestData;
using static TorchSharp.torch;

namespace MLNetLlmClassifier.Tests.Qwen3;

/// <summary>
/// The prompted decoder's <see cref="ExportForm.SequenceClassification"/> export: a Qwen3ForSequenceClassification whose score rows are the
/// LM-head rows of the option tokens. Two tiny prompted decoders are fitted once (2 steps each): one with an untied LM head, so that a head
/// taken from the embedding instead would show, and one tied, as Qwen3-0.6B.
/// </summary>
[TestClass]
public class SequenceClassificationExportTests
{
    private static TempFolder _temp = null!;
    private static MLContext _ml = null!;
    private static ITransformer _untiedPipeline = null!, _tiedPipeline = null!;
    private static TextClassifierTransformer _untied = null!, _tied = null!;

    // Rows of different lengths, an empty one, and one whose prompt is cut to MaxSequenceLength (its text only).
    private static readonly string[] Texts =
    [
        "", "goal", "the bank said today about a new rocket and a song in the city this week", "concert orbit",
        string.Join(" ", Enumerable.Repeat("the report said today about a big story", 20)) + " guitar",
    ];

    [ClassInitialize]
    public static void FitTwoTinyDecoders(TestContext context)
    {
        _temp = new TempFolder();
        _ml = new MLContext(seed: 1);
        var untiedConfig = Qwen3Config.Tiny();
        untiedConfig.TieWordEmbeddings = false;
        string untiedFolder = _temp.File("untied"), tiedFolder = _temp.File("tied");
        Qwen3ForCausalLM.CreateRandomCheckpoint(untiedConfig, untiedFolder, 3, ScalarType.Float32);
        TokenizerFolder.CopyTokenizerFiles(TinyQwen3Folder.TokenizerPath, untiedFolder);
        Qwen3ForCausalLM.CreateRandomCheckpoint(Qwen3Config.Tiny(), tiedFolder, 4, ScalarType.Float32);
        TokenizerFolder.CopyTokenizerFiles(TinyQwen3Folder.TokenizerPath, tiedFolder);
        var train = _ml.Data.LoadFromEnumerable(Keywords(TopicClasses, TopicKeywords, 32, seed: 1));
        _untiedPipeline = Pipeline(_ml, _ml.MulticlassClassification.Trainers.PromptedDecoderClassifier(Options(untiedFolder))).Fit(train);
        _tiedPipeline = Pipeline(_ml, _ml.MulticlassClassification.Trainers.PromptedDecoderClassifier(Options(tiedFolder))).Fit(train);
        _untied = Classifier(_untiedPipeline);
        _tied = Classifier(_tiedPipeline);
    }

    [ClassCleanup]
    public static void Cleanup()
    {
        if (_untiedPipeline is not null) DisposeAll(_untiedPipeline);
        if (_tiedPipeline is not null) DisposeAll(_tiedPipeline);
        _temp?.Dispose();
    }

    private static PromptedDecoderClassifierTrainer.Options Options(string folder) => new()
    {
        ModelPath = folder,
        PromptTemplate = "{text}\n{options}\nAnswer:",
        LabelDisplayNames = new Dictionary<string, string> { ["space"] = "outer space" },
        MaxSequenceLength = 64,
        LearningRate = 5e-3,
        BatchSize = 16,
        GradientAccumulationSteps = 1,
        NumberOfEpochs = 1,
        Seed = 1,
    };

    private static Qwen3ForCausalLM Decoder(TextClassifierTransformer classifier) => (Qwen3ForCausalLM)classifier.Model.Module;

    private static string Export(TextClassifierTransformer classifier, string name, ExportForm form = ExportForm.SequenceClassification)
    {
        string folder = _temp.File(name);
        classifier.ExportHuggingFaceFolder(folder, overwrite: true, form);
        return folder;
    }

    private static (List<string> Texts, List<string?>? Texts2, float[][] Scores) Expected(TextClassifierTransformer classifier) =>
        (Texts.ToList(), null, classifier.Predict(Texts));

    [TestMethod]
    public void TheSequenceClassifierReloadsToTheDecodersClassProbabilitiesTiedAndUntied()
    {
        foreach (var (classifier, name) in new[] { (_untied, "untied"), (_tied, "tied") })
        {
            Assert.AreEqual(name == "tied", Decoder(classifier).Config.TieWordEmbeddings);
            string folder = Export(classifier, "seqcls-" + name);
            var expected = Expected(classifier);
            Assert.IsTrue(classifier.CountTokens(Texts[0]) < classifier.CountTokens(Texts[2]) && classifier.CountTokens(Texts[2]) < 62, "rows of different lengths");
            Assert.AreEqual(62, classifier.CountTokens(Texts[4]), "a row cut to 64 - 2 tokens");

            // Our loader: the qwen3-seqcls family, which puts each text in the prompt of mlnet-classifier.json.
            using var model = ClassifierFamilies.LoadClassifier(folder, CPU);
            Assert.AreEqual(Qwen3SequenceClassifierFamily.Instance, model.Family);
            Assert.AreEqual(Qwen3SequenceClassifierFamily.Instance, ClassifierFamilies.ForModelFolder(folder), "config.json's architectures name the family");
            for (int i = 0; i < Texts.Length; i++)
                CollectionAssert.AreEqual(classifier.Model.Encode(Texts[i], null).InputIds, model.Encode(Texts[i], null).InputIds, $"text {i}: the prompt's ids");
            double diff = ExportCommand.Verify(_ml, classifier, folder, expected);
            Assert.IsLessThanOrEqualTo(ExportCommand.Tolerance, diff, name);

            // As transformers reads it: the prompt string, right padding with pad_token_id, the last non-pad token; batched and alone.
            string line = Qwen3SequenceClassifierFamily.Instance.VerifyAsTransformersReadsIt(folder, Texts, expected.Scores, ExportCommand.Tolerance, CPU)!;
            StringAssert.Contains(line, "(4 of 5 from the string, the others cut to fit)");
            StringAssert.Contains(line, "pad_token_id 151643");
        }
    }

    [TestMethod]
    public void ConfigAndWeightsAreThoseOfTransformersQwen3ForSequenceClassification()
    {
        string folder = Export(_untied, "seqcls-config");
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "config.json")))!.AsObject();
        CollectionAssert.AreEqual(new[] { "Qwen3ForSequenceClassification" }, config["architectures"]!.AsArray().Select(n => n!.GetValue<string>()).ToArray());
        Assert.AreEqual("qwen3", config["model_type"]!.GetValue<string>());
        Assert.AreEqual("single_label_classification", config["problem_type"]!.GetValue<string>());
        Assert.AreEqual(151643, config["pad_token_id"]!.GetValue<int>(), "<|endoftext|>: transformers finds each row's last token from it");
        Assert.AreEqual(64, config["hidden_size"]!.GetValue<int>());
        for (int i = 0; i < TopicClasses.Length; i++)
        {
            Assert.AreEqual(TopicClasses[i], config["id2label"]![i.ToString(System.Globalization.CultureInfo.InvariantCulture)]!.GetValue<string>());
            Assert.AreEqual(i, config["label2id"]![TopicClasses[i]]!.GetValue<int>());
        }
        Assert.HasCount(TopicClasses.Length, config["id2label"]!.AsObject());

        var decoder = Decoder(_untied);
        var prompt = ((PromptedDecoderClassifierModel)_untied.Model).Prompt;
        using (var weights = SafeTensorsFile.Open(Path.Combine(folder, HfModelFolder.WeightsFileName)))
        {
            Assert.IsFalse(weights.Tensors.Any(t => t.Name.StartsWith("lm_head", StringComparison.Ordinal)), "the sequence classifier has no LM head");
            Assert.IsTrue(weights.Contains("model.embed_tokens.weight"));
            CollectionAssert.AreEqual(new long[] { 4, 64 }, weights.Info("score.weight").Shape, "[num_labels, hidden_size]");
            Assert.IsFalse(weights.Contains("score.bias"), "transformers' score is nn.Linear(hidden, num_labels, bias=False)");
            using var score = weights.Read("score.weight");
            using var head = decoder.LmHeadWeight.index_select(0, tensor(prompt.FirstTokenIds.Select(i => (long)i).ToArray()));
            Assert.IsTrue(score.equal(head).all().item<bool>(), "score rows = the LM-head rows of the options' tokens, in class order");
            using var embedding = decoder.model.embed_tokens.weight!.index_select(0, tensor(prompt.FirstTokenIds.Select(i => (long)i).ToArray()));
            Assert.IsFalse(score.equal(embedding).all().item<bool>(), "untied: the LM head, not the embedding");
        }

        var settings = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, ClassifierFamilies.SettingsFile)))!.AsObject();
        Assert.AreEqual("qwen3-seqcls", settings["family"]!.GetValue<string>());
        Assert.AreEqual(prompt.Render("{text}"), settings["prompt"]!.GetValue<string>());
        StringAssert.EndsWith(settings["prompt"]!.GetValue<string>(), "Answer:<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
        CollectionAssert.AreEqual(new[] { "A", "B", "C", "D" }, settings["option_markers"]!.AsArray().Select(n => n!.GetValue<string>()).ToArray());
        CollectionAssert.AreEqual(prompt.FirstTokenIds, settings["option_token_ids"]!.AsArray().Select(a => a!.AsArray().Single()!.GetValue<int>()).ToArray());
        CollectionAssert.AreEqual(new[] { "sport", "money", "outer space", "music" }, settings["display_names"]!.AsArray().Select(n => n!.GetValue<string>()).ToArray());
        Assert.AreEqual(62, settings["max_prompt_tokens"]!.GetValue<int>());
        StringAssert.Contains(settings["usage"]!.GetValue<string>(), "last non-pad token");
    }

    [TestMethod]
    public void SwappedScoreRowsFailBothVerifications()
    {
        string folder = Export(_untied, "seqcls-swapped");
        var expected = Expected(_untied);
        using (var net = Qwen3ForSequenceClassification.FromPretrained(folder, CPU, ScalarType.Float32))
        {
            using var noGrad = no_grad();
            using var rows = net.score.weight!.index_select(0, tensor(new long[] { 1, 0, 2, 3 }));
            net.score.weight!.copy_(rows);
            net.SaveToFolder(folder);
        }
        var e = Assert.ThrowsExactly<InvalidDataException>(() => ExportCommand.Verify(_ml, _untied, folder, expected));
        StringAssert.Contains(e.Message, "does not reproduce the model");
        e = Assert.ThrowsExactly<InvalidDataException>(() =>
            Qwen3SequenceClassifierFamily.Instance.VerifyAsTransformersReadsIt(folder, Texts, expected.Scores, ExportCommand.Tolerance, CPU));
        StringAssert.Contains(e.Message, "as transformers reads it");
    }

    [TestMethod]
    public void APadTokenIdThatEndsThePromptFailsTheTransformersCheckButNotOurLoader()
    {
        // transformers reads each row at its rightmost token that is not pad_token_id: were that the prompt's final "\n\n" token, it would
        // read an earlier position. Our loader reads the attention mask, so only the check that follows transformers' rule can see it.
        string folder = Export(_untied, "seqcls-pad");
        var expected = Expected(_untied);
        int last = _untied.Model.Encode("goal", null).InputIds[^1];
        var path = Path.Combine(folder, "config.json");
        var config = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        config["pad_token_id"] = last;
        File.WriteAllText(path, config.ToJsonString());
        Assert.IsLessThanOrEqualTo(ExportCommand.Tolerance, ExportCommand.Verify(_ml, _untied, folder, expected));
        var e = Assert.ThrowsExactly<InvalidDataException>(() =>
            Qwen3SequenceClassifierFamily.Instance.VerifyAsTransformersReadsIt(folder, Texts, expected.Scores, ExportCommand.Tolerance, CPU));
        StringAssert.Contains(e.Message, "as transformers reads it");
    }

    [TestMethod]
    public void MultiTokenMarkersAreRefusedInOneLineNamingTheOption()
    {
        // No training needed: the check comes before anything is written.
        using var model = PromptedDecoderClassifierModel.Create(_temp.File("tied"), TopicClasses, "{text}\n{options}\nAnswer:",
            ["A", "B", "Zyzzyva", "D"], ["sport", "money", "outer space", "music"], CPU, ScalarType.Float32, 64, TruncationSide.Right, log: null);
        Assert.IsFalse(model.Prompt.SingleTokenMarkers);
        using var classifier = new TextClassifierTransformer(_ml, model, _tied.Columns, TopicClasses, 8, summary: null);
        string folder = _temp.File("multi-token");
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => classifier.ExportHuggingFaceFolder(folder, form: ExportForm.SequenceClassification));
        Assert.AreEqual(
            "The sequence-classification form needs one-token option markers, but OptionMarkers[2] = 'Zyzzyva' (class 'space') is " +
            $"{model.Prompt.MarkerIds[2].Length} tokens: export the causal LM form (--form native) or train with one-token markers.", e.Message);
        Assert.IsFalse(Directory.Exists(folder), "nothing is left behind");
        classifier.ExportHuggingFaceFolder(folder);
        Assert.IsTrue(File.Exists(Path.Combine(folder, "config.json")), "the causal LM form of the same model is written");
    }

    [TestMethod]
    public void ALoraDecoderIsWrittenMergedOnly()
    {
        var options = Options(_temp.File("tied"));
        options.LoraRank = 2;
        options.LoraAlpha = 4;
        var pipeline = Pipeline(_ml, _ml.MulticlassClassification.Trainers.PromptedDecoderClassifier(options))
            .Fit(_ml.Data.LoadFromEnumerable(Keywords(TopicClasses, TopicKeywords, 16, seed: 5)));
        try
        {
            var classifier = Classifier(pipeline);
            string folder = _temp.File("lora-seqcls");
            var e = Assert.ThrowsExactly<InvalidOperationException>(() => classifier.ExportHuggingFaceFolder(folder, form: ExportForm.SequenceClassification));
            StringAssert.Contains(e.Message, "--merge");
            Assert.IsFalse(Directory.Exists(folder));
            var expected = Expected(classifier);   // before the merge, which changes the model in place
            classifier.ExportMergedHuggingFaceFolder(folder, form: ExportForm.SequenceClassification);
            Assert.IsFalse(File.Exists(Path.Combine(folder, MLNetLlmClassifier.Peft.PeftAdapterFolder.ConfigFileName)), "a plain folder, without adapter files");
            Assert.IsLessThanOrEqualTo(ExportCommand.Tolerance, ExportCommand.Verify(_ml, classifier, folder, expected));
            Assert.IsNotNull(Qwen3SequenceClassifierFamily.Instance.VerifyAsTransformersReadsIt(folder, Texts, expected.Scores, ExportCommand.Tolerance, CPU));
        }
        finally
        {
            DisposeAll(pipeline);
        }
    }

    [TestMethod]
    public void TheCausalLmFormStillVerifiesAndCarriesThePromptWithItsTokenIds()
    {
        string folder = Export(_tied, "causal", ExportForm.Native);
        var expected = Expected(_tied);
        Assert.IsLessThanOrEqualTo(ExportCommand.Tolerance, ExportCommand.Verify(_ml, _tied, folder, expected));
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "config.json")))!.AsObject();
        Assert.AreEqual("Qwen3ForCausalLM", config["architectures"]![0]!.GetValue<string>());
        Assert.AreEqual(PromptedDecoderFamily.Instance, ClassifierFamilies.ForModelFolder(folder));
        Assert.IsNull(PromptedDecoderFamily.Instance.VerifyAsTransformersReadsIt(folder, Texts, expected.Scores, ExportCommand.Tolerance, CPU));
        var settings = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, ClassifierFamilies.SettingsFile)))!.AsObject();
        Assert.AreEqual("qwen3-prompted", settings["family"]!.GetValue<string>());
        var prompt = ((PromptedDecoderClassifierModel)_tied.Model).Prompt;
        CollectionAssert.AreEqual(prompt.FirstTokenIds, settings["option_token_ids"]!.AsArray().Select(a => a!.AsArray().Single()!.GetValue<int>()).ToArray());
        StringAssert.Contains(settings["usage"]!.GetValue<string>(), "softmax of the logits of the options' tokens");
    }

    [TestMethod]
    public void TheCliExportsTheSequenceClassificationFormAndPrintsBothVerifications()
    {
        string zip = _temp.File("tied.zip");
        _ml.Model.Save(_tiedPipeline, _ml.Data.LoadFromEnumerable(Keywords(TopicClasses, TopicKeywords, 4, seed: 1)).Schema, zip);
        string folder = _temp.File("cli-seqcls");
        var (code, output) = CliTests.Run("export", "--model", zip, "--out", folder, "--form", "sequence-classification", "--verify-rows", "6");
        Assert.AreEqual(0, code, output);
        StringAssert.Contains(output, "Verified: reloaded from the folder, the class probabilities of 6 texts");
        StringAssert.Contains(output, "As transformers reads it: the prompt of mlnet-classifier.json filled in and tokenized");
        StringAssert.Contains(output, "architectures [\"Qwen3ForSequenceClassification\"]");

        (code, output) = CliTests.Run("export", "--model", zip, "--out", _temp.File("cli-bad"), "--form", "sequence");
        Assert.AreEqual(1, code, output);
        StringAssert.Contains(output, "Argument 'sequence' not recognized");
        StringAssert.Contains(output, "'sequence-classification'");
    }
}
