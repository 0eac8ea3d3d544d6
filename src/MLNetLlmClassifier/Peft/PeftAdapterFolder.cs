using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using MLNetLlmClassifier.Checkpoints;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetLlmClassifier.Peft;

/// <summary>
/// Adapters in the file layout of Hugging Face PEFT, so that they travel between .NET and Python: <c>adapter_config.json</c>
/// (LoraConfig's fields: peft_type "LORA", task_type, r, lora_alpha, lora_dropout, target_modules, bias, modules_to_save,
/// use_rslora, rank_pattern, alpha_pattern, layers_to_transform, …) and <c>adapter_model.safetensors</c> with the keys of
/// <see cref="LoraModel.PeftStateDict"/> (<c>base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight</c>, …).
/// </summary>
/// <remarks>
/// Reading accepts what the Python <c>peft</c> library writes: unknown config fields are ignored; rank_pattern, alpha_pattern,
/// exclude_modules, layers_to_transform and layers_pattern are honoured; features this implementation does not have (DoRA,
/// fan_in_fan_out, lora_bias, layer_replication, trainable tokens, target_parameters, another peft_type) are refused with a one-line
/// error naming <c>adapter_config.json</c>. Every tensor is checked (known name, shape) before anything is copied.
/// </remarks>
internal static class PeftAdapterFolder
{
    /// <summary>The adapter's config file.</summary>
    public const string ConfigFileName = "adapter_config.json";

    /// <summary>The adapter's weights file.</summary>
    public const string WeightsFileName = "adapter_model.safetensors";

    /// <summary>Whether <paramref name="folder"/> holds an adapter (its config file).</summary>
    public static bool Has(string folder) => File.Exists(Path.Combine(folder, ConfigFileName));

    /// <summary>Writes <c>adapter_model.safetensors</c> (float32 adapters, metadata format "pt") then <c>adapter_config.json</c>, each atomically.</summary>
    public static void Write(LoraModel lora, string folder)
    {
        Directory.CreateDirectory(folder);
        SafeTensorsFile.Save(Path.Combine(folder, WeightsFileName), lora.PeftStateDict(), new Dictionary<string, string> { ["format"] = "pt" });
        HfModelFolder.WriteJson(Path.Combine(folder, ConfigFileName), ToJson(lora));
    }

    /// <summary>adapter_config.json as PEFT writes it: all-linear is written as the module names it stands for (as PEFT does).</summary>
    internal static JsonObject ToJson(LoraModel lora)
    {
        var c = lora.Config;
        static JsonArray Strings(IEnumerable<string> items) => new(items.Select(s => (JsonNode)s).ToArray());
        JsonNode? targets = c.TargetRegex is not null ? c.TargetRegex
            : Strings(c.IsAllLinear ? lora.Layers.Select(l => l.Name[(l.Name.LastIndexOf('.') + 1)..]).Distinct().Order(StringComparer.Ordinal) : c.TargetModules!);
        return new JsonObject
        {
            ["alpha_pattern"] = new JsonObject(c.AlphaPattern.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
            ["base_model_name_or_path"] = c.BaseModelNameOrPath,
            ["bias"] = c.Bias switch { LoraBias.All => "all", LoraBias.LoraOnly => "lora_only", _ => "none" },
            ["exclude_modules"] = c.ExcludeRegex is not null ? c.ExcludeRegex : c.ExcludeModules is null ? null : Strings(c.ExcludeModules),
            ["fan_in_fan_out"] = false,
            ["inference_mode"] = true,
            ["init_lora_weights"] = true,
            ["layers_pattern"] = c.LayersPattern is null ? null : Strings(c.LayersPattern),
            ["layers_to_transform"] = c.LayersToTransform is null ? null : new JsonArray(c.LayersToTransform.Select(i => (JsonNode)i).ToArray()),
            ["lora_alpha"] = c.Alpha,
            ["lora_dropout"] = c.Dropout,
            ["modules_to_save"] = c.ModulesToSave.Count == 0 ? null : Strings(c.ModulesToSave),
            ["peft_type"] = "LORA",
            ["r"] = c.Rank,
            ["rank_pattern"] = new JsonObject(c.RankPattern.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
            ["target_modules"] = targets,
            ["task_type"] = c.TaskType,
            ["use_dora"] = false,
            ["use_rslora"] = c.UseRsLora,
        };
    }

    /// <summary>Reads and checks <c>adapter_config.json</c>.</summary>
    /// <exception cref="InvalidDataException">One line naming the file and the field at fault.</exception>
    public static LoraConfig ReadConfig(string folder)
    {
        string path = Path.Combine(folder, ConfigFileName);
        if (!File.Exists(path)) throw new FileNotFoundException($"{path} is missing: {folder} is not a PEFT adapter folder.", path);
        var json = HfModelFolder.ReadJsonObject(path);
        try
        {
            return FromJson(json, path);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or JsonException)
        {
            throw new InvalidDataException($"{path}: a field has the wrong type ({IO.UntrustedText.OneLine(e.Message)}).", e);
        }
    }

    private static LoraConfig FromJson(JsonObject j, string path)
    {
        InvalidDataException Bad(string message) => new($"{path}: {message}");
        bool IsSet(string field) => j[field] is { } n && n.GetValueKind() is not (JsonValueKind.Null or JsonValueKind.False)
            && !(n is JsonArray { Count: 0 }) && !(n is JsonObject { Count: 0 });
        string? Str(string field) => j[field] is { } n && n.GetValueKind() != JsonValueKind.Null ? n.GetValue<string>() : null;
        List<string>? StrList(string field) => j[field] is JsonArray a ? a.Select(x => x!.GetValue<string>()).ToList() : null;

        string peftType = Str("peft_type") ?? throw Bad("peft_type is missing (expected \"LORA\").");
        if (peftType != "LORA") throw Bad($"peft_type '{IO.UntrustedText.OneLine(peftType, 40)}' is not supported: only LORA adapters load here.");
        foreach (var (field, what) in new[]
                 {
                     ("use_dora", "DoRA"), ("fan_in_fan_out", "fan_in_fan_out (Conv1D weights)"), ("lora_bias", "lora_bias (a bias on lora_B)"),
                     ("layer_replication", "layer_replication"), ("trainable_token_indices", "trainable_token_indices"),
                     ("target_parameters", "target_parameters"), ("use_qalora", "QALoRA"), ("alora_invocation_tokens", "aLoRA"),
                     ("megatron_config", "Megatron layers"),
                 })
            if (IsSet(field)) throw Bad($"{field} is set: {what} is not supported by this LoRA implementation.");

        int r = j["r"]?.GetValue<int>() ?? 8;
        if (r < 1) throw Bad($"r = {r} must be at least 1.");
        double alpha = j["lora_alpha"]?.GetValue<double>() ?? 8;
        double dropout = j["lora_dropout"]?.GetValue<double>() ?? 0;
        if (!(dropout is >= 0 and < 1)) throw Bad($"lora_dropout = {dropout.ToString(CultureInfo.InvariantCulture)} must be in [0, 1).");
        var bias = (Str("bias") ?? "none") switch
        {
            "none" => LoraBias.None,
            "all" => LoraBias.All,
            "lora_only" => LoraBias.LoraOnly,
            var b => throw Bad($"bias '{IO.UntrustedText.OneLine(b, 40)}' is not one of none, all, lora_only."),
        };

        string? targetRegex = null;
        List<string>? targets = null;
        switch (j["target_modules"])
        {
            case JsonArray: targets = StrList("target_modules"); break;
            case JsonValue v when v.GetValueKind() == JsonValueKind.String:
                string t = v.GetValue<string>();
                if (t == LoraConfig.AllLinear) targets = [LoraConfig.AllLinear];
                else targetRegex = t;
                break;
            default: throw Bad("target_modules is missing: give the module names (e.g. [\"q_proj\", \"v_proj\"]) or \"all-linear\".");
        }
        if (targets is { Count: 0 }) throw Bad("target_modules is empty.");

        string? excludeRegex = null;
        List<string>? exclude = null;
        if (j["exclude_modules"] is JsonArray) exclude = StrList("exclude_modules");
        else excludeRegex = Str("exclude_modules");

        List<int>? layers = j["layers_to_transform"] switch
        {
            JsonArray a => a.Select(x => x!.GetValue<int>()).ToList(),
            JsonValue v when v.GetValueKind() == JsonValueKind.Number => [v.GetValue<int>()],
            _ => null,
        };
        List<string>? layersPattern = j["layers_pattern"] is JsonArray ? StrList("layers_pattern") : Str("layers_pattern") is { } lp ? [lp] : null;

        var rankPattern = new Dictionary<string, int>(StringComparer.Ordinal);
        if (j["rank_pattern"] is JsonObject rp)
            foreach (var (k, v) in rp)
            {
                int pr = v!.GetValue<int>();
                if (pr < 1) throw Bad($"rank_pattern['{IO.UntrustedText.OneLine(k, 80)}'] = {pr} must be at least 1.");
                rankPattern[k] = pr;
            }
        var alphaPattern = new Dictionary<string, double>(StringComparer.Ordinal);
        if (j["alpha_pattern"] is JsonObject ap)
            foreach (var (k, v) in ap) alphaPattern[k] = v!.GetValue<double>();

        return new LoraConfig
        {
            Rank = r,
            Alpha = alpha,
            Dropout = dropout,
            TargetModules = targets,
            TargetRegex = targetRegex,
            ExcludeModules = exclude,
            ExcludeRegex = excludeRegex,
            Bias = bias,
            ModulesToSave = StrList("modules_to_save") ?? [],
            UseRsLora = j["use_rslora"]?.GetValue<bool>() ?? false,
            RankPattern = rankPattern,
            AlphaPattern = alphaPattern,
            LayersToTransform = layers,
            LayersPattern = layersPattern,
            TaskType = Str("task_type"),
            BaseModelNameOrPath = Str("base_model_name_or_path"),
        };
    }

    /// <summary>
    /// Puts the adapter of <paramref name="folder"/> on a model: injects adapters as its config says (its modules_to_save
    /// restricted to modules the model has, plus the model's own <paramref name="headModules"/>), then loads
    /// <c>adapter_model.safetensors</c>. Every tensor must be known and of the right shape, and every adapter tensor present,
    /// before anything is copied.
    /// </summary>
    /// <exception cref="InvalidDataException">One line naming the file and the tensor or field at fault.</exception>
    public static LoraModel Apply(nn.Module root, IReadOnlyList<string> headModules, string folder, int seed = 0)
    {
        var config = ReadConfig(folder);
        string weightsPath = Path.Combine(folder, WeightsFileName);
        if (!File.Exists(weightsPath))
            throw new FileNotFoundException(File.Exists(Path.Combine(folder, "adapter_model.bin"))
                ? $"{weightsPath} is missing: only the safetensors format is read (adapter_model.bin is a pickle; save with safe_serialization=True)."
                : $"{weightsPath} is missing.", weightsPath);
        var modules = root.named_modules().Select(m => m.name).ToHashSet(StringComparer.Ordinal);
        config = config with { ModulesToSave = config.ModulesToSave.Where(modules.Contains).Union(headModules).ToArray() };
        using var file = SafeTensorsFile.Open(weightsPath);

        LoraModel lora;
        try { lora = LoraModel.Attach(root, config, seed); }
        catch (ArgumentException e) { throw new InvalidDataException($"{Path.Combine(folder, ConfigFileName)}: {e.Message}", e); }
        // The adapter is attached now: a bad weights file must not leave half-loaded tensors behind, so everything is checked first.
        var state = root.state_dict();
        var plan = new List<(string Stored, Tensor Target)>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var info in file.Tensors.OrderBy(t => t.Name, StringComparer.Ordinal))
        {
            string key = LoraModel.ModelKey(info.Name);
            if (!state.TryGetValue(key, out var target))
                throw new InvalidDataException(LoraLinear.IsAdapterKey(key)
                    ? $"{weightsPath}: tensor '{info.Name}' belongs to no module that adapter_config.json targets."
                    : $"{weightsPath}: tensor '{info.Name}' names no parameter of the model.");
            if (!info.Shape.SequenceEqual(target.shape))
                throw new InvalidDataException($"{weightsPath}: tensor '{info.Name}' has shape {info.ShapeText}, the model expects {SafeTensorInfo.ShapeToText(target.shape)}.");
            if (!seen.Add(key)) throw new InvalidDataException($"{weightsPath}: tensor '{info.Name}' duplicates another tensor of the same parameter ({key}).");
            plan.Add((info.Name, target));
        }
        foreach (var l in lora.Layers)
            foreach (var part in new[] { LoraLinear.AName, LoraLinear.BName })
            {
                string key = $"{l.Name}.{part}.weight";
                if (!seen.Contains(key))
                    throw new InvalidDataException($"{weightsPath} has no tensor '{LoraModel.KeyPrefix}{key}' although adapter_config.json targets {l.Name}.");
            }
        using (no_grad())
            foreach (var (stored, target) in plan)
            {
                using var source = file.Read(stored);
                target.copy_(source);
            }
        return lora;
    }
}
