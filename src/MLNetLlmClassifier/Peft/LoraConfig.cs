using System.Text.RegularExpressions;

namespace MLNetLlmClassifier.Peft;

/// <summary>Which biases LoRA training updates, as PEFT's <c>LoraConfig.bias</c>.</summary>
public enum LoraBias
{
    /// <summary>No bias is trained (PEFT's "none").</summary>
    None,
    /// <summary>Every bias of the model is trained and saved with the adapter (PEFT's "all").</summary>
    All,
    /// <summary>Only the biases of the Linear layers that carry an adapter are trained and saved (PEFT's "lora_only").</summary>
    LoraOnly,
}

/// <summary>
/// The settings of one LoRA adapter, with the field meanings of PEFT's <c>LoraConfig</c>: which Linear modules get an adapter
/// (<see cref="TargetModules"/>, <see cref="ExcludeModules"/>, <see cref="LayersToTransform"/>), each module's rank and
/// scaling (<see cref="Rank"/>, <see cref="Alpha"/>, <see cref="RankPattern"/>, <see cref="AlphaPattern"/>,
/// <see cref="UseRsLora"/>), the dropout on the adapter's input, the bias rule and the modules trained and saved whole
/// (<see cref="ModulesToSave"/>, the classification head).
/// </summary>
internal sealed record LoraConfig
{
    /// <summary>PEFT's shorthand for every Linear module but the output layer (and the task head).</summary>
    public const string AllLinear = "all-linear";

    /// <summary>The layer-list names PEFT looks for when <see cref="LayersToTransform"/> is set (its COMMON_LAYERS_PATTERN).</summary>
    internal static readonly string[] CommonLayerPatterns = ["layers", "h", "block", "blocks", "layer"];

    /// <summary>r: the default rank (at least 1).</summary>
    public required int Rank { get; init; }

    /// <summary>lora_alpha: the default alpha; the scaling is alpha / r (or alpha / sqrt(r) with <see cref="UseRsLora"/>).</summary>
    public required double Alpha { get; init; }

    /// <summary>lora_dropout: dropout probability on the adapter path's input, in training only.</summary>
    public double Dropout { get; init; }

    /// <summary>
    /// target_modules as a list: a module is targeted when its name equals an entry or ends with "." + entry. Null when
    /// <see cref="TargetRegex"/> is used instead. The single entry <see cref="AllLinear"/> targets every Linear module except
    /// <c>lm_head</c> and <see cref="ModulesToSave"/>.
    /// </summary>
    public IReadOnlyList<string>? TargetModules { get; init; }

    /// <summary>target_modules as a string: a regular expression that must match the whole module name (as PEFT's re.fullmatch).</summary>
    public string? TargetRegex { get; init; }

    /// <summary>exclude_modules as a list (name equal or suffix, as targets), or null.</summary>
    public IReadOnlyList<string>? ExcludeModules { get; init; }

    /// <summary>exclude_modules as a regular expression (whole name), or null.</summary>
    public string? ExcludeRegex { get; init; }

    /// <summary>bias: which biases are trained and saved.</summary>
    public LoraBias Bias { get; init; } = LoraBias.None;

    /// <summary>modules_to_save: modules trained in full and saved whole with the adapter (the task head).</summary>
    public IReadOnlyList<string> ModulesToSave { get; init; } = [];

    /// <summary>use_rslora: scaling alpha / sqrt(r) instead of alpha / r.</summary>
    public bool UseRsLora { get; init; }

    /// <summary>rank_pattern: module-name pattern → rank, overriding <see cref="Rank"/> (PEFT: the pattern matches the end of the name).</summary>
    public IReadOnlyDictionary<string, int> RankPattern { get; init; } = new Dictionary<string, int>();

    /// <summary>alpha_pattern: module-name pattern → alpha, overriding <see cref="Alpha"/>.</summary>
    public IReadOnlyDictionary<string, double> AlphaPattern { get; init; } = new Dictionary<string, double>();

    /// <summary>layers_to_transform: only modules of these layer indices get adapters (null: every layer).</summary>
    public IReadOnlyList<int>? LayersToTransform { get; init; }

    /// <summary>layers_pattern: the name of the layer list (e.g. "layers"); null tries <see cref="CommonLayerPatterns"/>.</summary>
    public IReadOnlyList<string>? LayersPattern { get; init; }

    /// <summary>task_type: "SEQ_CLS" for a classifier with a head, "CAUSAL_LM" for the prompted decoder.</summary>
    public string? TaskType { get; init; }

    /// <summary>base_model_name_or_path: where the base model came from (informational).</summary>
    public string? BaseModelNameOrPath { get; init; }

    /// <summary>Whether <see cref="TargetModules"/> is the <see cref="AllLinear"/> shorthand.</summary>
    public bool IsAllLinear => TargetModules is [AllLinear];

    /// <summary>Parses the <c>LoraTargetModules</c> option: "all-linear", or module names separated by commas.</summary>
    public static IReadOnlyList<string> ParseTargets(string text) =>
        text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(t => string.Equals(t, AllLinear, StringComparison.OrdinalIgnoreCase) ? AllLinear : t).Distinct().ToArray();

    /// <summary>Whether the module <paramref name="name"/> (a Linear) gets an adapter (apart from the all-linear exclusions).</summary>
    public bool Targets(string name)
    {
        bool target = TargetRegex is not null
            ? FullMatch(TargetRegex, name)
            : IsAllLinear || (TargetModules?.Any(t => NameMatches(name, t)) ?? false);
        if (!target) return false;
        if (ExcludeRegex is not null && FullMatch(ExcludeRegex, name)) return false;
        if (ExcludeModules?.Any(t => NameMatches(name, t)) == true) return false;
        if (LayersToTransform is not null)
        {
            int? layer = LayerIndex(name, LayersPattern);
            if (layer is null || !LayersToTransform.Contains(layer.Value)) return false;
        }
        return true;
    }

    /// <summary>The rank and the scaling of the adapter on module <paramref name="name"/>.</summary>
    public (int Rank, double Scaling) RankAndScaling(string name)
    {
        int r = PatternValue(RankPattern, name) is { } pr ? pr : Rank;
        double alpha = PatternValue(AlphaPattern, name) is { } pa ? pa : Alpha;
        return (r, UseRsLora ? alpha / Math.Sqrt(r) : alpha / r);
    }

    /// <summary>PEFT's list matching: the name equals the entry or ends with "." + entry.</summary>
    internal static bool NameMatches(string name, string entry) =>
        name == entry || name.EndsWith("." + entry, StringComparison.Ordinal);

    /// <summary>
    /// The layer index of a module name: the number after the layer list's name (<c>model.layers.3.mlp.up_proj</c> → 3), looked for
    /// with <paramref name="patterns"/> or <see cref="CommonLayerPatterns"/>; null when the module is in no layer list.
    /// </summary>
    internal static int? LayerIndex(string name, IReadOnlyList<string>? patterns = null)
    {
        foreach (var p in patterns ?? CommonLayerPatterns)
        {
            var m = Regex.Match(name, $@"^(?:.*\.)?{Regex.Escape(p)}\.(\d+)(?:\.|$)", RegexOptions.CultureInvariant | RegexOptions.RightToLeft);
            if (m.Success && int.TryParse(m.Groups[1].Value, out int i)) return i;
        }
        return null;
    }

    private static bool FullMatch(string pattern, string name) =>
        Regex.IsMatch(name, $"^(?:{pattern})$", RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));

    // PEFT's get_pattern_key: the first pattern that matches the end of the name at a module boundary.
    private static T? PatternValue<T>(IReadOnlyDictionary<string, T> patterns, string name) where T : struct
    {
        foreach (var (pattern, value) in patterns)
            if (Regex.IsMatch(name, $"^(?:.*\\.)?(?:{pattern})$", RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1)))
                return value;
        return null;
    }
}
