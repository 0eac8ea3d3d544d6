using Microsoft.ML;
using MLNetLlmClassifier.Bert;
using MLNetLlmClassifier.Configuration;
using MLNetLlmClassifier.Sweeps;
using MLNetLlmClassifier.Tests.Checkpoints;

namespace MLNetLlmClassifier.Tests.Sweeps;

/// <summary>The sweep config file the CLI reads.</summary>
[TestClass]
public class SweepConfigTests
{
    private const string Example = """
        {
          // comments and trailing commas are fine
          "output": "runs/agnews",
          "seed": 7,
          "data": { "train": "data/train.csv", "validationFraction": 0.1, "textColumns": ["1", "2"], "labelNames": { "1": "World" } },
          "metric": "macroF1",
          "budget": { "maxTrials": 40, "maxMinutes": 120 },
          "tuner": { "kind": "tpe", "startupTrials": 8 },
          "pruner": { "kind": "asha", "minResource": 0.5, "reductionFactor": 4 },
          "candidates": [
            {
              "trainer": "bert",
              "model": "models/bert-base-uncased",
              "options": { "MaxSequenceLength": 128, "Device": "cpu", "Precision": "Float32" },
              "space": {
                "LearningRate": { "logUniform": [1e-5, 1e-4] },
                "MaxSequenceLength": null,
                "GradientAccumulationSteps": { "choice": [1, 2] },
              },
            },
            {
              "name": "qwen",
              "trainer": "decoder",
              "space": {
                "PromptTemplate": { "choice": { "default": null, "short": "Classify: {text}\n{options}\nAnswer:" } },
                "LabelDisplayNames": { "choice": { "keys": null, "spelled-out": { "Sci/Tech": "Science/Technology" } } },
              },
            },
          ],
        }
        """;

    [TestMethod]
    public void ParsesAndResolvesAConfig()
    {
        var c = SweepConfig.Parse(Example, "/work/project");
        Assert.AreEqual(Path.GetFullPath("/work/project/runs/agnews"), c.Output);
        Assert.AreEqual(Path.GetFullPath("/work/project/data/train.csv"), c.Data.Train);
        Assert.AreEqual(Path.GetFullPath("/work/project/models/bert-base-uncased"), c.Candidates[0].Model);
        Assert.AreEqual(SweepMetric.MacroF1, c.GetMetric());
        Assert.AreEqual("bert", c.Candidates[0].Name);
        CollectionAssert.AreEqual(new[] { "1", "2" }, c.Data.ToTextFileOptions().TextColumns.ToArray());
        Assert.AreEqual(8, ((TpeTuner)c.CreateTuner()).StartupTrials);
        var asha = (SuccessiveHalvingPruner)c.CreatePruner();
        Assert.AreEqual(0.5, asha.MinResource);
        Assert.AreEqual(4, asha.ReductionFactor);

        // The default BERT space, with LearningRate replaced, MaxSequenceLength removed and GradientAccumulationSteps added.
        var bert = c.Candidates[0].CreateSearchSpace();
        Assert.AreEqual("log-uniform [1E-05, 0.0001]", bert["LearningRate"].ToString());
        Assert.IsNull(bert.Find("MaxSequenceLength"));
        Assert.AreEqual(2, bert["GradientAccumulationSteps"].Cardinality);
        Assert.AreEqual(DefaultSearchSpaces.Bert().Count, bert.Count);

        // Fixed options and the model path go onto the trainer's options; so does a sampled point.
        var o = new BertTextClassificationTrainer.Options();
        c.Candidates[0].ApplyOptions(o);
        Assert.AreEqual(128, o.MaxSequenceLength);
        Assert.AreEqual(Precision.Float32, o.Precision);
        Assert.AreEqual(c.Candidates[0].Model, o.ModelPath);
        OptionsBinder.Apply(o, new TrialParameters("bert", bert, bert.ToDictionary(d => d.Name, d => d.FromUnit(0.7))));

        // Named choices of any JSON value: a label map becomes the option's dictionary type when set.
        var qwen = c.Candidates[1].CreateSearchSpace();
        var names = (ChoiceDimension)qwen["LabelDisplayNames"];
        CollectionAssert.AreEqual(new[] { "keys", "spelled-out" }, names.Options.Select(x => x.Label).ToArray());
        var prompt = new SearchSpaceTests.PromptOptions();
        OptionsBinder.Apply(prompt, "LabelDisplayNames", names.Options[1].Value);
        OptionsBinder.Apply(prompt, "PromptTemplate", ((ChoiceDimension)qwen["PromptTemplate"]).Options[1].Value);
        Assert.AreEqual("Science/Technology", prompt.LabelDisplayNames!["Sci/Tech"]);
        Assert.AreEqual("Classify: {text}\n{options}\nAnswer:", prompt.PromptTemplate);

        var e = c.Configure(new MLContext().Sweeps().CreateExperiment());
        Assert.IsNotNull(e);
    }

    [TestMethod]
    public void LoadsFromAFileRelativeToIt()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir.File("sweep.json"), Example);
        var c = SweepConfig.Load(dir.File("sweep.json"));
        Assert.AreEqual(Path.Combine(dir.Path, "runs", "agnews"), c.Output);
        Assert.AreEqual(dir.File("sweep.json"), c.SourcePath);
    }

    [TestMethod]
    public void ProblemsNameTheSetting()
    {
        void Bad(string json, params string[] expected)
        {
            var ex = Assert.ThrowsExactly<InvalidDataException>(() => SweepConfig.Parse(json, "/tmp"));
            foreach (var e in expected) StringAssert.Contains(ex.Message, e);
        }
        const string ok = """ "output": "o", "data": { "train": "t.csv" }, "budget": { "maxTrials": 3 } """;
        Bad("{" + ok + """, "candidates": [] }""", "candidates");
        Bad("{" + ok + """, "metric": "F2", "candidates": [{ "trainer": "bert" }] }""", "metric", "MacroF1");
        Bad("""{ "output": "o", "data": { "train": "t.csv" }, "candidates": [{ "trainer": "bert" }] }""", "budget");
        Bad("{" + ok + """, "tuner": { "kind": "smac" }, "candidates": [{ "trainer": "bert" }] }""", "smac");
        Bad("{" + ok + """, "candidates": [{ "trainer": "bert", "space": { "LearningRate": { "logUniform": [0, 1] } } }] }""", "candidates[0].space", "LearningRate");
        Bad("{" + ok + """, "candidates": [{ "trainer": "bert", "space": { "BatchSize": { "pick": [1, 2] } } }] }""", "'pick'");
        Bad("{" + ok + """, "candidates": [{ "trainer": "bert" }, { "trainer": "bert" }] }""", "candidates[1].name", "twice");
        Bad("{" + ok + """, "candidates": [{ "trainer": "bert", "lr": 1 }] }""", "lr");
    }
}
