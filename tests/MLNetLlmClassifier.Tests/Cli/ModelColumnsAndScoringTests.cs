using System.IO.Compression;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using MLNetLlmClassifier.Cli.Commands;
using MLNetLlmClassifier.Cli.Scoring;
using MLNetLlmClassifier.Cli.Serving;
using MLNetLlmClassifier.Data;

namespace MLNetLlmClassifier.Tests.Cli;

/// <summary>
/// A model trained by the CLI on a file with named columns remembers them (evaluate and predict need no column flags), scores whole
/// files in batches (predict --input), and is served over HTTP (serve) — on one tiny random BERT trained once for the class.
/// </summary>
[TestClass]
public class ModelColumnsAndScoringTests
{
    private static TempFolder _temp = null!;
    private static string _zip = "";
    private static string _test = "";

    private static readonly string[] Texts =
    [
        "the football team scored a late goal in the league match",
        "stocks and shares fell as the bank reported a lower profit",
        "the minister won the election after the war treaty",
    ];

    [ClassInitialize]
    public static void Init(TestContext _)
    {
        _temp = new TempFolder();
        var bert = _temp.File("bert");
        MLNetLlmClassifier.Bert.BertFamily.Instance.CreateRandomCheckpoint(new("tiny", TestPaths.Shared("models", "bert-uncased-vocab", "vocab.txt"), bert, Seed: 3));
        // Label last, text in a column called "review", an extra column first: nothing the defaults (label 0, text 1,2) would find.
        var train = _temp.File("train.csv");
        _test = _temp.File("test.csv");
        static void Write(string path, IEnumerable<Bert.BertTrainerTests.Row> rows) =>
            File.WriteAllLines(path, new[] { "id,review,category" }.Concat(rows.Select((r, i) => $"{i},\"{r.Sentence1}\",{r.Label}")));
        Write(train, Bert.BertTrainerTests.Synthetic(64, 1));
        Write(_test, Bert.BertTrainerTests.Synthetic(24, 2));
        _zip = _temp.File("model.zip");
        var (code, output) = CliTests.Run("train", "--model", bert, "--train", train, "--out", _zip, "--label-column", "category", "--text-column", "review",
            "--epochs", "1", "--batch-size", "16", "--max-length", "24");
        Assert.AreEqual(0, code, output);
    }

    [ClassCleanup]
    public static void Cleanup() => _temp?.Dispose();

    [TestMethod]
    public void TheModelRemembersItsColumnsAndFlagsOverrideThem()
    {
        var remembered = ModelFile.ReadColumns(_zip);
        Assert.IsNotNull(remembered);
        Assert.AreEqual("category", remembered.LabelColumn);
        CollectionAssert.AreEqual(new[] { "review" }, remembered.TextColumns.ToArray());

        var (code, output) = CliTests.Run("evaluate", "--model", _zip, "--test", _test, "--json");
        Assert.AreEqual(0, code, output);
        Assert.AreEqual(24, JsonDocument.Parse(output).RootElement.GetProperty("rows").GetInt32());

        // A flag still wins over what the model remembers.
        (code, output) = CliTests.Run("evaluate", "--model", _zip, "--test", _test, "--text-column", "nope");
        Assert.AreEqual(1, code, output);
        StringAssert.Contains(output, "unknown text column 'nope'");
    }

    [TestMethod]
    public void EvaluateCountsOnlyTheRowsItEvaluates()
    {
        var withUnknown = _temp.File("test-unknown.csv");
        File.WriteAllLines(withUnknown, File.ReadAllLines(_test).Concat(
            ["100,\"a text with a label the model never saw\",Nonexistent", "101,\"another one\",Nonexistent"]));
        var (code, output) = CliTests.Run("evaluate", "--model", _zip, "--test", withUnknown, "--json");
        Assert.AreEqual(0, code, output);
        StringAssert.Contains(output, "2 rows have labels the model does not know");
        var json = JsonDocument.Parse(output[output.IndexOf('{')..]).RootElement;
        Assert.AreEqual(24, json.GetProperty("rows").GetInt32(), "rows must count only the rows the evaluator used, not the 2 it skipped");
    }

    [TestMethod]
    public void AModelZipWithoutTheColumnsEntryStillLoadsAndUsesTheDefaults()
    {
        // A model.zip of the previous version: the same file without the entry.
        var old = _temp.File("old.zip");
        File.Copy(_zip, old, overwrite: true);
        using (var archive = ZipFile.Open(old, ZipArchiveMode.Update)) archive.GetEntry(ModelFile.ColumnsEntry)!.Delete();
        Assert.IsNull(ModelFile.ReadColumns(old));
        var (code, output) = CliTests.Run("evaluate", "--model", old, "--test", _test);
        Assert.AreEqual(1, code, output);
        StringAssert.Contains(output, "is a class of the model", "with the defaults (label column 0) the id column is read as the label");
        (code, output) = CliTests.Run("evaluate", "--model", old, "--test", _test, "--label-column", "category", "--text-column", "review", "--json");
        Assert.AreEqual(0, code, output);
        (code, output) = CliTests.Run("predict", "--model", old, "--text", Texts[0]);
        Assert.AreEqual(0, code, output);
    }

    [TestMethod]
    public void ACorruptColumnsEntryIsAOneLineErrorNamingTheFile()
    {
        var bad = _temp.File("bad.zip");
        File.Copy(_zip, bad, overwrite: true);
        using (var archive = ZipFile.Open(bad, ZipArchiveMode.Update))
        {
            archive.GetEntry(ModelFile.ColumnsEntry)!.Delete();
            using var w = new StreamWriter(archive.CreateEntry(ModelFile.ColumnsEntry).Open());
            w.Write("{\"format_version\": 1, \"label_column\": 5}");
        }
        var (code, output) = CliTests.Run("evaluate", "--model", bad, "--test", _test);
        Assert.AreEqual(1, code, output);
        StringAssert.Contains(output, $"'{bad}': entry {ModelFile.ColumnsEntry}");
        Assert.AreEqual(1, output.Trim().Split('\n').Length, output);
    }

    [TestMethod]
    public void PredictScoresAFileInBatchesWithTheSameResultsAsOneTextAtATime()
    {
        var input = _temp.File("new.csv");
        File.WriteAllLines(input, new[] { "review,source" }.Concat(Texts.Select(t => $"\"{t}\",web")));
        var output = _temp.File("scored.csv");
        var (code, log) = CliTests.Run("predict", "--model", _zip, "--input", input, "--output", output);
        Assert.AreEqual(0, code, log);
        StringAssert.Contains(log, "rows/s");
        var table = TextClassificationFile.Load(output, new TextFileOptions { LabelColumn = "predicted_label", TextColumns = ["review"] });
        Assert.AreEqual(Texts.Length, table.Count);
        var lines = File.ReadAllLines(output);
        StringAssert.StartsWith(lines[0], "\"review\",\"source\",\"predicted_label\",\"p_");

        using var scorer = ModelScorer.Load(_zip);
        Assert.AreEqual(4, scorer.ClassNames.Count);
        StringAssert.Contains(lines[0], $"\"p_{scorer.ClassNames[0]}\"");
        for (int i = 0; i < Texts.Length; i++)
        {
            var one = scorer.ScoreOne(new TextPair(Texts[i]));
            Assert.AreEqual(one.Label, table[i].Label, $"row {i + 1}");
            var fields = lines[i + 1].Split("\",\"");
            for (int c = 0; c < scorer.ClassNames.Count; c++)
                Assert.AreEqual(one.Probabilities[c], float.Parse(fields[3 + c].Trim('"'), System.Globalization.CultureInfo.InvariantCulture), 1e-5, $"row {i + 1} class {c}");
        }
    }

    [TestMethod]
    public void PredictScoresJsonLinesAndNamesTheRowOfABadLine()
    {
        var input = _temp.File("new.jsonl");
        File.WriteAllLines(input, Texts.Select((t, i) => JsonSerializer.Serialize(new { id = i, review = t })));
        var output = _temp.File("scored.jsonl");
        var (code, log) = CliTests.Run("predict", "--model", _zip, "--input", input, "--output", output);
        Assert.AreEqual(0, code, log);
        var rows = File.ReadAllLines(output).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.AreEqual(Texts.Length, rows.Count);
        for (int i = 0; i < rows.Count; i++)
        {
            Assert.AreEqual(i, rows[i].GetProperty("id").GetInt32(), "input fields are kept");
            var probs = rows[i].GetProperty("probabilities").EnumerateObject().ToList();
            Assert.AreEqual(4, probs.Count);
            Assert.AreEqual(1.0, probs.Sum(p => p.Value.GetDouble()), 1e-4);
            Assert.AreEqual(probs.MaxBy(p => p.Value.GetDouble()).Name, rows[i].GetProperty("predicted_label").GetString());
        }

        File.AppendAllText(input, "{\"id\": 9, \"title\": \"no review field\"}\n");
        var untouched = _temp.File("untouched.jsonl");
        File.WriteAllText(untouched, "previous");
        (code, log) = CliTests.Run("predict", "--model", _zip, "--input", input, "--output", untouched);
        Assert.AreEqual(1, code, log);
        StringAssert.Contains(log, "line 4");
        StringAssert.Contains(log, "row 4 has no field 'review'");
        Assert.AreEqual("previous", File.ReadAllText(untouched), "nothing is written on an error");
    }

    [TestMethod]
    public async Task ServePredictsOneAndManyTextsLikeTheModel()
    {
        using var scorer = ModelScorer.Load(_zip);
        await using var server = ClassifierServer.Create(scorer, new ServeOptions { Urls = "http://127.0.0.1:0" }, "model.zip");
        await server.StartAsync();
        var url = new Uri(server.Urls[0]);
        Assert.IsTrue(url.IsLoopback && url.Port > 0, url.ToString());
        using var client = new HttpClient { BaseAddress = url };
        var expected = Texts.Select(t => scorer.ScoreOne(new TextPair(t))).ToList();

        using var one = await client.PostAsJsonAsync("/predict", new { text = Texts[1] });
        Assert.AreEqual(HttpStatusCode.OK, one.StatusCode);
        var single = JsonDocument.Parse(await one.Content.ReadAsStringAsync()).RootElement;
        Assert.AreEqual(expected[1].Label, single.GetProperty("label").GetString());

        using var many = await client.PostAsJsonAsync("/predict", new { texts = Texts });
        var predictions = JsonDocument.Parse(await many.Content.ReadAsStringAsync()).RootElement.GetProperty("predictions").EnumerateArray().ToList();
        Assert.AreEqual(Texts.Length, predictions.Count);
        for (int i = 0; i < Texts.Length; i++)
        {
            Assert.AreEqual(expected[i].Label, predictions[i].GetProperty("label").GetString());
            for (int c = 0; c < scorer.ClassNames.Count; c++)
                Assert.AreEqual(expected[i].Probabilities[c], predictions[i].GetProperty("probabilities").GetProperty(scorer.ClassNames[c]).GetSingle(), 1e-5);
        }
        var health = JsonDocument.Parse(await client.GetStringAsync("/health")).RootElement;
        Assert.AreEqual("ok", health.GetProperty("status").GetString());
        Assert.AreEqual(4, health.GetProperty("classes").GetArrayLength());
        StringAssert.Contains(await client.GetStringAsync("/metrics"), "mlnetllm_texts_total 4");
    }

    [TestMethod]
    public void ServeBenchMeasuresTheBaselineAndTheServerOnLoopbackWithinItsBounds()
    {
        var (code, output) = CliTests.Run("serve-bench", "--model", _zip, "--requests", "6", "--seconds", "60", "--concurrency", "1,3", "--json");
        Assert.AreEqual(0, code, output);
        var levels = JsonDocument.Parse(output).RootElement.EnumerateArray().ToList();
        Assert.AreEqual(5, levels.Count, "the PredictionEngine baseline, then two server modes at two concurrencies");
        StringAssert.StartsWith(levels[0].GetProperty("mode").GetString(), "PredictionEngine");
        CollectionAssert.AreEqual(new[] { 1, 1, 3, 1, 3 }, levels.Select(l => l.GetProperty("concurrency").GetInt32()).ToArray());
        Assert.IsTrue(levels.All(l => l.GetProperty("requests").GetInt32() == 6), "each level sends exactly --requests requests");
        Assert.IsTrue(levels.All(l => l.GetProperty("requestsPerSecond").GetDouble() > 0 && l.GetProperty("p99Ms").GetDouble() >= l.GetProperty("p50Ms").GetDouble()));
        Assert.AreEqual(1.0, levels[4].GetProperty("meanBatchSize").GetDouble(), "--max-batch 1 scores one text per batch");
    }

    [TestMethod]
    public void ExportWritesAHuggingFaceFolderWithLabelMapsThatReloadsToTheSameScores()
    {
        var folder = _temp.File("exported");
        var (code, output) = CliTests.Run("export", "--model", _zip, "--out", folder, "--verify-rows", "4");
        Assert.AreEqual(0, code, output);
        StringAssert.Contains(output, "Verified: reloaded from the folder");
        var config = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "config.json")))!.AsObject();
        Assert.AreEqual("BertForSequenceClassification", config["architectures"]![0]!.GetValue<string>());
        using var scorer = ModelScorer.Load(_zip);
        for (int i = 0; i < scorer.ClassNames.Count; i++)
        {
            Assert.AreEqual(scorer.ClassNames[i], config["id2label"]![i.ToString(System.Globalization.CultureInfo.InvariantCulture)]!.GetValue<string>());
            Assert.AreEqual(i, config["label2id"]![scorer.ClassNames[i]]!.GetValue<int>());
        }
        // A second export into the now non-empty folder needs --overwrite.
        (code, output) = CliTests.Run("export", "--model", _zip, "--out", folder);
        Assert.AreEqual(1, code, output);
        StringAssert.Contains(output, "not empty");
    }
}
