using System.Text.Json.Nodes;

namespace MLNetLlmClassifier.Tests.Cli;

/// <summary><c>mlnet-llm sweep --config</c> end to end on a tiny BERT and the classic baseline, then resumed.</summary>
[TestClass]
public class SweepCommandTests
{
    /// <summary>The trial records of a results file (other record kinds skipped).</summary>
    private static List<JsonObject> Trials(string path) =>
        File.ReadAllLines(path).Where(l => l.Length > 0).Select(l => JsonNode.Parse(l)!.AsObject()).Where(o => o["kind"]?.GetValue<string>() == "trial").ToList();

    /// <summary>Every trial completed (no pruner is configured, so anything else is a failure) with a finite metric.</summary>
    private static void AssertCompleted(List<JsonObject> trials, string output)
    {
        foreach (var t in trials)
        {
            Assert.AreEqual("Completed", t["status"]!.GetValue<string>(), $"trial {t["trialId"]} of {t["candidate"]}: {t["error"]}\n{output}");
            Assert.IsTrue(t["metric"] is JsonValue v && double.IsFinite(v.GetValue<double>()), $"trial {t["trialId"]} has no finite metric");
        }
    }

    [TestMethod]
    [DataRow("decoder")]
    [DataRow("qwen3-seqcls")]
    public void SweepOverTheTinyQwen3Completes(string trainer)
    {
        var root = Path.Combine(Path.GetTempPath(), $"sweep-qwen-{Guid.NewGuid():N}");
        Directory.CreateDirectory(root);
        try
        {
            MLNetLlmClassifier.Qwen3.PromptedDecoderFamily.Instance.CreateRandomCheckpoint(new("tiny", TestPaths.Shared("models", "qwen3-tokenizer"), Path.Combine(root, "qwen3-tiny"), Seed: 3));
            File.WriteAllLines(Path.Combine(root, "train.csv"),
                new[] { "text,category" }.Concat(Bert.BertTrainerTests.Synthetic(64, 1).Select(r => $"\"{r.Sentence1}\",{r.Label}")));
            var config = new JsonObject
            {
                ["output"] = "out",
                ["seed"] = 1,
                ["data"] = new JsonObject { ["train"] = "train.csv", ["validationFraction"] = 0.25, ["labelColumn"] = "category", ["textColumns"] = new JsonArray("text") },
                ["budget"] = new JsonObject { ["maxTrials"] = 2 },
                ["tuner"] = new JsonObject { ["kind"] = "random" },
                ["candidates"] = new JsonArray(new JsonObject
                {
                    ["trainer"] = trainer,
                    ["model"] = "qwen3-tiny",
                    ["useDefaultSpace"] = false,
                    ["options"] = new JsonObject
                    {
                        ["NumberOfEpochs"] = 1,
                        ["BatchSize"] = 16,
                        ["GradientAccumulationSteps"] = 1,
                        ["MaxSequenceLength"] = 64,
                        ["Device"] = "cpu",
                    },
                    ["space"] = new JsonObject { ["LearningRate"] = new JsonObject { ["logUniform"] = new JsonArray(1e-3, 5e-3) } },
                }),
            };
            if (trainer == "decoder")
                config["candidates"]![0]!["options"]!["PromptTemplate"] = "{text}\n{options}\nAnswer:/no_think";
            var path = Path.Combine(root, "sweep.json");
            File.WriteAllText(path, config.ToJsonString());
            var (code, output) = CliTests.Run("sweep", "--config", path);
            Assert.AreEqual(0, code, output);
            var trials = Trials(Path.Combine(root, "out", "trials.jsonl"));
            Assert.HasCount(2, trials, output);
            AssertCompleted(trials, output);
            StringAssert.Contains(output, "Best: trial");
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [TestMethod]
    public void SweepRunsFromAConfigFileAndResumesWithoutRepeatingTrials()
    {
        var root = Path.Combine(Path.GetTempPath(), $"sweep-cli-{Guid.NewGuid():N}");
        Directory.CreateDirectory(root);
        try
        {
            var model = Path.Combine(root, "bert-tiny");
            MLNetLlmClassifier.Bert.BertFamily.Instance.CreateRandomCheckpoint(new("tiny", TestPaths.Shared("models", "bert-uncased-vocab", "vocab.txt"), model, Seed: 3));
            File.WriteAllLines(Path.Combine(root, "train.csv"),
                new[] { "text,category" }.Concat(Bert.BertTrainerTests.Synthetic(200, 1).Select(r => $"\"{r.Sentence1}\",{r.Label}")));
            var config = new JsonObject
            {
                ["output"] = "out",
                ["seed"] = 1,
                ["data"] = new JsonObject { ["train"] = "train.csv", ["validationFraction"] = 0.25, ["labelColumn"] = "category", ["textColumns"] = new JsonArray("text") },
                ["metric"] = "MacroF1",
                ["budget"] = new JsonObject { ["maxTrials"] = 3 },
                ["tuner"] = new JsonObject { ["kind"] = "random" },
                ["candidates"] = new JsonArray(
                    new JsonObject { ["trainer"] = "sdca", ["useDefaultSpace"] = false, ["space"] = new JsonObject { ["L2Regularization"] = new JsonObject { ["logUniform"] = new JsonArray(1e-4, 1e-1) } } },
                    new JsonObject
                    {
                        ["trainer"] = "bert",
                        ["model"] = "bert-tiny",
                        ["useDefaultSpace"] = false,
                        ["options"] = new JsonObject { ["NumberOfEpochs"] = 1, ["BatchSize"] = 16, ["MaxSequenceLength"] = 32, ["Device"] = "cpu" },
                        ["space"] = new JsonObject { ["LearningRate"] = new JsonObject { ["logUniform"] = new JsonArray(1e-4, 3e-3) } },
                    }),
            };
            var path = Path.Combine(root, "sweep.json");
            File.WriteAllText(path, config.ToJsonString());

            var (code, output) = CliTests.Run("sweep", "--config", path);
            Assert.AreEqual(0, code, output);
            StringAssert.Contains(output, "Best: trial");
            var results = Path.Combine(root, "out", "trials.jsonl");
            var trials = Trials(results);
            Assert.HasCount(3, trials, output);
            AssertCompleted(trials, output);
            CollectionAssert.IsSubsetOf(new[] { "bert" }, trials.Select(t => t["candidate"]!.GetValue<string>()).ToArray(), "the BERT candidate must have run: " + output);
            Assert.IsTrue(File.Exists(Path.Combine(root, "out", "leaderboard.md")));
            var charts = Path.Combine(root, "out", "charts");
            Assert.IsTrue(File.Exists(Path.Combine(charts, "metric-by-trial.png")), output);
            Assert.IsNotEmpty(Directory.GetFiles(charts, "param-*.png"), output);
            // best-model.zip remembers the data file's columns, so evaluate needs no column flags (issue 12, item 8).
            string best = Path.Combine(root, "out", "best-model.zip");
            var columns = MLNetLlmClassifier.Cli.Commands.ModelFile.ReadColumns(best);
            Assert.IsNotNull(columns, "best-model.zip has no columns entry");
            Assert.AreEqual("category", columns.LabelColumn);
            CollectionAssert.AreEqual(new[] { "text" }, columns.TextColumns.ToArray());
            var (evalCode, evalOutput) = CliTests.Run("evaluate", "--model", best, "--test", Path.Combine(root, "train.csv"));
            Assert.AreEqual(0, evalCode, evalOutput);

            // Run again: the budget is already spent, so nothing is retrained and no trial is added.
            (code, output) = CliTests.Run("sweep", "--config", path);
            Assert.AreEqual(0, code, output);
            CollectionAssert.AreEqual(trials.Select(t => t.ToJsonString()).ToArray(), Trials(results).Select(t => t.ToJsonString()).ToArray(), "no trial added or changed");
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }
}
