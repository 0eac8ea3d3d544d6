using System.Text.Json.Nodes;

namespace MLNetLlmClassifier.Tests.Cli;

/// <summary><c>mlnet-llm sweep --config</c> end to end on a tiny BERT and the classic baseline, then resumed.</summary>
[TestClass]
public class SweepCommandTests
{
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
            Assert.AreEqual(2, File.ReadAllLines(Path.Combine(root, "out", "trials.jsonl")).Count(l => l.Contains("\"kind\":\"trial\"")), output);
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
            Assert.AreEqual(3, File.ReadAllLines(results).Count(l => l.Contains("\"kind\":\"trial\"")), output);
            Assert.IsTrue(File.Exists(Path.Combine(root, "out", "leaderboard.md")));
            var charts = Path.Combine(root, "out", "charts");
            Assert.IsTrue(File.Exists(Path.Combine(charts, "metric-by-trial.png")), output);
            Assert.IsNotEmpty(Directory.GetFiles(charts, "param-*.png"), output);

            // Run again: the budget is already spent, so nothing is retrained and no trial is added.
            (code, output) = CliTests.Run("sweep", "--config", path);
            Assert.AreEqual(0, code, output);
            Assert.AreEqual(3, File.ReadAllLines(results).Count(l => l.Contains("\"kind\":\"trial\"")), output);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }
}
