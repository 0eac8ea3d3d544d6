using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using MLNetLlmClassifier.Configuration;
using MLNetLlmClassifier.Data;
using MLNetLlmClassifier.Families;

namespace MLNetLlmClassifier.Sweeps;

/// <summary>
/// A sweep described in a JSON file, for <c>mlnet-llm sweep --config sweep.json</c>. <see cref="Load"/> reads and checks it
/// (relative paths are resolved against the file's folder); <see cref="Configure"/> sets metric, budget, tuner, pruner, seed and
/// output folder on an experiment; each candidate gives its search space (<see cref="SweepCandidateConfig.CreateSearchSpace"/>)
/// and fixed option values (<see cref="SweepCandidateConfig.ApplyOptions"/>). Building the trainers from
/// <see cref="SweepCandidateConfig.Trainer"/> is the caller's (the CLI knows its trainers). The format is in docs/sweeps.md.
/// </summary>
public sealed class SweepConfig
{
    /// <summary>Folder of the sweep's files (results, leaderboard, best model). Required.</summary>
    public string Output { get; set; } = "";

    /// <summary>Seed of the tuner, the split and training. Default 0.</summary>
    public int Seed { get; set; }

    /// <summary>The data.</summary>
    public SweepDataConfig Data { get; set; } = new();

    /// <summary>Metric name (<see cref="SweepMetric"/>): MacroF1, MicroAccuracy, MacroAccuracy, LogLoss, LogLossReduction, TopKAccuracy. Default MacroF1.</summary>
    public string Metric { get; set; } = nameof(SweepMetric.MacroF1);

    /// <summary>k of TopKAccuracy. Default 0 (3 when the metric is TopKAccuracy).</summary>
    public int TopK { get; set; }

    /// <summary>The budget.</summary>
    public SweepBudgetConfig Budget { get; set; } = new();

    /// <summary>The tuner.</summary>
    public SweepTunerConfig Tuner { get; set; } = new();

    /// <summary>The pruner.</summary>
    public SweepPrunerConfig Pruner { get; set; } = new();

    /// <summary>The trainers to sweep, at least one.</summary>
    public List<SweepCandidateConfig> Candidates { get; set; } = new();

    /// <summary>The file it was loaded from (null when built in code).</summary>
    [JsonIgnore]
    public string? SourcePath { get; private set; }

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNameCaseInsensitive = true,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    /// <summary>Reads and checks a config file; every problem is an exception naming the file and the setting.</summary>
    public static SweepConfig Load(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"The sweep config file {path} does not exist.", path);
        SweepConfig config;
        try { config = JsonSerializer.Deserialize<SweepConfig>(File.ReadAllText(path), Json) ?? throw new InvalidDataException("the file holds null"); }
        catch (JsonException ex) { throw new InvalidDataException($"{path}: not a valid sweep config: {ex.Message}", ex); }
        config.SourcePath = Path.GetFullPath(path);
        config.ResolvePaths(Path.GetDirectoryName(config.SourcePath)!);
        config.Validate();
        return config;
    }

    /// <summary>Parses a config from JSON text; relative paths are resolved against <paramref name="baseFolder"/>.</summary>
    public static SweepConfig Parse(string json, string baseFolder)
    {
        SweepConfig config;
        try { config = JsonSerializer.Deserialize<SweepConfig>(json, Json) ?? throw new InvalidDataException("the JSON is null"); }
        catch (JsonException ex) { throw new InvalidDataException($"Not a valid sweep config: {ex.Message}", ex); }
        config.ResolvePaths(baseFolder);
        config.Validate();
        return config;
    }

    private string Where => SourcePath ?? "sweep config";

    private void ResolvePaths(string folder)
    {
        string? Full(string? p) => string.IsNullOrWhiteSpace(p) ? p : Path.GetFullPath(Path.Combine(folder, p));
        Output = Full(Output) ?? "";
        Data.Train = Full(Data.Train) ?? "";
        Data.Validation = Full(Data.Validation);
        foreach (var c in Candidates) c.Model = Full(c.Model);
    }

    /// <summary>Checks every setting; the exception names the file and the setting.</summary>
    public void Validate()
    {
        void Fail(string setting, string problem) => throw new InvalidDataException($"{Where}: {setting}: {problem}");
        if (string.IsNullOrWhiteSpace(Output)) Fail("output", "give the folder for the sweep's results");
        if (string.IsNullOrWhiteSpace(Data.Train)) Fail("data.train", "give the training data file (CSV or TSV)");
        if (Data.Validation is null && Data.ValidationFraction is <= 0 or >= 1) Fail("data.validationFraction", "must be in (0, 1) when no validation file is given");
        if (Data.TextColumns is { Count: 0 }) Fail("data.textColumns", "give at least one column");
        if (!Enum.TryParse<SweepMetric>(Metric, ignoreCase: true, out var metric) || !Enum.IsDefined(metric))
            Fail("metric", $"'{Metric}' is not one of {string.Join(", ", Enum.GetNames<SweepMetric>())}");
        if (Budget.MaxTrials is null && Budget.MaxMinutes is null) Fail("budget", "give maxTrials, maxMinutes or both");
        if (Budget.MaxTrials is < 1) Fail("budget.maxTrials", "must be at least 1");
        if (Budget.MaxMinutes is { } mm && !(mm > 0)) Fail("budget.maxMinutes", "must be positive");
        try { CreateTuner(); CreatePruner(); }
        catch (ArgumentException ex) { Fail("tuner/pruner", ex.Message); }
        if (Candidates.Count == 0) Fail("candidates", "give at least one trainer to sweep");
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < Candidates.Count; i++)
        {
            var c = Candidates[i];
            string at = $"candidates[{i}]";
            if (string.IsNullOrWhiteSpace(c.Trainer)) Fail($"{at}.trainer", "give the trainer (a model family: " + ClassifierFamilies.Names + ")");
            if (ClassifierFamilies.Find(c.Trainer) is null) Fail($"{at}.trainer", $"'{c.Trainer}' is not a model family: use one of {ClassifierFamilies.Names}");
            c.Name ??= c.Trainer;
            if (!names.Add(c.Name!)) Fail($"{at}.name", $"'{c.Name}' is used twice; give each candidate its own name");
            try { c.CreateSearchSpace(); }
            catch (Exception ex) when (ex is ArgumentException or InvalidDataException or JsonException) { Fail($"{at}.space", ex.Message); }
        }
    }

    /// <summary>The metric.</summary>
    public SweepMetric GetMetric() => Enum.Parse<SweepMetric>(Metric, ignoreCase: true);

    /// <summary>The tuner the config names: "tpe" (default), "random" or "grid", seeded with <see cref="Seed"/>.</summary>
    public ITuner CreateTuner() => Tuner.Kind.ToLowerInvariant() switch
    {
        "tpe" => new TpeTuner(Seed) { StartupTrials = Tuner.StartupTrials ?? 6 },
        "random" => new RandomTuner(Seed),
        "grid" => new GridTuner(Tuner.GridSteps ?? 5, shuffle: Tuner.Shuffle ?? true, seed: Seed),
        _ => throw new ArgumentException($"tuner.kind '{Tuner.Kind}' is not a tuner: use tpe, random or grid."),
    };

    /// <summary>The pruner the config names: "asha" (successive halving, default) or "none".</summary>
    public IPruner CreatePruner() => Pruner.Kind.ToLowerInvariant() switch
    {
        "asha" or "successivehalving" => new SuccessiveHalvingPruner(Pruner.MinResource ?? 0.25, Pruner.ReductionFactor ?? 3, Pruner.MinTrialsPerRung ?? 3),
        "none" => new NoPruner(),
        _ => throw new ArgumentException($"pruner.kind '{Pruner.Kind}' is not a pruner: use asha or none."),
    };

    /// <summary>Sets metric, budget, tuner, pruner, seed and output folder on <paramref name="experiment"/>.</summary>
    public SweepExperiment Configure(SweepExperiment experiment)
    {
        ArgumentNullException.ThrowIfNull(experiment);
        var metric = GetMetric();
        return experiment
            .SetSeed(Seed)
            .SetMetric(metric, topK: TopK > 0 ? TopK : metric == SweepMetric.TopKAccuracy ? 3 : 0)
            .SetBudget(Budget.MaxTrials, Budget.MaxMinutes is { } m ? TimeSpan.FromMinutes(m) : null)
            .SetTuner(CreateTuner())
            .SetPruner(CreatePruner())
            .SetOutputFolder(Output);
    }
}

/// <summary>The data section of a <see cref="SweepConfig"/> (the CLI's data options).</summary>
public sealed class SweepDataConfig
{
    /// <summary>Training data, CSV or TSV. Required.</summary>
    public string Train { get; set; } = "";

    /// <summary>Validation data with the same columns; null splits <see cref="ValidationFraction"/> off the training data (stratified).</summary>
    public string? Validation { get; set; }

    /// <summary>Fraction of the training data held out for validation when no validation file is given. Default 0.2.</summary>
    public double ValidationFraction { get; set; } = 0.2;

    /// <summary>Label column: index or header name. Default "0".</summary>
    public string LabelColumn { get; set; } = "0";

    /// <summary>Text column(s), joined with a space. Default ["1"].</summary>
    public List<string>? TextColumns { get; set; }

    /// <summary>Optional second text column (sentence pairs).</summary>
    public string? Text2Column { get; set; }

    /// <summary>Whether the first row is a header; null = auto.</summary>
    public bool? HasHeader { get; set; }

    /// <summary>Optional renaming of labels as written in the file.</summary>
    public Dictionary<string, string>? LabelNames { get; set; }

    /// <summary>
    /// Loads the training and validation tables; without a validation file, a stratified <see cref="ValidationFraction"/> of the
    /// training file (seeded) becomes the validation set.
    /// </summary>
    public (TextClassificationTable Train, TextClassificationTable Validation) Load(int seed)
    {
        var options = ToTextFileOptions();
        var train = TextClassificationFile.Load(Train, options);
        if (Validation is not null) return (train, TextClassificationFile.Load(Validation, options));
        var split = StratifiedSplit.Split(train, [1 - ValidationFraction, ValidationFraction], seed);
        return (split[0], split[1]);
    }

    /// <summary>The file options for <see cref="TextClassificationFile.Load(string, TextFileOptions)"/>.</summary>
    public TextFileOptions ToTextFileOptions() => new()
    {
        LabelColumn = LabelColumn,
        TextColumns = TextColumns is { Count: > 0 } t ? t : ["1"],
        Sentence2Column = Text2Column,
        HasHeader = HasHeader,
        LabelNames = LabelNames,
    };
}

/// <summary>The budget section of a <see cref="SweepConfig"/>.</summary>
public sealed class SweepBudgetConfig
{
    /// <summary>Finished trials (pruned and failed included).</summary>
    public int? MaxTrials { get; set; }

    /// <summary>Minutes of trials.</summary>
    public double? MaxMinutes { get; set; }
}

/// <summary>The tuner section of a <see cref="SweepConfig"/>.</summary>
public sealed class SweepTunerConfig
{
    /// <summary>"tpe" (default), "random" or "grid".</summary>
    public string Kind { get; set; } = "tpe";

    /// <summary>TPE: random trials first. Default 6.</summary>
    public int? StartupTrials { get; set; }

    /// <summary>Grid: values per continuous range. Default 5.</summary>
    public int? GridSteps { get; set; }

    /// <summary>Grid: visit in a seeded random order. Default true.</summary>
    public bool? Shuffle { get; set; }
}

/// <summary>The pruner section of a <see cref="SweepConfig"/>.</summary>
public sealed class SweepPrunerConfig
{
    /// <summary>"asha" (default) or "none".</summary>
    public string Kind { get; set; } = "asha";

    /// <summary>First rung in epochs. Default 0.25.</summary>
    public double? MinResource { get; set; }

    /// <summary>η. Default 3.</summary>
    public double? ReductionFactor { get; set; }

    /// <summary>Values needed at a rung before it prunes. Default 3.</summary>
    public int? MinTrialsPerRung { get; set; }
}

/// <summary>One trainer of a <see cref="SweepConfig"/>.</summary>
public sealed class SweepCandidateConfig
{
    /// <summary>Unique name in results; default the trainer's.</summary>
    public string? Name { get; set; }

    /// <summary>The trainer: a registered family's name or alias ("bert", "qwen3-prompted", "sdca", ...; see <see cref="ClassifierFamilies"/>).</summary>
    public string Trainer { get; set; } = "";

    /// <summary>Hugging Face model folder (resolved against the config file's folder).</summary>
    public string? Model { get; set; }

    /// <summary>Fixed option values, by option name (e.g. <c>"MaxSequenceLength": 128, "Device": "cuda"</c>).</summary>
    public Dictionary<string, JsonElement> Options { get; set; } = new();

    /// <summary>
    /// Start from the family's default space (<see cref="ClassifierFamily.DefaultSearchSpace"/>) before <see cref="Space"/> is applied. Default true; false sweeps
    /// only the dimensions in <see cref="Space"/>.
    /// </summary>
    public bool UseDefaultSpace { get; set; } = true;

    /// <summary>
    /// Dimensions by option name, each one of <c>{"uniform": [min, max]}</c>, <c>{"logUniform": [min, max]}</c>,
    /// <c>{"int": [min, max]}</c>, <c>{"logInt": [min, max]}</c>, <c>{"choice": [v1, v2, ...]}</c> or
    /// <c>{"choice": {"label1": v1, "label2": v2}}</c> (named values: prompts, label maps). A dimension replaces the default one
    /// of the same name; <c>null</c> removes it.
    /// </summary>
    public Dictionary<string, JsonElement?> Space { get; set; } = new();

    /// <summary>The candidate's search space: the default of its trainer (when <see cref="UseDefaultSpace"/>) with <see cref="Space"/> applied.</summary>
    public SearchSpace CreateSearchSpace()
    {
        var family = ClassifierFamilies.Find(Trainer);
        var space = UseDefaultSpace && family is not null ? DefaultSearchSpaces.For(family) : new SearchSpace();
        foreach (var (name, spec) in Space)
        {
            if (spec is null || spec.Value.ValueKind == JsonValueKind.Null) space.Remove(name);
            else space.Set(ParseDimension(name, spec.Value));
        }
        return space;
    }

    /// <summary>Sets the fixed <see cref="Options"/> (and <see cref="Model"/> as ModelPath when the options have one) on a trainer's options object.</summary>
    public void ApplyOptions(object options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (Model is not null && OptionsBinder.CanSet(options.GetType(), "ModelPath")) OptionsBinder.Apply(options, "ModelPath", Model);
        foreach (var (name, value) in Options) OptionsBinder.Apply(options, name, value);
    }

    /// <summary>Parses one dimension spec (see <see cref="Space"/>).</summary>
    public static SearchDimension ParseDimension(string name, JsonElement spec)
    {
        if (spec.ValueKind != JsonValueKind.Object || spec.EnumerateObject().Count() != 1)
            throw new InvalidDataException($"'{name}': a dimension is an object with one of uniform, logUniform, int, logInt, choice (got {spec.GetRawText()}).");
        var p = spec.EnumerateObject().Single();
        double[] Pair()
        {
            if (p.Value.ValueKind != JsonValueKind.Array || p.Value.GetArrayLength() != 2 || p.Value.EnumerateArray().Any(v => v.ValueKind != JsonValueKind.Number))
                throw new InvalidDataException($"'{name}': {p.Name} needs [min, max] (got {p.Value.GetRawText()}).");
            return p.Value.EnumerateArray().Select(v => v.GetDouble()).ToArray();
        }
        int Int(double v) => v == Math.Floor(v) && Math.Abs(v) < int.MaxValue ? (int)v
            : throw new InvalidDataException($"'{name}': {p.Name} needs whole numbers (got {v.ToString(CultureInfo.InvariantCulture)}).");
        switch (p.Name.ToLowerInvariant())
        {
            case "uniform": { var r = Pair(); return new UniformDimension(name, r[0], r[1]); }
            case "loguniform": { var r = Pair(); return new UniformDimension(name, r[0], r[1], logScale: true); }
            case "int": { var r = Pair(); return new IntegerDimension(name, Int(r[0]), Int(r[1])); }
            case "logint": { var r = Pair(); return new IntegerDimension(name, Int(r[0]), Int(r[1]), logScale: true); }
            case "choice":
                if (p.Value.ValueKind == JsonValueKind.Object)
                    return new ChoiceDimension(name, p.Value.EnumerateObject().Select(o => new ChoiceOption(o.Name, JsonValue(o.Value))));
                if (p.Value.ValueKind == JsonValueKind.Array && p.Value.GetArrayLength() > 0)
                    return new ChoiceDimension(name, p.Value.EnumerateArray().Select(v => JsonValue(v)).Select(v => new ChoiceOption(ChoiceOption.LabelOf(v), v)));
                throw new InvalidDataException($"'{name}': choice needs a non-empty array of values or an object of named values.");
            default:
                throw new InvalidDataException($"'{name}': '{p.Name}' is not a dimension kind: use uniform, logUniform, int, logInt or choice.");
        }
    }

    // Plain JSON values become numbers, strings, booleans or null; arrays and objects stay JsonElements (labelled by their
    // JSON text), converted to the option's type when set (OptionsBinder), e.g. a label display-name map.
    private static object? JsonValue(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.Number => v.TryGetInt32(out int i) ? i : v.GetDouble(),
        JsonValueKind.String => v.GetString(),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        JsonValueKind.Null => null,
        _ => v.Clone(),
    };
}
