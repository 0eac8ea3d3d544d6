using MLNetLlmClassifier.Bert;
using MLNetLlmClassifier.Cli;
using MLNetLlmClassifier.Cli.Commands;
using MLNetLlmClassifier.Configuration;
using MLNetLlmClassifier.Families;
using MLNetLlmClassifier.Qwen3;

namespace MLNetLlmClassifier.Tests.Cli;

[TestClass]
public class OptionsDocsTests
{
    [TestMethod]
    public void DocsOptionsTablesMatchTheOptionsClasses()
    {
        CliFamilies.EnsureRegistered();
        var path = Path.Combine(TestPaths.RepoRoot, "docs", "options.md");
        var text = File.ReadAllText(path);
        var updated = OptionsCommand.UpdateDocs(text, ClassifierFamilies.All, out var missing);
        Assert.AreEqual(0, missing.Count, $"docs/options.md has no generated table for {string.Join(", ", missing)}");
        Assert.AreEqual(text, updated, "docs/options.md disagrees with the options classes: run `mlnet-llm options --update-docs docs/options.md`.");
        // The prompted decoder's table carries its own defaults and the prompt's flags.
        StringAssert.Contains(text, "| `GradientAccumulationSteps` | `--grad-accum` | `8` |");
        StringAssert.Contains(text, "| `Instruction` | `--instruction` | `\"Please read the following news article");
    }

    [TestMethod]
    public void PromptFlagsReachOnlyTheFamiliesThatDeclareThem()
    {
        CliFamilies.EnsureRegistered();
        var flags = new GivenFlags([("--instruction", "Instruction", "Read the review."), ("--label-display-names", "LabelDisplayNames", "pos=Positive,neg=Negative"), ("--lr", "LearningRate", "3e-4")]);
        var qwen = new PromptedDecoderClassifierTrainer.Options();
        var bert = new BertTextClassificationTrainer.Options();
        flags.Apply(PromptedDecoderFamily.Instance, qwen, strict: false);
        flags.Apply(BertFamily.Instance, bert, strict: false);
        Assert.AreEqual("Read the review.", qwen.Instruction);
        Assert.AreEqual("Negative", qwen.LabelDisplayNames!["neg"]);
        Assert.AreEqual(3e-4, qwen.LearningRate);
        Assert.AreEqual(3e-4, bert.LearningRate);
        // train is strict; compare and sweep need one family of the run to have each flag.
        Assert.ThrowsExactly<ArgumentException>(() => flags.Apply(BertFamily.Instance, new BertTextClassificationTrainer.Options(), strict: true));
        var e = Assert.ThrowsExactly<ArgumentException>(() => flags.CheckUsedBy([BertFamily.Instance]));
        StringAssert.Contains(e.Message, "--instruction");
        flags.CheckUsedBy([BertFamily.Instance, PromptedDecoderFamily.Instance]);
    }

    [TestMethod]
    public void TextReadsAsMapsListsAndJson()
    {
        var o = new PromptedDecoderClassifierTrainer.Options();
        OptionsBinder.Apply(o, "OptionMarkers", "X, Y ,Z");
        CollectionAssert.AreEqual(new[] { "X", "Y", "Z" }, o.OptionMarkers!.ToArray());
        OptionsBinder.Apply(o, "LabelDisplayNames", "{\"1\": \"World\", \"2\": \"Sports\"}");
        Assert.AreEqual("Sports", o.LabelDisplayNames!["2"]);
        OptionsBinder.Apply(o, "RestoreBestModel", "false");
        Assert.IsFalse(o.RestoreBestModel);
        // --set gives JSON strings: a map as text works there too.
        var config = ModelOptionsConfig.WithSettings(null, ["qwen3.LabelDisplayNames=1=World,2=Sports"])!;
        ModelOptionsConfig.Apply(o, config["qwen3"]!.AsObject(), "--set");
        Assert.AreEqual("World", o.LabelDisplayNames!["1"]);
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => OptionsBinder.Apply(o, "LabelDisplayNames", "World")).Message, "key=value");
    }
}
