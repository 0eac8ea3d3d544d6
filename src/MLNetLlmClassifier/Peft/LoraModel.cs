using System.Runtime.CompilerServices;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetLlmClassifier.Peft;

/// <summary>
/// The LoRA adapters of one model (any TorchSharp module tree: Qwen3, BERT, a sequence-classification Qwen3): the injector that
/// puts a <see cref="LoraLinear"/> on every targeted Linear, the freezing (everything but the adapters, the
/// <see cref="LoraConfig.ModulesToSave"/> heads and the biases of <see cref="LoraConfig.Bias"/> gets requires_grad = false, so
/// the optimizer keeps no state for it), merge-and-unload, and the adapter's tensors under PEFT's saved names.
/// A model carries at most one adapter; <see cref="Of"/> finds it from the root module.
/// </summary>
internal sealed class LoraModel
{
    /// <summary>PEFT's prefix of every saved key (PeftModel.base_model = LoraModel, whose .model is the transformers model).</summary>
    public const string KeyPrefix = "base_model.model.";

    private static readonly ConditionalWeakTable<nn.Module, LoraModel> Attached = new();

    private LoraModel(nn.Module root, LoraConfig config, IReadOnlyList<LoraLinear> layers)
    {
        Root = root;
        Config = config;
        Layers = layers;
    }

    /// <summary>The model's root module.</summary>
    public nn.Module Root { get; }

    /// <summary>The adapter's settings (its <see cref="LoraConfig.TargetModules"/> as given: all-linear stays all-linear).</summary>
    public LoraConfig Config { get; }

    /// <summary>The adapted Linear modules, sorted by name.</summary>
    public IReadOnlyList<LoraLinear> Layers { get; }

    /// <summary>Whether the adapter was merged into the base weights (<see cref="MergeAndUnload"/>).</summary>
    public bool Merged { get; private set; }

    /// <summary>The active (not merged) adapter of a model, or null.</summary>
    public static LoraModel? Of(nn.Module root) => Attached.TryGetValue(root, out var m) && !m.Merged ? m : null;

    /// <summary>
    /// Injects adapters into every Linear of <paramref name="root"/> that <paramref name="config"/> targets (never into the
    /// <see cref="LoraConfig.ModulesToSave"/> heads; with all-linear never into <c>lm_head</c> either), then freezes the rest.
    /// lora_A of each module is drawn in module-name order from a generator seeded with <paramref name="seed"/>.
    /// </summary>
    /// <exception cref="ArgumentException">No Linear module is targeted (the message lists the Linear names there are).</exception>
    public static LoraModel Attach(nn.Module root, LoraConfig config, int seed)
    {
        if (Attached.TryGetValue(root, out _)) throw new InvalidOperationException("The model already carries a LoRA adapter.");
        var linears = root.named_modules().Where(m => m.module is Linear).Select(m => (Name: m.name, Linear: (Linear)m.module))
            .Where(m => !InHead(m.Name, config.ModulesToSave)).OrderBy(m => m.Name, StringComparer.Ordinal).ToList();
        var targets = linears.Where(m => !(config.IsAllLinear && LoraConfig.NameMatches(m.Name, "lm_head")) && config.Targets(m.Name)).ToList();
        if (targets.Count == 0)
            throw new ArgumentException(
                $"Option LoraTargetModules = {Describe(config)} matches no Linear module of the model " +
                $"(its Linear modules end in: {string.Join(", ", linears.Select(m => m.Name[(m.Name.LastIndexOf('.') + 1)..]).Distinct().Order(StringComparer.Ordinal))}).");
        using var generator = new Generator(unchecked((ulong)seed));
        var layers = targets.Select(t =>
        {
            var (r, scaling) = config.RankAndScaling(t.Name);
            return LoraLinear.Attach(t.Name, t.Linear, r, scaling, config.Dropout, generator);
        }).ToList();
        var lora = new LoraModel(root, config, layers);
        lora.SetTrainable();
        Attached.Add(root, lora);
        return lora;
    }

    private static string Describe(LoraConfig c) => c.TargetRegex ?? string.Join(",", c.TargetModules ?? []);

    /// <summary>Whether a module or parameter name lies in one of the head modules.</summary>
    internal static bool InHead(string name, IReadOnlyList<string> heads) =>
        heads.Any(h => name == h || name.StartsWith(h + ".", StringComparison.Ordinal));

    private HashSet<string> AdaptedNames => Layers.Select(l => l.Name).ToHashSet(StringComparer.Ordinal);

    // requires_grad: adapters, heads, and the biases the bias rule names; nothing else.
    private void SetTrainable()
    {
        var adapted = AdaptedNames;
        foreach (var (name, p) in Root.named_parameters())
            p.requires_grad = LoraLinear.IsAdapterKey(name) || InHead(name, Config.ModulesToSave) || TrainsBias(name, adapted);
    }

    private bool TrainsBias(string name, HashSet<string> adapted) =>
        name.EndsWith(".bias", StringComparison.Ordinal) && Config.Bias switch
        {
            LoraBias.All => true,
            LoraBias.LoraOnly => adapted.Contains(name[..^".bias".Length]),
            _ => false,
        };

    /// <summary>
    /// Merge and unload: every adapter is added to its base weight (<c>W += scaling · B A</c> in float32, cast to W's dtype) and stops
    /// taking part in the forward pass; the model then computes what it computed with the adapter, up to rounding, and saves as a
    /// plain Hugging Face model. Irreversible for this model instance.
    /// </summary>
    public void MergeAndUnload()
    {
        foreach (var l in Layers) l.MergeIntoBase();
        Merged = true;
    }

    /// <summary>
    /// The adapter's tensors under the names PEFT's <c>get_peft_model_state_dict</c> saves: <c>base_model.model.{module}.lora_A.weight</c>
    /// and <c>lora_B.weight</c> (no adapter name), the biases of the bias rule (an adapted Linear's bias as
    /// <c>{module}.base_layer.bias</c>, PEFT's name for it), and the whole state of each head as <c>base_model.model.{head}.{key}</c>.
    /// The tensors are the live parameters (do not dispose them), sorted by name.
    /// </summary>
    public IReadOnlyList<KeyValuePair<string, Tensor>> PeftStateDict()
    {
        var adapted = AdaptedNames;
        var result = new List<KeyValuePair<string, Tensor>>();
        foreach (var (name, t) in Root.state_dict())
        {
            string? key = null;
            if (LoraLinear.IsAdapterKey(name) || InHead(name, Config.ModulesToSave)) key = name;
            else if (TrainsBias(name, adapted))
            {
                string module = name[..^".bias".Length];
                key = adapted.Contains(module) ? module + ".base_layer.bias" : name;
            }
            if (key is not null) result.Add(new(KeyPrefix + key, t));
        }
        return result.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToList();
    }

    /// <summary>The model key a saved PEFT key stands for: the prefix and any <c>.base_layer</c> removed.</summary>
    internal static string ModelKey(string peftKey)
    {
        string key = peftKey.StartsWith(KeyPrefix, StringComparison.Ordinal) ? peftKey[KeyPrefix.Length..] : peftKey;
        return key.Replace(".base_layer.", ".", StringComparison.Ordinal);
    }

    /// <summary>Trainable and total parameter counts of a module (elements, not tensors).</summary>
    public static (long Trainable, long Total) CountParameters(nn.Module root)
    {
        long trainable = 0, total = 0;
        foreach (var p in root.parameters())
        {
            long n = p.numel();
            total += n;
            if (p.requires_grad) trainable += n;
        }
        return (trainable, total);
    }
}
