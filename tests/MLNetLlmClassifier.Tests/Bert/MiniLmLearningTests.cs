using Microsoft.ML;
using MLNetLlmClassifier.Bert;
using MLNetLlmClassifier.Cli;
using MLNetLlmClassifier.Cli.Commands;
using MLNetLlmClassifier.Configuration;
using MLNetLlmClassifier.Data;
using MLNetLlmClassifier.Families;

namespace MLNetLlmClassifier.Tests.Bert;

/// <summary>
/// The pretrained MiniLM learns what SDCA cannot from a few hundred rows: fine-tuned on 160 AG News rows (40 per class) it beats
/// ML.NET's SDCA on the same rows by a clear margin. Pretraining is what the test checks: a checkpoint of the same shape with random
/// weights stays near SDCA or below (run it with <c>MLNETLLM_MINILM_CONTROL=random</c> to see this test fail on one).
/// </summary>
[TestClass]
public sealed class MiniLmLearningTests
{
    /// <summary>Measured: SDCA 0.548, the MiniLM 0.797, a random-weight checkpoint of its shape 0.100 (docs/onnx-import.md).</summary>
    private const double Margin = 0.10;

    [TestMethod]
    public void PretrainedMiniLmFineTunedOnAFewHundredRowsClearlyBeatsSdcaOnTheSameRows()
    {
        using var temp = new TempFolder();
        string folder = Environment.GetEnvironmentVariable("MLNETLLM_MINILM_CONTROL") == "random"
            ? RandomWeightsOfTheSameShape(PretrainedMiniLm.Folder, temp.File("random-minilm"))
            : PretrainedMiniLm.Folder;
        var sample = StratifiedSplit.Sample(EmbeddedData.LoadAgNewsSample(renameLabels: true), 100, seed: 5);
        var split = StratifiedSplit.Split(sample, 0.4, 0, 0.6, seed: 5);

        double sdca = MacroF1(Family("sdca"), null, split);
        double bert = MacroF1(BertFamily.Instance, folder, split);
        Console.WriteLine($"{split.Train.Count} training rows, {split.Test.Count} test rows: macro-F1 SDCA {sdca:F3}, {folder} fine-tuned {bert:F3}");
        Assert.IsGreaterThanOrEqualTo(sdca + Margin, bert, $"MiniLM {bert:F3} vs SDCA {sdca:F3}");
    }

    private static ClassifierFamily Family(string name) => ClassifierFamilies.Get(name);

    private static double MacroF1(ClassifierFamily family, string? folder, TrainValidTest split)
    {
        var ml = new MLContext(seed: 1);
        var options = ClassifierPipeline.NewOptions(family, folder, pairs: false);
        if (folder is not null)
        {
            // compare's fine-tuning settings for the packaged MiniLM, with two epochs of batches of 8 for 160 rows (20 steps each) at a
            // higher rate: with batches of 16 and 8e-5 (20 steps in all) it reached only 0.618 against SDCA's 0.548.
            OptionsBinder.Apply(options, PretrainedModels.Find(PretrainedModels.MiniLmL6)!.FineTuning);
            OptionsBinder.Apply(options, "NumberOfEpochs", 2.0);
            OptionsBinder.Apply(options, "BatchSize", 8);
            OptionsBinder.Apply(options, "LearningRate", 1.5e-4);
            OptionsBinder.Apply(options, "Device", "cpu");
            OptionsBinder.Apply(options, "Seed", 1);
        }
        var (model, fitted) = ClassifierPipeline.Fit(ml, family, options, split.Train, null);
        using (fitted as IDisposable)
            return EvaluateCommand.Evaluate(ml, model, split.Test, family.ScoresAreLogits).MacroF1;
    }

    /// <summary>A checkpoint with the MiniLM's config and tokenizer but freshly initialised weights (the control).</summary>
    private static string RandomWeightsOfTheSameShape(string pretrained, string folder)
    {
        Directory.CreateDirectory(folder);
        foreach (var file in new[] { "vocab.txt", "tokenizer_config.json" }) File.Copy(Path.Combine(pretrained, file), Path.Combine(folder, file));
        BertForSequenceClassification.CreateRandomCheckpoint(BertConfig.Load(pretrained), folder, seed: 1);
        return folder;
    }
}
