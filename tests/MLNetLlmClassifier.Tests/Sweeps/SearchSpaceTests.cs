using System.Text.Json;
using Microsoft.ML.Trainers;
using MLNetLlmClassifier.Bert;
using MLNetLlmClassifier.Configuration;
using MLNetLlmClassifier.Sweeps;
using MLNetLlmClassifier.Training;

namespace MLNetLlmClassifier.Tests.Sweeps;

/// <summary>Search spaces, trial parameters and setting them on options objects.</summary>
[TestClass]
public class SearchSpaceTests
{
    [TestMethod]
    public void DimensionsMapTheUnitIntervalOntoTheirValues()
    {
        var lr = new UniformDimension("LearningRate", 1e-5, 1e-1, logScale: true);
        Assert.AreEqual(1e-5, (double)lr.FromUnit(0)!, 1e-15);
        Assert.AreEqual(1e-3, (double)lr.FromUnit(0.5)!, 1e-12, "the middle of a log range is the geometric mean");
        Assert.AreEqual(0.75, lr.ToUnit(1e-2), 1e-12);
        CollectionAssert.AreEqual(new object?[] { 1e-5, 1e-4, 1e-3, 1e-2, 1e-1 }, lr.GridValues(5).Select(v => (object?)Math.Round((double)v!, 12)).ToArray());

        var epochs = new IntegerDimension("NumberOfEpochs", 1, 4);
        CollectionAssert.AreEqual(new object?[] { 1, 1, 2, 3, 4, 4 }, new[] { 0, 0.2, 0.3, 0.74, 0.75, 0.9999 }.Select(epochs.FromUnit).ToArray());
        Assert.AreEqual(0.625, epochs.ToUnit(3), 1e-12, "the middle of the cell");
        var wide = new IntegerDimension("MaxSequenceLength", 16, 1024, logScale: true);
        CollectionAssert.AreEqual(new object?[] { 16, 64, 256, 1024 }, wide.GridValues(4).ToArray());
        var counts = new int[4];
        var rng = new Random(1);
        for (int i = 0; i < 4000; i++) counts[(int)epochs.FromUnit(rng.NextDouble())! - 1]++;
        Assert.IsTrue(counts.All(c => c is > 900 and < 1100), "every integer equally likely: " + string.Join(",", counts));

        var batch = new ChoiceDimension("BatchSize", [new("16", 16), new("32", 32), new("64", 64)]);
        Assert.AreEqual(32, batch.FromUnit(0.5));
        Assert.AreEqual(1, batch.IndexOf(32));
        Assert.AreEqual(2, batch.IndexOf("64"), "by label too");
    }

    [TestMethod]
    public void BadRangesAndNamesAreRejectedWithTheirName()
    {
        var ex = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new UniformDimension("LearningRate", 0, 1e-3, logScale: true));
        StringAssert.Contains(ex.Message, "LearningRate");
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new UniformDimension("x", 1, 1));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new IntegerDimension("x", 3, 2));
        Assert.ThrowsExactly<ArgumentException>(() => new SearchSpace().AddChoice<int>("x"));
        Assert.ThrowsExactly<ArgumentException>(() => new SearchSpace().AddUniform("x", 0, 1).AddUniform("X", 0, 1));
        Assert.ThrowsExactly<ArgumentException>(() => new ChoiceDimension("x", [new("a", 1), new("a", 2)]));
        var missing = Assert.ThrowsExactly<KeyNotFoundException>(() => DefaultSearchSpaces.Bert()["LerningRate"]);
        StringAssert.Contains(missing.Message, "LearningRate");
    }

    public sealed class AttributeSpace
    {
        [Range(1e-5, 1e-3, logBase: true)] public double LearningRate { get; set; }
        [Range(1, 4)] public double NumberOfEpochs { get; set; }
        [Range(1, 8, true)] public int GradientAccumulationSteps { get; set; }
        [Choice(16, 32, 64)] public int BatchSize { get; set; }
        [Choice("Cosine", "Linear")] public LearningRateSchedule Schedule;
        [BooleanChoice] public bool RestoreBestModel { get; set; }
        public string NotSwept { get; set; } = "";
    }

    [TestMethod]
    public void AttributesDeclareASpace()
    {
        var space = SearchSpace.FromAttributes<AttributeSpace>();
        Assert.AreEqual("LearningRate: log-uniform [1E-05, 0.001]; NumberOfEpochs: uniform [1, 4]; GradientAccumulationSteps: log-integer [1, 8]; " +
                        "BatchSize: choice of 3: 16, 32, 64; RestoreBestModel: choice of 2: false, true; Schedule: choice of 2: Cosine, Linear", space.ToString());
        Assert.ThrowsExactly<ArgumentException>(() => SearchSpace.FromAttributes<string>());

        // The attribute space's names are options of the BERT trainer: every point of it applies.
        var p = new TrialParameters("bert", space, space.ToDictionary(d => d.Name, d => d.FromUnit(0.99)));
        var o = new BertTextClassificationTrainer.Options();
        OptionsBinder.Apply(o, p);
        Assert.AreEqual(LearningRateSchedule.Linear, o.Schedule);
        Assert.AreEqual(64, o.BatchSize);
        Assert.AreEqual(8, o.GradientAccumulationSteps);
        Assert.IsTrue(o.RestoreBestModel);
    }

    public sealed class PromptOptions
    {
        public string? PromptTemplate { get; set; }
        public IReadOnlyDictionary<string, string>? LabelDisplayNames { get; set; }
        public Nested Prompt { get; } = new();
        public sealed class Nested { public string Instruction { get; set; } = ""; }
    }

    [TestMethod]
    public void ParametersRoundTripThroughJsonIncludingNamedChoicesOfAnyType()
    {
        var scientific = new Dictionary<string, string> { ["Sci/Tech"] = "Science/Technology" };
        var space = DefaultSearchSpaces.PromptedDecoder(
            promptTemplates: [new("default", null), new("short", "Classify: {text}\n{options}\nAnswer:")],
            labelDisplayNames: [new("keys", null), new("spelled-out", scientific)]);
        var p = new TrialParameters("decoder", space, space.ToDictionary(d => d.Name, d => d.FromUnit(0.9)));
        var json = p.ToJson();
        Assert.AreEqual("short", (string?)json["PromptTemplate"]);
        Assert.AreEqual("spelled-out", (string?)json["LabelDisplayNames"]);
        Assert.AreEqual(16, (int)json["BatchSize"]!);

        using var doc = JsonDocument.Parse(json.ToJsonString());
        var back = TrialParameters.FromJson("decoder", space, doc.RootElement);
        Assert.AreEqual(p.Key, back.Key);
        Assert.AreSame(scientific, back["LabelDisplayNames"], "the very value of the choice comes back");
        Assert.AreEqual(p.Get<double>("LearningRate"), back.Get<double>("LearningRate"));

        var o = new PromptOptions();
        OptionsBinder.Apply(o, back.Where(kv => kv.Key is "PromptTemplate" or "LabelDisplayNames"));
        Assert.AreEqual("Classify: {text}\n{options}\nAnswer:", o.PromptTemplate);
        Assert.AreEqual("Science/Technology", o.LabelDisplayNames!["Sci/Tech"]);
        OptionsBinder.Apply(o, "Prompt.Instruction", "Read this.");
        Assert.AreEqual("Read this.", o.Prompt.Instruction);
    }

    [TestMethod]
    public void BinderConvertsAndNamesWhatCannotBeSet()
    {
        // ML.NET's own options use public fields (float?, int?).
        var sdca = new SdcaMaximumEntropyMulticlassTrainer.Options();
        OptionsBinder.Apply(sdca, [new("L2Regularization", 0.25), new("MaximumNumberOfIterations", 7)]);
        Assert.AreEqual(0.25f, sdca.L2Regularization);
        Assert.AreEqual(7, sdca.MaximumNumberOfIterations);

        var o = new BertTextClassificationTrainer.Options();
        OptionsBinder.Apply(o, "numberofepochs", 3);            // int into double, case-insensitive name
        OptionsBinder.Apply(o, "Precision", "float32");         // text into enum
        OptionsBinder.Apply(o, "BatchSize", 32.0);              // whole double into int
        using (var doc = JsonDocument.Parse("""{"v": 0.5, "s": "Linear"}"""))
        {
            OptionsBinder.Apply(o, "WarmupRatio", doc.RootElement.GetProperty("v"));
            OptionsBinder.Apply(o, "Schedule", doc.RootElement.GetProperty("s"));
        }
        Assert.AreEqual(3.0, o.NumberOfEpochs);
        Assert.AreEqual(Precision.Float32, o.Precision);
        Assert.AreEqual(32, o.BatchSize);
        Assert.AreEqual(0.5, o.WarmupRatio);
        Assert.AreEqual(LearningRateSchedule.Linear, o.Schedule);

        var ex = Assert.ThrowsExactly<ArgumentException>(() => OptionsBinder.Apply(o, "BatchSize", 32.5));
        StringAssert.Contains(ex.Message, "'BatchSize'");
        ex = Assert.ThrowsExactly<ArgumentException>(() => OptionsBinder.Apply(o, "LearnigRate", 1e-4));
        StringAssert.Contains(ex.Message, "'LearnigRate'");
        StringAssert.Contains(ex.Message, "LearningRate");
        ex = Assert.ThrowsExactly<ArgumentException>(() => OptionsBinder.Apply(o, "Precision", "float64"));
        StringAssert.Contains(ex.Message, "BFloat16");
        ex = Assert.ThrowsExactly<ArgumentException>(() => OptionsBinder.Apply(o, "BatchSize", null));
        StringAssert.Contains(ex.Message, "null");
        Assert.ThrowsExactly<ArgumentException>(() => OptionsBinder.Apply(o, "TrainerOptions", 1), "not settable");

        // A pipeline candidate checks its dimensions against the options type when it is added.
        var bad = Assert.ThrowsExactly<ArgumentException>(() => new SweepablePipeline().AddBert(new BertTextClassificationTrainer.Options(),
            DefaultSearchSpaces.Bert().AddChoice("PromptTemplate", "a", "b")));
        StringAssert.Contains(bad.Message, "PromptTemplate");
    }

    [TestMethod]
    public void DefaultSpacesSetTheTrainersOptions()
    {
        var rng = new Random(0);
        var space = DefaultSearchSpaces.Bert();
        for (int i = 0; i < 20; i++)
        {
            var o = new BertTextClassificationTrainer.Options { ModelPath = Path.GetTempPath() };
            OptionsBinder.Apply(o, new TrialParameters("bert", space, space.ToDictionary(d => d.Name, d => d.FromUnit(rng.NextDouble()))));
            o.Validate();
            Assert.IsTrue(o.LearningRate is >= 1e-5 and <= 2e-4);
            Assert.IsTrue(o.BatchSize is 16 or 32 or 64);
        }
        Assert.AreEqual(6, DefaultSearchSpaces.PromptedDecoder().Count);
        Assert.AreEqual(2, DefaultSearchSpaces.SdcaTextBaseline().Count);
    }
}
