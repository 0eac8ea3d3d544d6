using MLNetLlmClassifier.Bert;
using MLNetLlmClassifier.Cli.Commands;
using MLNetLlmClassifier.Qwen3;
using MLNetLlmClassifier.Training;

namespace MLNetLlmClassifier.Tests.Cli;

[TestClass]
public class ModelOptionsConfigTests
{
    [TestMethod]
    public void SetFlagsReachTheTrainerOptions()
    {
        var config = ModelOptionsConfig.WithSettings(null, ["bert.LearningRate=2e-5", "bert.Schedule=Linear", "qwen3.LabelDisplayNames={\"Sci/Tech\":\"Science/Technology\"}"])!;
        var bert = new BertTextClassificationTrainer.Options();
        ModelOptionsConfig.Apply(bert, config["bert"]!.AsObject(), "--set");
        Assert.AreEqual(2e-5, bert.LearningRate);
        Assert.AreEqual(LearningRateSchedule.Linear, bert.Schedule);
        var qwen = new PromptedDecoderClassifierTrainer.Options();
        ModelOptionsConfig.Apply(qwen, config["qwen3"]!.AsObject(), "--set");
        Assert.AreEqual("Science/Technology", qwen.LabelDisplayNames!["Sci/Tech"]);
    }

    [TestMethod]
    public void UnknownOptionsAndBadValuesAreNamed()
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() =>
            ModelOptionsConfig.Apply(new BertTextClassificationTrainer.Options(), ModelOptionsConfig.WithSettings(null, ["bert.LerningRate=1"])!["bert"]!.AsObject(), "--set"));
        StringAssert.Contains(e.Message, "LerningRate");
        e = Assert.ThrowsExactly<ArgumentException>(() =>
            ModelOptionsConfig.Apply(new BertTextClassificationTrainer.Options(), ModelOptionsConfig.WithSettings(null, ["bert.BatchSize=big"])!["bert"]!.AsObject(), "--set"));
        StringAssert.Contains(e.Message, "BatchSize");
        Assert.ThrowsExactly<ArgumentException>(() => ModelOptionsConfig.WithSettings(null, ["LearningRate=1"]));
    }
}
