using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.ML;
using MLNetLlmClassifier.Bert;
using MLNetLlmClassifier.Checkpoints;
using MLNetLlmClassifier.Qwen3;
using MLNetLlmClassifier.Sweeps;
using MLNetLlmClassifier.Tests.MLNet;
using MLNetLlmClassifier.Tests.Sweeps;
using static TorchSharp.torch;

namespace MLNetLlmClassifier.Tests.Fuzz;

/// <summary>
/// The fuzz harness (issue 11): deterministic random mutations (<see cref="Mutator"/>) of a tiny safetensors file, two
/// config.json files (BERT, Qwen3), three tokenizer files (vocab.txt, a WordPiece tokenizer.json, a byte-level BPE
/// tokenizer.json), a model.zip and a sweep results file, each read in process by the code that reads such a file, under a
/// time limit and an allocation budget. Every case must end in success or a <em>typed error</em>:
/// <list type="bullet">
/// <item>the exception (after the wrappers ML.NET and reflection put around a loader's: TargetInvocationException,
/// TypeInitializationException, AggregateException, ML.NET's "Error during class instantiation" and "Couldn't load model")
/// is an <see cref="InvalidDataException"/>, a <see cref="FormatException"/> (<see cref="MLNetLlmClassifier.Data.TextFileException"/> is one), a
/// <see cref="JsonException"/> or a <see cref="CheckpointMismatchException"/>, the types the readers document for bad
/// content;</item>
/// <item>its message is one non-empty line of at most 2,000 characters.</item>
/// </list>
/// Anything else (NullReferenceException, IndexOutOfRangeException, OverflowException, ArgumentException from deep inside,
/// native errors, out of memory, a message with a line break), a case that runs past <see cref="CaseTimeLimit"/> or one whose
/// thread allocates more than its budget (<see cref="GC.GetAllocatedBytesForCurrentThread"/>) or grows the process's working
/// set by over 1 GiB fails the test, with the case's seed, mutations and message, and the mutated file kept for replay.
/// <para>
/// The suite runs about 3,000 cases (<see cref="CasesPerTarget"/>). A longer run: <c>MLNETLLM_FUZZ_SCALE=20 dotnet test
/// tests/MLNetLlmClassifier.Tests -c Release --filter "FullyQualifiedName~FuzzTests"</c> (20x the cases; any seed offset with
/// MLNETLLM_FUZZ_SEED=N; failing inputs are kept under MLNETLLM_FUZZ_KEEP, a folder, when set).
/// </para>
/// </summary>
[TestClass]
public class FuzzTests
{
    /// <summary>Longest a case may run (loading a tiny model included, on a busy machine).</summary>
    private static readonly TimeSpan CaseTimeLimit = TimeSpan.FromSeconds(30);

    private static int Scale => int.TryParse(Environment.GetEnvironmentVariable("MLNETLLM_FUZZ_SCALE"), out int s) && s > 0 ? s : 1;

    private static int SeedOffset => int.TryParse(Environment.GetEnvironmentVariable("MLNETLLM_FUZZ_SEED"), out int s) ? s : 0;

    /// <summary>Cases per target in the suite (times MLNETLLM_FUZZ_SCALE).</summary>
    private static readonly Dictionary<string, int> CasesPerTarget = new(StringComparer.Ordinal)
    {
        ["safetensors"] = 600,
        ["bert-config"] = 400,
        ["qwen3-config"] = 400,
        ["vocab-txt"] = 300,
        ["bert-tokenizer-json"] = 300,
        ["qwen3-tokenizer-json"] = 250,
        ["model-zip"] = 30,
        ["sweep-results"] = 500,
    };

    private static TempFolder _temp = null!;
    private static readonly Dictionary<string, byte[]> Seeds = new(StringComparer.Ordinal);

    [ClassInitialize]
    public static void Init(TestContext _)
    {
        _temp = new TempFolder();

        // A tiny safetensors file: three dtypes, a scalar-free mix of shapes, metadata.
        string st = _temp.File("seed.safetensors");
        using (var scope = NewDisposeScope())
            SafeTensorsFile.Save(st, new Dictionary<string, Tensor>
            {
                ["embeddings.weight"] = arange(12, dtype: ScalarType.Float32).reshape(4, 3),
                ["norm.bias"] = ones(5, dtype: ScalarType.BFloat16),
                ["position_ids"] = arange(4, dtype: ScalarType.Int64).reshape(2, 2),
            }, new Dictionary<string, string> { ["format"] = "pt" });
        Seeds["safetensors"] = File.ReadAllBytes(st);

        Seeds["bert-config"] = File.ReadAllBytes(TestPaths.Shared("fixtures", "hf-parity", "bert-tiny-a", "config.json"));
        Seeds["qwen3-config"] = File.ReadAllBytes(TestPaths.Shared("fixtures", "hf-parity", "qwen3-tiny-a", "config.json"));

        // vocab.txt: the first 400 lines of bert-base-uncased's (the special tokens are at 0 and 100-103).
        var vocab = File.ReadLines(TestPaths.Shared("models", "bert-uncased-vocab", "vocab.txt")).Take(400).ToList();
        Seeds["vocab-txt"] = Encoding.UTF8.GetBytes(string.Join('\n', vocab) + "\n");
        var wordPiece = new JsonObject
        {
            ["version"] = "1.0",
            ["normalizer"] = new JsonObject { ["type"] = "BertNormalizer", ["lowercase"] = true, ["strip_accents"] = null, ["handle_chinese_chars"] = true },
            ["model"] = new JsonObject
            {
                ["type"] = "WordPiece",
                ["unk_token"] = "[UNK]",
                ["continuing_subword_prefix"] = "##",
                ["max_input_chars_per_word"] = 100,
                ["vocab"] = new JsonObject(vocab.Select((t, i) => KeyValuePair.Create(t, (JsonNode?)i)).DistinctBy(p => p.Key)),
            },
        };
        Seeds["bert-tokenizer-json"] = Encoding.UTF8.GetBytes(wordPiece.ToJsonString());

        // The real Qwen3 tokenizer.json cut to its first 1,500 tokens and the merges among them (11 MB would take a second a case).
        var qwen = JsonNode.Parse(File.ReadAllBytes(TestPaths.Shared("models", "qwen3-tokenizer", "tokenizer.json")))!.AsObject();
        var model = qwen["model"]!.AsObject();
        var kept = model["vocab"]!.AsObject().Where(p => p.Value!.GetValue<int>() < 1500).Select(p => KeyValuePair.Create(p.Key, (JsonNode?)p.Value!.GetValue<int>())).ToList();
        var keptNames = kept.Select(p => p.Key).ToHashSet(StringComparer.Ordinal);
        var merges = model["merges"]!.AsArray().Select(m => m!.AsArray().Select(x => x!.GetValue<string>()).ToArray())
            .Where(m => keptNames.Contains(m[0]) && keptNames.Contains(m[1]) && keptNames.Contains(m[0] + m[1]))
            .Select(m => (JsonNode?)new JsonArray(m[0], m[1])).ToArray();
        model["vocab"] = new JsonObject(kept);
        model["merges"] = new JsonArray(merges);
        Seeds["qwen3-tokenizer-json"] = Encoding.UTF8.GetBytes(qwen.ToJsonString());
        File.Copy(TestPaths.Shared("models", "qwen3-tokenizer", "tokenizer_config.json"), _temp.File("tokenizer_config.json.seed"));

        string zip = _temp.File("seed-model.zip");
        HostileModelZipTests.SaveTinyModel(_temp, zip);
        // Rewritten with fixed entry time stamps: the same cases mutate the same bytes in every run (a finding replays by its seed).
        Seeds["model-zip"] = Mutator.WriteZip(Mutator.ReadZip(File.ReadAllBytes(zip)));

        // A results file of a finished 4-trial synthetic sweep.
        string sweep = _temp.File("sweep");
        new MLContext(seed: 0).Sweeps().CreateExperiment()
            .AddTrialRunner("synthetic", SyntheticObjectives.FineTuningSpace(),
                t => PrunerTests.TrainCurve(t, SyntheticObjectives.FineTuning(t.Parameters), t.Parameters.Get<int>("NumberOfEpochs")))
            .SetMetric(SweepMetric.MacroF1).SetSeed(3).SetBudget(maxTrials: 4).SetOutputFolder(sweep)
            .RunAsync().GetAwaiter().GetResult();
        Seeds["sweep-results"] = File.ReadAllBytes(Path.Combine(sweep, SweepExperiment.ResultsFileName));
    }

    [ClassCleanup]
    public static void Cleanup() => _temp?.Dispose();

    /// <summary>Reads one mutated file the way the library reads such a file. Returns normally on success.</summary>
    private delegate void Reader(string folder, string file);

    private static readonly string[] Texts = ["Hello world, unaffable!", "", "  \t", "日本語 テキスト", "a\u0000b", new string('x', 300)];

    private static void ReadSafeTensors(string folder, string file)
    {
        using var st = SafeTensorsFile.Open(file);
        foreach (var t in st.Tensors)
            st.Read(t.Name).Dispose();
    }

    private static void ReadBertConfig(string folder, string file) => BertConfig.Load(folder);

    private static void ReadQwen3Config(string folder, string file) => Qwen3Config.Load(file);

    private static void ReadBertTokenizer(string folder, string file)
    {
        var tok = BertWordPieceTokenizer.FromFolder(folder);
        foreach (var text in Texts) tok.EncodeWithoutSpecialTokens(text);
    }

    private static void ReadQwen3Tokenizer(string folder, string file)
    {
        var tok = Qwen3Tokenizer.FromFolder(folder);
        foreach (var text in Texts) tok.Encode(text);
    }

    /// <summary>One context for every model-zip case (registering the loaders in a new one costs more than a tiny load).</summary>
    private static readonly Lazy<MLContext> ZipContext = new(() => new MLContext(seed: 1).RegisterMLNetLlmClassifier(loadDevice: "cpu"));

    private static void ReadModelZip(string folder, string file)
    {
        var ml = ZipContext.Value;
        var loaded = ml.Model.Load(file, out _);
        using (loaded as IDisposable)
        {
            var engine = ml.Model.CreatePredictionEngine<Bert.BertTrainerTests.Row, HostileModelZipTests.Prediction>(loaded);
            engine.Predict(new Bert.BertTrainerTests.Row { Label = "C0", Sentence1 = "a b c" });
        }
    }

    private static void ReadSweepResults(string folder, string file)
    {
        using var results = SweepResultsFile.Open(file, [new SweepCandidateSpace("synthetic", SyntheticObjectives.FineTuningSpace())],
            SweepMetric.MacroF1, maximize: true, seed: 3, log: null, out _);
    }

    /// <summary>What one case ended in: null for success or a typed error, else why it is a finding.</summary>
    internal static string? Finding(Exception? e, out string outcome, Func<Exception, bool>? alsoTyped = null)
    {
        if (e is null)
        {
            outcome = "ok";
            return null;
        }
        var cause = Cause(e);
        outcome = cause.GetType().Name;
        if (ThrownByMlNet(cause))
        {
            // ML.NET's own reader (the Schema entry, the loader's assembly name) fails before ours runs: not this library's
            // to type; the CLI's ModelFile.Load turns it into one line naming the file.
            outcome = "ML.NET " + outcome;
            // A mutated Model.key names an assembly that does not exist: the runtime's assembly-load message has several lines
            // ("File name: ..."), which ML.NET passes on; neither is this library's, and the CLI folds it into one line.
            if (cause is FileNotFoundException or FileLoadException or BadImageFormatException) return null;
            return cause.Message.Contains('\n', StringComparison.Ordinal) ? $"ML.NET {cause.GetType().Name} with a message of several lines" : null;
        }
        bool typed = cause is InvalidDataException or FormatException or JsonException or CheckpointMismatchException || alsoTyped?.Invoke(cause) == true;
        if (!typed) return $"untyped {cause.GetType().FullName}: {cause.Message}{Where(cause)}";
        if (string.IsNullOrWhiteSpace(cause.Message)) return $"{cause.GetType().Name} with an empty message";
        if (cause.Message.Contains('\n', StringComparison.Ordinal) || cause.Message.Contains('\r', StringComparison.Ordinal))
            return $"{cause.GetType().Name} with a message of several lines: {cause.Message}";
        if (cause.Message.Length > 2000) return $"{cause.GetType().Name} with a message of {cause.Message.Length} characters";
        return null;
    }

    /// <summary>Whether the first frame outside System.* that threw <paramref name="e"/> is ML.NET's (Microsoft.ML.*, not this library).</summary>
    private static bool ThrownByMlNet(Exception e)
    {
        foreach (var frame in new StackTrace(e).GetFrames())
        {
            string? ns = frame.GetMethod()?.DeclaringType?.Namespace;
            if (ns is null || ns.StartsWith("System", StringComparison.Ordinal)) continue;
            return ns.StartsWith("Microsoft.ML", StringComparison.Ordinal);
        }
        return false;
    }

    /// <summary>" (at Type.Method)" for the innermost frame of this library that <paramref name="e"/> passed through, to find an untyped error's origin.</summary>
    private static string Where(Exception e)
    {
        var frame = new StackTrace(e).GetFrames().Select(f => f.GetMethod()).FirstOrDefault(m =>
            m?.DeclaringType?.Namespace?.StartsWith("MLNetLlmClassifier", StringComparison.Ordinal) == true
            && m.DeclaringType.Namespace?.StartsWith("MLNetLlmClassifier.Tests", StringComparison.Ordinal) != true);
        return frame is null ? "" : $" (at {frame.DeclaringType!.Name}.{frame.Name})";
    }

    /// <summary>The first exception in the chain that is not a wrapper of reflection or of ML.NET's loader.</summary>
    private static Exception Cause(Exception e)
    {
        for (int depth = 0; depth < 32 && e.InnerException is { } inner; depth++)
        {
            bool wrapper = e is TargetInvocationException or TypeInitializationException or AggregateException
                || (e is InvalidOperationException && e.Message.StartsWith("Error during class instantiation", StringComparison.Ordinal))
                || (e is FormatException && e.Message.StartsWith("Couldn't load model", StringComparison.Ordinal) && e.GetType() == typeof(FormatException));
            if (!wrapper) break;
            e = inner;
        }
        return e;
    }

    private sealed record CaseResult(int Case, int Seed, string Kinds, string Outcome, string? Finding, string? KeptAt);

    /// <summary>A stable hash of a name (string.GetHashCode differs between processes).</summary>
    private static int StableHash(string s)
    {
        unchecked
        {
            int h = (int)2166136261;
            foreach (char c in s) h = (h ^ c) * 16777619;
            return h & 0x7FFFFFFF;
        }
    }

    /// <summary>Runs the cases of one target and fails with every finding.</summary>
    private static void Fuzz(string target, string fileName, bool text, Reader read, long allocationBudget, bool zipEntries = false,
        Action<string>? prepare = null, Func<Exception, bool>? alsoTyped = null)
    {
        byte[] seed = Seeds[target];
        int cases = CasesPerTarget[target] * Scale;
        string folder = _temp.File("case-" + target);
        Directory.CreateDirectory(folder);
        prepare?.Invoke(folder);
        string file = Path.Combine(folder, fileName);
        string? keep = Environment.GetEnvironmentVariable("MLNETLLM_FUZZ_KEEP");

        // The unmutated file must read (else every case would only test the first check).
        File.WriteAllBytes(file, seed);
        read(folder, file);

        var results = new List<CaseResult>();
        long baseline = Environment.WorkingSet;
        var watch = Stopwatch.StartNew();
        for (int i = 0; i < cases; i++)
        {
            int caseSeed = unchecked((SeedOffset * 1_000_003) + (StableHash(target) % 1_000_000 * 7919) + i) & 0x7FFFFFFF;
            var rng = new Random(caseSeed);
            byte[] bytes;
            string kinds;
            if (zipEntries && rng.Next(3) != 0)
            {
                // Inside the zip: one entry's content mutated, the archive rewritten with valid CRCs.
                var entries = Mutator.ReadZip(seed);
                int at = rng.Next(entries.Count);
                var (mutated, k) = Mutator.Mutate(entries[at].Bytes, rng, text: entries[at].Name.EndsWith(".json", StringComparison.Ordinal) || entries[at].Name.EndsWith(".txt", StringComparison.Ordinal));
                entries[at] = (entries[at].Name, mutated);
                bytes = Mutator.WriteZip(entries);
                kinds = $"entry {entries[at].Name}: {k}";
            }
            else (bytes, kinds) = Mutator.Mutate(seed, rng, text);
            File.WriteAllBytes(file, bytes);

            Exception? error = null;
            long allocated = 0;
            var run = Task.Factory.StartNew(() =>
            {
                long before = GC.GetAllocatedBytesForCurrentThread();
                try { read(folder, file); }
                catch (Exception e) { error = e; }
                finally { allocated = GC.GetAllocatedBytesForCurrentThread() - before; }
            }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            string? finding;
            string outcome;
            if (!run.Wait(CaseTimeLimit))
            {
                finding = $"did not end within {CaseTimeLimit.TotalSeconds:F0} s";
                outcome = "hang";
            }
            else
            {
                finding = Finding(error, out outcome, alsoTyped);
                long grown = Environment.WorkingSet - baseline;
                if (finding is null && allocated > allocationBudget)
                    finding = $"allocated {allocated / 1e6:F0} MB (budget {allocationBudget / 1e6:F0} MB) before it ended in {outcome}";
                else if (finding is null && grown > (1L << 30))
                    finding = $"the process's working set grew by {grown / 1e6:F0} MB";
            }
            string? keptAt = null;
            if (finding is not null && keep is not null)
            {
                Directory.CreateDirectory(keep);
                keptAt = Path.Combine(keep, $"{target}-{caseSeed}-{fileName}");
                File.WriteAllBytes(keptAt, bytes);
            }
            results.Add(new CaseResult(i, caseSeed, kinds, outcome, finding, keptAt));
            if (outcome == "hang") break; // the thread still runs: stop here
        }
        watch.Stop();

        var outcomes = results.GroupBy(r => r.Outcome).OrderByDescending(g => g.Count()).Select(g => $"{g.Key} {g.Count()}");
        var findings = results.Where(r => r.Finding is not null).ToList();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{target}: {results.Count} cases in {watch.Elapsed.TotalSeconds:F1} s: {string.Join(", ", outcomes)}; findings {findings.Count}"));
        foreach (var f in findings.Take(20))
            Console.WriteLine($"  case {f.Case} (seed {f.Seed}, {f.Kinds}): {f.Finding}{(f.KeptAt is null ? "" : $" [kept at {f.KeptAt}]")}");
        Assert.IsEmpty(findings, $"{target}: {findings.Count} of {results.Count} cases ended in neither success nor a typed one-line error; first: " +
            string.Join(" | ", findings.Take(3).Select(f => $"case {f.Case} (seed {f.Seed}, {f.Kinds}): {f.Finding}")));
    }

    private const long MB = 1024 * 1024;

    [TestMethod]
    public void FuzzSafeTensors() => Fuzz("safetensors", "model.safetensors", text: false, ReadSafeTensors, 64 * MB);

    [TestMethod]
    public void FuzzBertConfigJson() => Fuzz("bert-config", "config.json", text: true, ReadBertConfig, 16 * MB);

    [TestMethod]
    public void FuzzQwen3ConfigJson() => Fuzz("qwen3-config", "config.json", text: true, ReadQwen3Config, 16 * MB);

    [TestMethod]
    public void FuzzBertVocabTxt() => Fuzz("vocab-txt", "vocab.txt", text: true, ReadBertTokenizer, 64 * MB);

    [TestMethod]
    public void FuzzBertTokenizerJson() => Fuzz("bert-tokenizer-json", "tokenizer.json", text: true, ReadBertTokenizer, 64 * MB);

    [TestMethod]
    public void FuzzQwen3TokenizerJson() => Fuzz("qwen3-tokenizer-json", "tokenizer.json", text: true, ReadQwen3Tokenizer, 128 * MB,
        prepare: folder => File.Copy(_temp.File("tokenizer_config.json.seed"), Path.Combine(folder, "tokenizer_config.json")));

    [TestMethod]
    public void FuzzModelZip() => Fuzz("model-zip", "model.zip", text: false, ReadModelZip, 512 * MB, zipEntries: true);

    [TestMethod]
    public void FuzzSweepResultsJsonl() => Fuzz("sweep-results", "results.jsonl", text: true, ReadSweepResults, 32 * MB,
        // A header that disagrees with the sweep's settings is refused as documented: InvalidOperationException "The results file ...".
        alsoTyped: e => e is InvalidOperationException && e.Message.StartsWith("The results file ", StringComparison.Ordinal));

    [TestMethod]
    public void TheClassificationTellsTypedErrorsFromFindings()
    {
        Assert.IsNull(Finding(null, out var ok));
        Assert.AreEqual("ok", ok);
        Assert.IsNull(Finding(new InvalidDataException("config.json: vocab_size is -1."), out _));
        Assert.IsNull(Finding(new TargetInvocationException(new InvalidOperationException("Error during class instantiation",
            new FormatException("Couldn't load model", new InvalidDataException("Model directory 'x' is corrupt.")))), out _));
        Assert.IsNotNull(Finding(new KeyNotFoundException(), out _));
        Assert.IsNotNull(Finding(new ArgumentOutOfRangeException(), out _));
        Assert.IsNotNull(Finding(new OverflowException(), out _));
        Assert.IsNotNull(Finding(new InvalidDataException("two\nlines"), out _));
        Assert.IsNotNull(Finding(new InvalidDataException(" "), out _));
        Assert.IsNotNull(Finding(new InvalidOperationException("Error during class instantiation", new ArgumentOutOfRangeException("x")), out _));
    }
}
