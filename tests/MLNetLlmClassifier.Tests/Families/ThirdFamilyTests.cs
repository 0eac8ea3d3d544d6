using Microsoft.ML;
using Microsoft.ML.Trainers;
using MLNetLlmClassifier.Cli;
using MLNetLlmClassifier.Cli.Commands;
using MLNetLlmClassifier.Data;
using MLNetLlmClassifier.Families;
using MLNetLlmClassifier.Sweeps;

namespace MLNetLlmClassifier.Tests.Families;

/// <summary>
/// A throwaway family defined here, in one class, and registered with one line: it shows that a new family reaches the CLI,
/// <c>compare</c>, sweeps and the options vocabulary without touching anything else.
/// </summary>
[TestClass]
public class ThirdFamilyTests
{
    /// <summary>FeaturizeText + L-BFGS maximum entropy: a second classic baseline.</summary>
    private sealed class LbfgsFamily : ClassifierFamily<LbfgsFamily.Options>
    {
        public sealed class Options
        {
            /// <summary>Text column. Default "Text".</summary>
            public string TextColumnName { get; set; } = "Text";

            /// <summary>L2 regularisation weight. Default 1.</summary>
            [Configuration.CommandLineAlias("--l2")]
            public float L2Regularization { get; set; } = 1;
        }

        public override string Name => "lbfgs-test";
        public override IReadOnlyList<string> Aliases => ["lbfgs"];
        public override string DisplayName => "L-BFGS (test family)";
        public override ModelKind Kind => ModelKind.ClassicMlNet;

        public override Options NewOptions(string? modelPath, string textColumn, string? text2Column = null) => new() { TextColumnName = textColumn };

        protected override IEstimator<ITransformer> Estimator(MLContext ml, Options o) =>
            ml.Transforms.Text.FeaturizeText("Features", o.TextColumnName)
                .Append(ml.MulticlassClassification.Trainers.LbfgsMaximumEntropy(new LbfgsMaximumEntropyMulticlassTrainer.Options
                {
                    FeatureColumnName = "Features",
                    L2Regularization = o.L2Regularization,
                }));

        public override IReadOnlyList<SweepRange> DefaultSearchSpace => [SweepRange.LogUniform(nameof(Options.L2Regularization), 1e-3, 10)];
    }

    [TestMethod]
    public void ARegisteredFamilyReachesTheCliCompareAndSweeps()
    {
        var family = new LbfgsFamily();
        ClassifierFamilies.Register(family);   // the one registration line
        using var temp = new TempFolder();
        try
        {
            Assert.AreSame(family, ClassifierFamilies.Get("lbfgs"));
            Assert.ThrowsExactly<ArgumentException>(() => ClassifierFamilies.Register(new LbfgsFamily()), "a name is taken once");

            // train (with the flag its options class declares), then evaluate, from the CLI.
            var sample = StratifiedSplit.Sample(EmbeddedData.LoadAgNewsSample(renameLabels: true), 20, seed: 1);
            var csv = temp.File("train.csv");
            File.WriteAllLines(csv, sample.Select(r => $"{r.Label},\"{r.Text.Replace("\"", "\"\"")}\""));
            var zip = temp.File("model.zip");
            var (code, output) = Cli.CliTests.Run("train", "--trainer", "lbfgs", "--train", csv, "--text-column", "1", "--out", zip, "--l2", "0.5",
                "--set", "lbfgs-test.TextColumnName=Text");
            Assert.AreEqual(0, code, output);
            StringAssert.Contains(output, "Training lbfgs-test");
            Assert.IsTrue(File.Exists(zip));
            (code, output) = Cli.CliTests.Run("evaluate", "--model", zip, "--test", csv, "--text-column", "1");
            Assert.AreEqual(0, code, output);

            // compare: a column of its own, beside the SDCA baseline.
            var report = CompareCommand.Run(new CompareCommand.CompareSettings
            {
                Models = ["sdca", "lbfgs"],
                Output = temp.File("report"),
                ModelsFolder = temp.File("models"),
                Split = StratifiedSplit.Split(sample, 0.6, 0.2, 0.2, seed: 1),
                Device = "cpu",
            });
            CollectionAssert.AreEqual(new[] { "ML.NET SDCA (FeaturizeText)", "L-BFGS (test family)" }, report.Models.Select(m => m.Name).ToArray());
            Assert.IsTrue(report.Models[1].Test.MicroAccuracy is >= 0 and <= 1 && report.Models[1].ParameterCount is null);

            // sweeps: the family's default space, by name in a sweep file.
            var config = SweepConfig.Parse($$"""
                {"output": "sweep", "seed": 1, "data": {"train": "{{csv.Replace("\\", "\\\\")}}", "validationFraction": 0.25, "textColumns": ["1"]},
                 "budget": {"maxTrials": 2}, "tuner": {"kind": "random"}, "pruner": {"kind": "none"},
                 "candidates": [{"trainer": "lbfgs"}]}
                """, temp.Path);
            Assert.AreEqual("L2Regularization", config.Candidates[0].CreateSearchSpace().Single().Name);
            var result = SweepCommand.Run(config, TextWriter.Null, CancellationToken.None);
            using (result.Model as IDisposable)
                Assert.AreEqual(2, result.Leaderboard.Ranked.Count);
        }
        finally
        {
            ClassifierFamilies.Unregister(family);
        }
        Assert.IsNull(ClassifierFamilies.Find("lbfgs"));
    }
}
