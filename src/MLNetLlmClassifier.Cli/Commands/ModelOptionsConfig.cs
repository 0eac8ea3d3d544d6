using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using MLNetLlmClassifier.Configuration;
using MLNetLlmClassifier.Families;

namespace MLNetLlmClassifier.Cli.Commands;

/// <summary>
/// Per-family option values from a JSON file and from <c>--set family.Option=value</c>:
/// <c>{"bert": {"LearningRate": 2e-5, "Schedule": "Linear"}, "qwen3-prompted": {...}}</c>. Section keys are family names or
/// aliases (<see cref="ClassifierFamilies"/>); option keys are the names declared on the family's options class (case-insensitive),
/// set through <see cref="OptionsBinder"/> like sweep parameters. Values are JSON numbers, strings (enums by name), booleans or objects
/// (e.g. <c>LabelDisplayNames</c>). An unknown family or option is an error that lists what there is.
/// </summary>
internal static class ModelOptionsConfig
{
    // The CLI's families (CliFamilies) are registered before anything here looks a family up.
    static ModelOptionsConfig() => CliFamilies.EnsureRegistered();

    public static JsonObject Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Config file '{path}' does not exist.", path);
        JsonObject config;
        try
        {
            config = JsonNode.Parse(File.ReadAllText(path), documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true })
                ?.AsObject() ?? throw new InvalidDataException($"{path}: the config is empty.");
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            throw new InvalidDataException($"{path}: not a JSON object of per-family options ({e.Message}).", e);
        }
        foreach (var (key, value) in config)
        {
            if (ClassifierFamilies.Find(key) is null)
                throw new InvalidDataException($"{path}: '{key}' is not a model family: use one of {ClassifierFamilies.Names}.");
            if (value is not JsonObject)
                throw new InvalidDataException($"{path}: '{key}' must be an object of options, e.g. {{\"LearningRate\": 2e-5}}.");
        }
        return config;
    }

    /// <summary>
    /// Adds <c>family.Option=value</c> settings (from <c>--set</c>) to a config. The value is read as JSON when it parses
    /// (numbers, true/false, quoted strings, objects), else as a plain string (enum names).
    /// </summary>
    public static JsonObject? WithSettings(JsonObject? config, IEnumerable<string> settings)
    {
        foreach (var item in settings)
        {
            int dot = item.IndexOf('.'), eq = item.IndexOf('=');
            if (dot <= 0 || eq <= dot + 1)
                throw new ArgumentException($"--set '{item}' is not of the form family.Option=value (e.g. bert.LearningRate=2e-5).");
            string model = item[..dot].Trim(), option = item[(dot + 1)..eq].Trim(), text = item[(eq + 1)..].Trim();
            if (ClassifierFamilies.Find(model) is null)
                throw new ArgumentException($"--set '{item}': '{model}' is not a model family: use one of {ClassifierFamilies.Names}.");
            config ??= new JsonObject();
            JsonNode? value;
            try { value = JsonNode.Parse(text); }
            catch (JsonException) { value = JsonValue.Create(text); }
            if (config[model] is not JsonObject section) config[model] = section = new JsonObject();
            section[option] = value;
        }
        return config;
    }

    /// <summary>Sets every value the config holds for <paramref name="family"/> (under its name or an alias) on <paramref name="options"/>.</summary>
    public static void Apply(JsonObject? config, ClassifierFamily family, object options, string source)
    {
        if (config is null) return;
        foreach (var (key, section) in config)
            if (family.IsCalled(key) && section is JsonObject values) Apply(options, values, $"{source} [{key}]");
    }

    /// <summary>Sets each listed option on <paramref name="options"/>; errors name <paramref name="source"/> and the key.</summary>
    public static void Apply(object options, JsonObject values, string source)
    {
        foreach (var (key, node) in values)
        {
            try
            {
                OptionsBinder.Apply(options, key, node is null ? null : JsonSerializer.SerializeToElement(node));
            }
            catch (ArgumentException e)
            {
                throw new ArgumentException($"{source}: {e.Message}", e);
            }
        }
    }
}

/// <summary><c>--config file.json</c> and <c>--set family.Option=value</c>, the same in train, compare, bench and (<c>--set</c> only) sweep.</summary>
internal sealed class OptionSettingsCli(bool withConfigFile = true)
{
    public readonly Option<string?> Config = new("--config") { Description = "JSON file of per-family options: {\"bert\": {\"LearningRate\": 2e-5, ...}, \"qwen3-prompted\": {...}} (names: mlnet-llm options)." };
    public readonly Option<string[]> Set = new("--set") { Description = "One option of one family, e.g. --set bert.LearningRate=2e-5 --set qwen3-prompted.NumberOfEpochs=2 (applied after --config and the flags).", AllowMultipleArgumentsPerToken = false };

    public void AddTo(Command c)
    {
        if (withConfigFile) c.Options.Add(Config);
        c.Options.Add(Set);
    }

    public JsonObject? Read(ParseResult r) =>
        ModelOptionsConfig.WithSettings(withConfigFile && r.GetValue(Config) is { } c ? ModelOptionsConfig.Load(c) : null, r.GetValue(Set) ?? []);
}

/// <summary>
/// The hand-written flags of common options (<c>--lr</c>, <c>--epochs</c>, <c>--instruction</c>, …), derived from the
/// <see cref="CommandLineAliasAttribute"/>s on the registered families' options classes: a flag sets the option it is declared on,
/// converted as <c>--set</c> converts. In <c>train</c> it sets the one family's option (a flag the family does not have is an error);
/// in <c>compare</c> and <c>sweep</c> it sets the option on every family of the run that declares it (a flag none of them has is an error).
/// </summary>
/// <param name="except">Flags the command has as options of its own (e.g. compare's <c>--device</c> and <c>--seed</c>).</param>
internal sealed class OptionFlagsCli(params string[] except)
{
    static OptionFlagsCli() => CliFamilies.EnsureRegistered();

    private readonly List<(Option<string?> Flag, string Member)> _flags = Create(except);

    private static List<(Option<string?> Flag, string Member)> Create(string[] except)
    {
        var flags = new List<(Option<string?> Flag, string Member)>();
        foreach (var family in ClassifierFamilies.All)
            foreach (var o in OptionCatalog.Describe(family.OptionsType))
                if (o.Alias is { } alias && !except.Contains(alias) && flags.All(f => f.Flag.Name != alias))
                    flags.Add((new Option<string?>(alias) { Description = $"{o.Summary ?? o.Name} (option {o.Name})" }, o.Name));
        return flags;
    }

    public void AddTo(Command c)
    {
        foreach (var (flag, _) in _flags) c.Options.Add(flag);
    }

    /// <summary>Sets the options whose flags were given; a flag the family does not have is an error.</summary>
    public void Apply(ParseResult r, ClassifierFamily family, object options) => Read(r).Apply(family, options, strict: true);

    /// <summary>The flags given on the command line, to apply to each family of a run.</summary>
    public GivenFlags Read(ParseResult r) =>
        new(_flags.Where(f => r.GetValue(f.Flag) is not null).Select(f => (f.Flag.Name, f.Member, r.GetValue(f.Flag)!)).ToList());
}

/// <summary>Option flags given on a command line: (flag, option member, value as text).</summary>
internal sealed record GivenFlags(IReadOnlyList<(string Flag, string Member, string Value)> Values)
{
    public static GivenFlags None { get; } = new([]);

    /// <summary>Sets each flag's option on <paramref name="options"/>; with <paramref name="strict"/>, a flag the family lacks is an error, else it is skipped.</summary>
    public void Apply(ClassifierFamily family, object options, bool strict)
    {
        foreach (var (flag, member, value) in Values)
        {
            if (!OptionsBinder.CanSet(options.GetType(), member))
            {
                if (strict) throw new ArgumentException($"{flag} sets {member}, which the {family.Name} family does not have.");
                continue;
            }
            try { OptionsBinder.Apply(options, member, value); }
            catch (ArgumentException e) { throw new ArgumentException($"{flag} '{value}': {e.Message}", e); }
        }
    }

    /// <summary>Every flag must set an option of at least one of <paramref name="families"/> (the families of the run).</summary>
    public void CheckUsedBy(IReadOnlyList<ClassifierFamily> families)
    {
        foreach (var (flag, member, _) in Values)
            if (!families.Any(f => OptionsBinder.CanSet(f.OptionsType, member)))
                throw new ArgumentException($"{flag} sets {member}, which none of the families of this run ({string.Join(", ", families.Select(f => f.Name))}) has.");
    }
}
