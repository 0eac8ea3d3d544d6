using System.CommandLine;
using System.Diagnostics;
using System.Text.Json.Nodes;
using Microsoft.ML;
using Microsoft.ML.Transforms;
using MLNetLlmClassifier.Checkpoints;
using MLNetLlmClassifier.Data;
using MLNetLlmClassifier.Hub;
using MLNetLlmClassifier.Reports;

namespace MLNetLlmClassifier.Cli.Commands;

/// <summary>
/// <c>mlnet-llm compare</c>: trains and evaluates a classic ML.NET text classifier, the BERT trainer and the
/// prompted Qwen3 decoder on one split, prints a side-by-side table and writes a report folder (report.md,
/// report.json, PNG charts). With no arguments it runs on the embedded AG News sample with tiny random checkpoints.
/// </summary>
internal static class CompareCommand
{
    public static readonly string[] AllModels = ["sdca", "bert", "qwen3"];

    public static Command Create()
    {
        var data = new Option<string?>("--data") { Description = "Labelled CSV/TSV to split (default: the embedded AG News sample, 2,000 rows)." };
        var train = new Option<string?>("--train") { Description = "Training file (with --test, instead of --data)." };
        var valid = new Option<string?>("--valid") { Description = "Validation file (optional with --train)." };
        var test = new Option<string?>("--test") { Description = "Test file (with --train)." };
        var split = new Option<string>("--split") { Description = "train,valid,test fractions for --data. Default 0.7,0.1,0.2.", DefaultValueFactory = _ => "0.7,0.1,0.2" };
        var rowsPerClass = new Option<int?>("--rows-per-class") { Description = "Stratified subsample of the data before splitting." };
        var models = new Option<string>("--models") { Description = "Comma-separated subset of sdca,bert,qwen3. Default all.", DefaultValueFactory = _ => string.Join(',', AllModels) };
        var bert = new Option<string?>("--bert") { Description = "BERT: a local Hugging Face folder or a hub id (google-bert/bert-base-cased). Default: a tiny random BERT." };
        var qwen3 = new Option<string?>("--qwen3") { Description = "Qwen3: a local Hugging Face folder or a hub id (Qwen/Qwen3-0.6B). Default: a tiny random Qwen3." };
        var preset = new Option<string?>("--preset") { Description = "Hyperparameter preset: agnews-reference (the reference experiment's settings for both trainers)." };
        var config = new Option<string?>("--config") { Description = "JSON file of per-model options: {\"bert\": {\"LearningRate\": 2e-5, ...}, \"qwen3\": {...}}." };
        var set = new Option<string[]>("--set") { Description = "Per-model option from the command line, e.g. --set bert.LearningRate=2e-5 --set qwen3.NumberOfEpochs=2 (applied after --config).", AllowMultipleArgumentsPerToken = false };
        var output = new Option<string>("--out") { Description = "Report folder. Default runs/compare.", DefaultValueFactory = _ => Path.Combine("runs", "compare") };
        var device = new Option<string>("--device") { Description = "auto, cpu, cuda, cuda:N. Default auto.", DefaultValueFactory = _ => "auto" };
        var seed = new Option<int>("--seed") { Description = "Seed for the split and the trainers. Default 1.", DefaultValueFactory = _ => 1 };
        var dataOptions = new CliCommon.DataOptions();
        var cmd = new Command("compare", "Compare a classic ML.NET classifier, BERT and the prompted Qwen3 decoder on one split; write a report with charts.");
        foreach (var o in new Option[] { data, train, valid, test, split, rowsPerClass, models, bert, qwen3, preset, config, set, output, device, seed }) cmd.Options.Add(o);
        dataOptions.AddTo(cmd);
        cmd.SetAction(r => CliCommon.Run(() =>
        {
            var settings = new CompareSettings
            {
                Models = r.GetValue(models)!.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries),
                Bert = r.GetValue(bert),
                Qwen3 = r.GetValue(qwen3),
                Preset = r.GetValue(preset),
                Config = ModelOptionsConfig.WithSettings(r.GetValue(config) is { } c ? ModelOptionsConfig.Load(c) : null, r.GetValue(set) ?? []),
                Output = r.GetValue(output)!,
                Device = r.GetValue(device)!,
                Seed = r.GetValue(seed),
                CommandLine = "mlnet-llm " + string.Join(' ', r.Tokens.Select(t => t.Value.Contains(' ') ? $"\"{t.Value}\"" : t.Value)),
            };
            var fileOptions = dataOptions.Read(r);
            settings.Split = LoadSplit(r.GetValue(data), r.GetValue(train), r.GetValue(valid), r.GetValue(test), r.GetValue(split)!,
                r.GetValue(rowsPerClass), fileOptions, settings.Seed, out settings.DataSource);
            var report = Run(settings);
            Console.WriteLine();
            Console.WriteLine(report.ToConsoleTable());
            Console.WriteLine($"Report written to {Path.GetFullPath(settings.Output)} (report.md, report.json, PNG charts).");
            return 0;
        }));
        return cmd;
    }

    internal sealed class CompareSettings
    {
        public IReadOnlyList<string> Models = AllModels;
        public string? Bert, Qwen3, Preset;
        public JsonObject? Config;
        public string Output = Path.Combine("runs", "compare");
        public string Device = "auto";
        public int Seed = 1;
        public string? CommandLine;
        public TrainValidTest Split = null!;
        public string DataSource = "";
        /// <summary>Where random checkpoints are built and kept between runs (default: a "models" folder beside the report).</summary>
        public string? ModelsFolder;
        /// <summary>Scale of the default from-scratch runs (tests use less than 1).</summary>
        public double EpochScale = 1;
    }

    internal static TrainValidTest LoadSplit(string? data, string? train, string? valid, string? test, string split, int? rowsPerClass,
        TextFileOptions fileOptions, int seed, out string source)
    {
        if (train is not null || test is not null)
        {
            if (train is null || test is null) throw new ArgumentException("--train and --test go together (with an optional --valid).");
            if (data is not null) throw new ArgumentException("Give either --data or --train/--test, not both.");
            var tr = TextClassificationFile.Load(train, fileOptions);
            var te = TextClassificationFile.Load(test, fileOptions);
            var va = valid is null ? new TextClassificationTable([], "(no validation file)") : TextClassificationFile.Load(valid, fileOptions);
            source = $"{train} / {valid ?? "-"} / {test}";
            return new TrainValidTest(tr, va, te);
        }
        TextClassificationTable table;
        if (data is null)
        {
            table = EmbeddedData.LoadAgNewsSample(renameLabels: true);
            source = "embedded AG News sample (2,000 rows of the AG News test split, 500 per class)";
        }
        else
        {
            table = TextClassificationFile.Load(data, fileOptions);
            source = data;
        }
        if (rowsPerClass is { } n) table = StratifiedSplit.Sample(table, n, seed);
        var fractions = split.Split(',').Select(f => double.TryParse(f, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var v)
            ? v : throw new ArgumentException($"--split '{split}' is not three comma-separated fractions.")).ToArray();
        if (fractions.Length != 3) throw new ArgumentException($"--split '{split}' must have three fractions (train, valid, test).");
        return StratifiedSplit.Split(table, fractions[0], fractions[1], fractions[2], seed);
    }

    /// <summary>Trains and evaluates every chosen model, then writes the report folder.</summary>
    internal static ComparisonReport Run(CompareSettings s)
    {
        foreach (var m in s.Models)
            if (!AllModels.Contains(m)) throw new ArgumentException($"--models: '{m}' is not one of {string.Join(", ", AllModels)}.");
        if (s.Preset is not null && s.Preset != "agnews-reference")
            throw new ArgumentException($"--preset '{s.Preset}' is not a preset: use agnews-reference.");
        var modelsFolder = s.ModelsFolder ?? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(s.Output))!, "models");
        var warnings = new List<string>();
        var names = s.Models.Select(DisplayName).ToList();
        var results = CompareProgress.Run(names, progress =>
        {
            var list = new List<ModelRunResult>();
            foreach (var m in s.Models)
                list.Add(m == "sdca" ? RunSdca(s, progress) : RunTransformer(m, s, modelsFolder, progress, warnings));
            return list;
        });
        var report = new ComparisonReport(results)
        {
            Title = "MLNetLlmClassifier comparison",
            DataSource = s.DataSource,
            TrainRows = s.Split.Train.Count,
            ValidationRows = s.Split.Valid.Count,
            TestRows = s.Split.Test.Count,
            Seed = s.Seed,
            CommandLine = s.CommandLine,
            CreatedAt = DateTimeOffset.Now,
            Warnings = warnings,
        };
        report.WriteFolder(s.Output);
        return report;
    }

    private static string DisplayName(string model) => model switch
    {
        "sdca" => "ML.NET SDCA (FeaturizeText)",
        "bert" => "BERT",
        _ => "Qwen3 prompted",
    };

    private static ModelRunResult RunSdca(CompareSettings s, CompareProgress progress)
    {
        var name = DisplayName("sdca");
        progress.Begin(name, "training");
        var ml = new MLContext(seed: s.Seed);
        using var memory = new MemorySampler();
        var pipeline = ml.Transforms.Conversion.MapValueToKey("Label", keyOrdinality: ValueToKeyMappingEstimator.KeyOrdinality.ByValue)
            .Append(ml.Transforms.Text.FeaturizeText("Features", ClassifierPipeline.TextColumn))
            .Append(ml.MulticlassClassification.Trainers.SdcaMaximumEntropy("Label", "Features"))
            .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel"));
        var sw = Stopwatch.StartNew();
        var model = pipeline.Fit(s.Split.Train.ToDataView(ml));
        double seconds = sw.Elapsed.TotalSeconds;
        var test = EvaluateCommand.Evaluate(ml, model, s.Split.Test);
        var sdca = model.OfType<Microsoft.ML.Data.MulticlassPredictionTransformer<Microsoft.ML.Trainers.MaximumEntropyModelParameters>>().Single();
        Microsoft.ML.Data.VBuffer<float>[] weights = default!;
        sdca.Model.GetWeights(ref weights, out int classes);
        long parameters = weights.Sum(w => (long)w.Length) + classes;
        progress.End(name, $"macro-F1 {test.MacroF1:F3}, trained in {seconds:F1} s");
        return new ModelRunResult
        {
            Name = name,
            Kind = ModelKind.ClassicMlNet,
            Test = test,
            TrainingSeconds = seconds,
            TrainRowsPerSecond = s.Split.Train.Count / Math.Max(seconds, 1e-9),
            PeakMemoryMiB = memory.PeakMiB,
            ParameterCount = parameters,
            Device = "cpu",
            Notes = "word and character n-gram features, SDCA maximum entropy",
        };
    }

    private static ModelRunResult RunTransformer(string trainer, CompareSettings s, string modelsFolder, CompareProgress progress, List<string> warnings)
    {
        var name = DisplayName(trainer);
        progress.Begin(name, "preparing the checkpoint");
        var given = trainer == "bert" ? s.Bert : s.Qwen3;
        string path;
        bool random = given is null;
        if (random)
        {
            path = Path.Combine(modelsFolder, trainer == "bert" ? "bert-tiny-random" : "qwen3-tiny-random");
            EnsureRandomCheckpoint(trainer, path, modelsFolder);
            warnings.Add($"{name} is a tiny RANDOM checkpoint trained from scratch: its accuracy says nothing about the pretrained model. " +
                         "For real weights run: mlnet-llm compare --bert google-bert/bert-base-cased --qwen3 Qwen/Qwen3-0.6B --preset agnews-reference");
        }
        else
        {
            var last = -1L;
            path = HubModelResolver.Resolve(given!, progress: new CliCommon.InlineProgress<DownloadProgress>(d =>
            {
                if (d.BytesDone == d.TotalBytes || d.BytesDone - last > 50L << 20)
                {
                    last = d.BytesDone;
                    progress.Begin(name, $"downloading {d.File} {d.BytesDone >> 20}/{d.TotalBytes >> 20} MiB");
                }
            }));
        }

        var options = ClassifierPipeline.NewOptions(trainer, path, pairs: false);
        if (random) ApplyFromScratchDefaults(trainer, options, s.EpochScale);
        if (s.Preset == "agnews-reference") ApplyReferencePreset(trainer, options);
        if (s.Config?[trainer] is JsonObject overrides) ModelOptionsConfig.Apply(options, overrides, $"--config [{trainer}]");
        options.Device = s.Device;
        options.Seed ??= s.Seed;
        options.Progress = new CliCommon.InlineProgress<Training.TrainingProgress>(p => progress.Report(name, p));

        var ml = new MLContext(seed: s.Seed);
        using var memory = new MemorySampler();
        progress.Begin(name, "tokenising");
        var (pipeline, classifier) = ClassifierPipeline.Fit(ml, trainer, options, s.Split.Train, s.Split.Valid.Count > 0 ? s.Split.Valid : null);
        using (classifier)
        {
            progress.Begin(name, "evaluating");
            var test = EvaluateCommand.Evaluate(ml, pipeline, s.Split.Test);
            progress.End(name, $"macro-F1 {test.MacroF1:F3}, trained in {classifier.TrainingSummary!.Seconds:F1} s");
            return new ModelRunResult
            {
                Name = name,
                Kind = trainer == "bert" ? ModelKind.EncoderClassifier : ModelKind.DecoderPrompted,
                Test = test,
                Training = classifier.TrainingSummary,
                PeakMemoryMiB = memory.PeakMiB,
                ParameterCount = classifier.ParameterCount,
                Device = classifier.Device,
                Notes = random ? "tiny random checkpoint, trained from scratch" : given,
            };
        }
    }

    private static void EnsureRandomCheckpoint(string trainer, string path, string modelsFolder)
    {
        if (File.Exists(Path.Combine(path, "model.safetensors"))) return;
        Directory.CreateDirectory(modelsFolder);
        if (trainer == "bert")
        {
            var vocab = Path.Combine(modelsFolder, "bert-base-uncased-vocab.txt");
            EmbeddedData.WriteBertVocab(vocab);
            RandomCheckpoint.CreateBert("tiny", vocab, lowercase: true, path, seed: 1);
        }
        else
        {
            var tokenizer = Path.Combine(modelsFolder, "qwen3-tokenizer");
            EmbeddedData.WriteQwen3Tokenizer(tokenizer);
            RandomCheckpoint.CreateQwen3("tiny", tokenizer, path, seed: 1);
        }
    }

    /// <summary>Settings that let tiny random checkpoints learn from scratch in a short CPU run.</summary>
    internal static void ApplyFromScratchDefaults(string trainer, TransformerTrainerOptions o, double epochScale)
    {
        // Random weights need a far higher learning rate than fine-tuning does.
        o.LearningRate = trainer == "bert" ? 1e-3 : 5e-3;
        o.WarmupRatio = 0.05;
        o.WeightDecay = 0.01;
        o.BatchSize = 32;
        o.GradientAccumulationSteps = 1;
        o.MaxSequenceLength = 128;
        o.NumberOfEpochs = (trainer == "bert" ? 5 : 4) * epochScale;
        o.EvaluationInterval = 0.5;
        o.Precision = Precision.Float32;
        // A random decoder understands no instruction: the reference prompt's ~70 tokens of instructions would only
        // cost compute. From scratch, the prompt keeps the article, the options and the answer format, nothing else.
        if (o is Qwen3.PromptedDecoderClassifierTrainer.Options q) q.PromptTemplate = "{text}\n\n{options}\n\nAnswer:/no_think";
    }

    /// <summary>The reference experiment (DEVELOPERS.md): bert-base-cased and Qwen3-0.6B on AG News.</summary>
    internal static void ApplyReferencePreset(string trainer, TransformerTrainerOptions o)
    {
        o.Schedule = Training.LearningRateSchedule.Cosine;
        o.EvaluationInterval = 0.1;
        if (trainer == "bert")
        {
            o.LearningRate = 1e-5;
            o.BatchSize = 64;
            o.NumberOfEpochs = 5;
            o.WeightDecay = 1e-6;
            o.WarmupRatio = 0;
            o.GradientAccumulationSteps = 1;
            o.MaxSequenceLength = 512;
        }
        else
        {
            o.LearningRate = 1.2e-5;
            o.BatchSize = 12;
            o.GradientAccumulationSteps = 8;
            o.WarmupRatio = 0.01;
            o.NumberOfEpochs = 1;
            o.WeightDecay = 0;
            o.MaxSequenceLength = 512;
            o.Precision = Precision.BFloat16;
        }
    }
}
